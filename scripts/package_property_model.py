r"""Copy a trained property run into the package as a shipped model, with its model card.

Usage::

    python scripts/package_property_model.py work/properties/runs/formation-energy/cartnet_cpu_n3000_vall_e30_s0 \\
        --name formation-energy [--results benchmarks/results/properties.json]

Writes ``src/xtalkit/pretrained/<name>.pt`` (the run's ``model.pt``; its metadata
— ``task="property"``, target, units, featurizer parameters, configuration,
training element counts, which :class:`xtalkit.property.PropertyPredictor`
needs — is kept and extended with ``shipped_as`` and the benchmark's test and
WBM metrics) and ``<name>.md`` (the card). The card's numbers come from the run
metadata and the benchmark results file, so rerunning the benchmark and this
script regenerates both. Once the ``.pt`` exists, :mod:`xtalkit.pretrained`
registers the name.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from xtalkit import elements
from xtalkit.io import atomic_write
from xtalkit.models.checkpoint import load_model, save_model

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "xtalkit" / "pretrained"

#: Shipped name -> (benchmark task, target column, units, what it is).
SHIPPED = {
    "formation-energy": (
        "formation-energy",
        "formation_energy_per_atom",
        "eV/atom",
        "formation energy per atom",
    ),
    "band-gap": ("band-gap", "band_gap", "eV", "PBE band gap"),
}
MODEL_NAMES = {"cartnet": "CartNet", "sitenet": "Site-Net"}
#: CartNet's published test MAE (Table 2, Materials Project 2018.6.1), for the card's scale.
PUBLISHED = {"formation-energy": 0.01747, "band-gap": 0.19079}


def find_row(results: dict, task: str, run: Path) -> tuple[str, dict] | tuple[None, None]:
    """The benchmark row (model key, record) of a run directory, or (None, None)."""
    rows = results.get("tasks", {}).get(task, {}).get("rows", {})
    for key, rec in rows.items():
        if rec.get("run_dir") and Path(rec["run_dir"]).resolve() == run.resolve():
            return key, rec
    return None, None


def _fmt(x, digits: int = 4) -> str:
    return "not measured" if x is None else f"{x:.{digits}g}"


def _model_line(meta: dict, n_params: int) -> str:
    c = meta["config"]
    if meta["model"] == "cartnet":
        return (
            f"CartNet (Solé et al., Digital Discovery 4, 694 (2025)) with the scalar head of its SI eq. 4: width "
            f"{c['dim']}, {c['num_layers']} CartLayers, K = {c['num_rbf']} radial basis functions, radius graph "
            f"{c['cutoff']} Å; {n_params / 1e3:.0f} k parameters. Batch {c['batch_size']}, Adam with OneCycle "
            f"(peak {c['lr']:g}), L1 loss on standardized targets."
        )
    cut = c.get("distance_cutoff")
    return (
        f"Site-Net (Moran et al., Digital Discovery 2, 1297 (2023)): supercells of N = {c['max_atoms']} atoms, "
        f"{c['blocks']} attention blocks × {c['heads']} heads, site width {c['heads'] * c['site_dim_per_head']}, "
        f"interaction width {c['heads'] * c['interaction_dim_per_head']}"
        + (f", attention limited to {cut} Å" if cut else ", global attention")
        + f"; {n_params / 1e3:.0f} k parameters. AdamW (lr {c['lr']:g}), batches of ≤ {c['max_sites']} unique "
        f"sites, L1 loss on standardized targets"
        + ("; predictions clamped at 0 (straight-through)." if meta.get("clamp_output") else ".")
    )


def card(name: str, meta: dict, model, row_key: str | None, row: dict | None, results: dict | None) -> str:
    """The Markdown model card of a shipped property model."""
    task, _target, units, what = SHIPPED[name]
    c = meta["config"]
    n_params = sum(p.numel() for p in model.parameters())
    split = meta["split"]
    sizes = split["sizes"]
    sub = split.get("subsample") or {}
    avail = sub.get("available") or {}
    seen = sorted(int(z) for z, n in meta.get("train_element_counts", {}).items() if n > 0)
    settings = (results or {}).get("settings", {})
    test_mae = row["test_mae"] if row else meta.get("test_mae")
    test_rmse = row.get("test_rmse") if row else meta.get("test_rmse")
    n_test = row["n_test"] if row else sizes["test"]
    wbm = row.get("wbm_mae") if row else None
    lines = [
        f"# {name}: {MODEL_NAMES[meta['model']]} for the {what} ({units})",
        "",
        "## Model",
        f"- {_model_line(meta, n_params)}",
        f"- Trained with `xtalkit.training.property` (preset `{settings.get('preset', '?')}`), "
        f"{meta['epochs_run']} of {c['epochs']} epochs in {meta['train_seconds'] / 60:.1f} min "
        f"({meta.get('devices', 1)} device, torch {meta.get('torch', '?')}); the epoch with the lowest "
        f"validation MAE ({_fmt(meta.get('best_val_mae'))} {units}) was kept.",
        f"- Predicts `{meta['target']}` in {units} from an ordered crystal structure: "
        f"`xtalkit property predict STRUCTURE.cif --model {name} -o predictions.csv` or "
        f"`xtalkit.property.PropertyPredictor('{name}')`.",
        "",
        "## Data",
        f"- `mp.csv.gz` of the project's shared data (Materials Project structures of MP-20 and MPTS-52, "
        f"1–52 sites, PBE(+U) relaxed; CC-BY-4.0): target `{meta['target']}` ({units}).",
        "- Split by `formula_fold`, a hash of the reduced formula: folds 0–6 training, 7 validation, 8 test, "
        "so no formula is in two splits.",
        f"- Training structures: {sizes['train']}"
        + (
            f" (a seeded subsample of {avail['train']}, seed {sub.get('seed')})"
            if avail.get("train") and avail["train"] != sizes["train"]
            else ""
        )
        + f"; validation {sizes['val']}"
        + (f" of {avail['val']}" if avail.get("val") and avail["val"] != sizes["val"] else "")
        + f"; rows left out as unreadable or without a target: {meta.get('skipped_rows', 0)}.",
        f"- Training target mean {meta['target_mean']:.3f} {units}, standard deviation "
        f"{meta['target_std']:.3f} {units}.",
        f"- Elements seen in training ({len(seen)}): {' '.join(elements.symbol(z) for z in seen)}.",
        "",
        "## Metrics",
        "",
        "| test set | structures | MAE | RMSE |",
        "|---|---|---|---|",
        f"| `mp.csv.gz` fold 8 (held-out formulas) | {n_test} | {_fmt(test_mae)} {units} "
        f"| {_fmt(test_rmse)} {units} |",
    ]
    if wbm is not None:
        lines.append(
            f"| `wbm_10k.csv.gz` (WBM, out of distribution) | {row['wbm_n']} | {_fmt(wbm)} {units} "
            f"| {_fmt(row.get('wbm_rmse'))} {units} |"
        )
    baselines = (results or {}).get("tasks", {}).get(task, {}).get("rows", {})
    for key, label in (("composition", "composition-only gradient boosting"), ("mean", "training mean")):
        b = baselines.get(key)
        if b:
            extra = f", WBM {_fmt(b.get('wbm_mae'))}" if b.get("wbm_mae") is not None else ""
            lines.append(f"\nSame split, {label}: test MAE {_fmt(b['test_mae'])} {units}{extra}.")
    refs = {"formation-energy": "CartNet 0.0175 eV/atom (MP 2018.6.1, 60 000 training structures, 500 epochs); "
            "Site-Net 0.034 eV/atom (Matbench mp_e_form)",
            "band-gap": "CartNet 0.191 eV (MP 2018.6.1, 500 epochs); Site-Net 0.234 eV (Matbench mp_gap, "
            "84 890 training structures, ~500 epochs)"}  # fmt: skip
    lines += [
        "",
        f"For scale, the papers report {refs[task]}, with random splits (polymorphs of a test formula can be "
        "in training) and full-size networks trained on GPUs; this model saw far fewer structures and epochs.",
        "",
        "## Valid domain",
        "- Ordered inorganic crystals (occupancy 1) like those of the Materials Project: DFT-relaxed "
        "structures of up to about 52 sites per cell, made of the elements listed above.",
        "- The predictor warns about elements absent from the training data and refuses structures with "
        "partial occupancies.",
        "",
        "## Known weaknesses",
        f"- Trained on {sizes['train']} structures for {meta['epochs_run']} epochs"
        + (
            f": the test MAE is {test_mae / PUBLISHED[task]:.1f}× CartNet's published {PUBLISHED[task]} {units} "
            "(full data, 500 epochs, random split)"
            if test_mae
            else ""
        )
        + "; errors are largest for elements and chemistries rare in the training data.",
        "- Structures should be relaxed at the level of the training data (PBE); experimental or unrelaxed "
        "structures shift the predictions.",
        "- WBM structures (element substitutions into known prototypes, many far from the convex hull) are a "
        "different distribution than MP's; the WBM row of the metrics table shows how the model transfers "
        "beyond the training distribution"
        + ("" if wbm is not None else " (not measured for this model)")
        + ".",
    ]
    if task == "band-gap":
        lines.append(
            "- PBE band gaps underestimate measured gaps (often by 30–50 %). Many training structures are "
            "metals with a gap of exactly 0; the split between metals and small-gap semiconductors is not "
            "scored separately, so treat predictions below a few tenths of an eV as 'metal or nearly'. "
            + (
                "Predictions are clamped at 0 (Site-Net §3)."
                if meta.get("clamp_output")
                else "Predictions are not clamped and can be slightly negative."
            )
        )
    else:
        lines.append(
            "- Formation energies are the Materials Project's (with its mixing corrections); they are not "
            "energies above the convex hull and say nothing about stability on their own."
        )
    bench = ["python benchmarks/properties.py"]
    for opt in ("max_train", "max_val", "max_test", "max_wbm", "epochs", "preset", "seed"):
        if settings.get(opt) is not None:
            bench.append(f"--{opt.replace('_', '-')} {settings[opt]}")
    bench.append(f"--tasks {task}")
    if row_key:
        bench.append(f"--models {row_key} composition mean")
    lines += [
        "",
        "## Reproduce",
        f"`{' '.join(bench)}`, then "
        f"`python scripts/package_property_model.py {_rel(meta.get('run_dir'))} --name {name}`.",
    ]
    return "\n".join(lines) + "\n"


def _rel(path) -> str:
    if not path:
        return "RUN_DIR"
    p = Path(path)
    try:
        return str(p.resolve().relative_to(ROOT))
    except ValueError:
        return str(p)


def main(argv: list[str] | None = None) -> Path:
    """Package a run (module docstring); returns the model file written."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="training run directory (holds model.pt)")
    parser.add_argument("--name", required=True, choices=list(SHIPPED))
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "properties.json")
    parser.add_argument(
        "--out", type=Path, default=OUT, help="package directory (default: src/xtalkit/pretrained)"
    )
    args = parser.parse_args(argv)
    task, target, units, _ = SHIPPED[args.name]
    model, meta = load_model(args.run / "model.pt")
    if meta.get("task") != "property":
        raise SystemExit(f"{args.run}: not a property model (task {meta.get('task')!r})")
    if meta.get("target") != target or meta.get("units") != units:
        raise SystemExit(
            f"{args.run}: trained on {meta.get('target')!r} ({meta.get('units')!r}); "
            f"{args.name} needs {target!r} ({units})"
        )
    for key in ("featurizer", "config", "train_element_counts"):
        if not meta.get(key):
            raise SystemExit(f"{args.run}: model metadata lacks {key!r} (the predictor needs it)")
    results = json.loads(args.results.read_text()) if args.results.is_file() else None
    row_key, row = find_row(results or {}, task, args.run)
    if row is None:
        print(f"no row for {args.run} in {args.results}: the card uses the run's own test metrics, no WBM")
    meta = {**meta, "run_dir": str(args.run), "shipped_as": args.name}
    if row is not None:
        meta["benchmark"] = {k: row.get(k) for k in (
            "n_test", "test_mae", "test_rmse", "wbm_n", "wbm_mae", "wbm_rmse")}  # fmt: skip
        meta["benchmark_settings"] = results.get("settings", {})
    pt = save_model(args.out / f"{args.name}.pt", model, metadata=meta)
    atomic_write(args.out / f"{args.name}.md", card(args.name, meta, model, row_key, row, results))
    print(f"wrote {pt} and {args.out / f'{args.name}.md'}")
    return pt


if __name__ == "__main__":
    main()
