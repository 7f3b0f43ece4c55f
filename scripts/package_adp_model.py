"""Copy a trained ADP run into the package as a shipped model, with its model card.

Usage::

    python scripts/package_adp_model.py work/runs/cartnet --results benchmarks/results/cartnet_adp.json
    python scripts/package_adp_model.py work/runs/harmonic --results benchmarks/results/cartnet_adp_heads.json

A paper-head run (Cholesky) becomes ``cartnet-adp`` (``src/xtalkit/pretrained/cartnet_adp.{pt,md}``),
a harmonic-head run ``harmonic-adp`` (``harmonic_adp.{pt,md}``): the run's model file with its
metadata extended by the test metrics, and the model card. The card's numbers come from the results
file, so rerunning the benchmark and this script regenerates both.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from xtalkit import elements
from xtalkit.io import atomic_write
from xtalkit.models.checkpoint import load_model, save_model

OUT = Path(__file__).resolve().parents[1] / "src" / "xtalkit" / "pretrained"


def card(meta: dict, results: dict, run_name: str, model) -> str:
    c = meta["config"]
    n_params = sum(p.numel() for p in model.parameters())
    seen = sorted(int(z) for z, n in meta["train_element_counts"].items() if n > 0)
    lines = [
        "# cartnet-adp: CartNet for anisotropic displacement parameters",
        "",
        "## Model",
        f"- CartNet (Solé et al., Digital Discovery 4, 694 (2025)), width {c['dim']}, {c['num_layers']} "
        f"CartLayers, K = {c['num_rbf']} radial basis functions, radius graph {c['cutoff']} Å, Cholesky head; "
        f"{n_params / 1e6:.2f} M parameters. Hydrogens are graph nodes; only non-H atoms are predicted.",
        f"- Trained with `xtalkit train cartnet-adp --preset cpu` overrides {_overrides(c)} "
        f"({meta['epochs_run']} epochs, {meta['train_seconds'] / 60:.0f} min on 2 CPU cores); "
        f"the epoch with the lowest validation MAE ({meta['best_val_mae']:.2e} Å²) was kept.",
        f"- SO(3) augmentation: {'on' if c['augment'] else 'off'}. "
        + (
            "Without augmentation the network works in the CIF standard frame of each cell (a along x, "
            "b in the xy plane); `xtalkit adp predict` rotates every input into that frame and the "
            "prediction back, so predictions rotate exactly with the input."
            if not c["augment"]
            else "Predictions are rotated into and out of the CIF standard frame by the predictor."
        ),
        "",
        "## Data",
        f"- {meta['train_structures']} training structures from the AMCSD minerals shipped in the larixite "
        "wheel and the 162 experimental COD structures of the project's test data, filtered as in CartNet §3 "
        "(reports: benchmarks/results/adp_dataset_*.md). Each source has its own grouped train/val/test split "
        "(repeated structures stay on one side); training structures that repeat a held-out structure of the "
        f"other source were removed ({meta['excluded_as_repeats_of_held_out']}).",
        f"- Temperatures {meta['train_temperature_range'][0]:g}-{meta['train_temperature_range'][1]:g} K "
        f"(training mean {meta['temperature_mean']:.0f} K, s.d. {meta['temperature_std']:.0f} K). Most AMCSD "
        "entries record no temperature and were given an assumed 293 K (flagged in the data).",
        f"- Elements seen in training ({len(seen)}): {' '.join(elements.symbol(z) for z in seen)}.",
        "",
        "## Test metrics (held-out test splits)",
        "",
        "| test split | structures | atoms | MAE (Å²) | S12 (%) | IoU (%) | isotropic baseline MAE / IoU |",
        "|---|---|---|---|---|---|---|",
    ]
    for dname, row in results["datasets"].items():
        r = row[run_name]
        b = row["isotropic_baseline"]
        lines.append(
            f"| {dname} | {row['structures']} | {r['atoms']} | {r['mae']:.2e} | {r['s12']:.2f} | {r['iou']:.1f} | "
            f"{b['mae']:.2e} / {b['iou']:.1f} |"
        )
    first = next(iter(results["datasets"].values()))
    ratio = first[run_name].get("median_anisotropy")
    shape = ", ".join(
        f"{d} {row[run_name]['shape_iou']:.1f} % / {row['isotropic_baseline']['shape_iou']:.1f} %"
        for d, row in results["datasets"].items()
        if "shape_iou" in row[run_name]
    )
    lines += [
        "",
        "For scale, the paper's CartNet reaches MAE 2.9e-3 Å², S12 0.75 %, IoU 83.5 % on the CSD test split after "
        "training on 162,000 structures; this model saw about 700.",
        "",
        "## Valid domain",
        "- Ordered crystal structures (occupancy 1, no disorder) of the elements listed above, with "
        "hydrogen positions present where the real structure has H; temperatures within the training range.",
        "- Outside it the predictor still answers but warns: partial occupancy or disorder, elements not seen "
        "in training, temperatures outside the range.",
        "",
        "## Known weaknesses",
        "- Not the default any more: `harmonic-adp` (exactly equivariant harmonic + rigid-body head) beats it "
        "on the molecular and AMCSD test splits in IoU, shape IoU and MAE (benchmarks/results/"
        "cartnet_adp_heads.md). This model stays for comparison with the paper (`--model cartnet-adp`).",
        "- Small training set: predictions capture the size of ellipsoids, not their shape and orientation. "
        "Trained on ~700 structures, the network predicts nearly isotropic ellipsoids"
        + (
            f" (median largest/smallest eigenvalue ratio {ratio:.2f} on the {next(iter(results['datasets']))} "
            "test split, 1.9-2.2 in the data)"
            if ratio is not None
            else ""
        )
        + (
            f"; shape IoU of the prediction rescaled to the true U_eq / of a sphere of that size: {shape}"
            if shape
            else ""
        )
        + ". Its ablation without direction vectors is about as accurate (benchmarks/results/cartnet_adp.md, "
        "README).",
        "- AMCSD temperatures are mostly assumed (293 K), so the temperature dependence is learned mainly from "
        "the COD structures.",
        "- Molecular crystals are a minority of the training data (the COD set); minerals dominate.",
        "- Symmetry: predicted tensors are made consistent with the space group by the predictor; the network "
        "itself is not exactly equivariant (see the rotation check in benchmarks/results/cartnet_adp.md).",
        "",
        "## Reproduce",
        "`python benchmarks/cartnet_adp.py --paper-ablations` (datasets, training runs, metrics), then "
        f"`python scripts/package_adp_model.py work/runs/{run_name} --results benchmarks/results/cartnet_adp.json`.",
    ]
    return "\n".join(lines) + "\n"


def harmonic_card(meta: dict, results: dict, run_name: str, model) -> str:
    """Model card of a harmonic-head run, from the heads benchmark (cartnet_adp_heads.json)."""
    c = meta["config"]
    n_params = sum(p.numel() for p in model.parameters())
    seen = sorted(int(z) for z, n in meta["train_element_counts"].items() if n > 0)
    lines = [
        "# harmonic-adp: an exactly equivariant, physical ADP model",
        "",
        "## Model",
        f"- CartNet backbone without direction inputs (invariant), width {c['dim']}, {c['num_layers']} "
        f"CartLayers, K = {c['num_rbf']} radial basis functions, radius graph {c['cutoff']} Å; "
        f"{n_params / 1e6:.2f} M parameters. Hydrogens are graph nodes; only non-H atoms are predicted.",
        "- Harmonic + rigid-body head (`xtalkit.models.harmonic_head`): per atom a stiffness tensor "
        "K = k0 I + Σ_j k_ij ê_ij ê_ijᵀ and the quantum harmonic oscillator law along its principal axes; "
        "per finite molecule a translation and a libration tensor (Schomaker–Trueblood, S = 0) at a "
        "learned external-mode frequency. Rotation-equivariant and positive definite by construction "
        "(max |U(R·x) − R U(x) Rᵀ| ≤ 1e-5 Å² in float32 is a test); temperature enters only through the "
        "oscillator laws (zero-point motion at low T, U ∝ T at high T).",
        f"- Trained with `xtalkit train cartnet-adp --preset harmonic` overrides {_overrides(c, 'harmonic')} "
        f"({meta['epochs_run'] + 1} epochs, {meta['train_seconds'] / 60:.0f} min on 1 CPU thread); loss "
        f"{c['loss']}; the epoch with the lowest validation {meta.get('monitor', c['monitor'])} was kept.",
        "",
        "## Data",
        f"- {meta['train_structures']} training structures: AMCSD minerals (larixite wheel), the 162 "
        "experimental COD structures and the 63 experimental_more structures of the project's test data, "
        "filtered as in CartNet §3 (reports: benchmarks/results/adp_dataset_*.md), each source with its own "
        "grouped train/val/test split; experimental_more is split 35/15/50 % so that its test half joins the "
        "COD test split in the molecular test split.",
        f"- Temperatures {meta['train_temperature_range'][0]:g}-{meta['train_temperature_range'][1]:g} K. "
        "Most AMCSD entries record no temperature and were given an assumed 293 K.",
        f"- Elements seen in training ({len(seen)}): {' '.join(elements.symbol(z) for z in seen)}.",
        "",
        "## Test metrics (held-out test splits; benchmarks/results/cartnet_adp_heads.md)",
        "",
        "| test split | structures | atoms | MAE (Å²) | IoU (%) | shape IoU (%) | median U_eq ratio "
        "| oracle sphere IoU (%) | paper CartNet IoU / shape IoU (%) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for split, row in results["splits"].items():
        r, o, p = row[run_name], row["oracle_sphere"], row["cartnet_paper"]
        lines.append(
            f"| {split} | {row['structures']} | {r['atoms']} | {r['mae']:.2e} | {r['iou']:.1f} | "
            f"{r['shape_iou']:.1f} | {r['median_ueq_ratio']:.2f} | {o['iou']:.1f} | "
            f"{p['iou']:.1f} / {p['shape_iou']:.1f} |"
        )
    lines += [
        "",
        "The oracle sphere has each atom's true U_eq; its shape IoU is what any sphere scores.",
        "",
        "## Valid domain",
        "- Ordered crystal structures (occupancy 1, no disorder) of the elements listed above, with "
        "hydrogen positions present where the real structure has H. Molecular crystals are where shape is "
        "learned best (rigid-body part); extended structures get the per-atom harmonic part only.",
        "- Outside it the predictor still answers but warns: partial occupancy or disorder, elements not seen "
        "in training, temperatures outside the training range.",
        "",
        "## Known weaknesses",
        "- About 730 training structures; the ellipsoids are less anisotropic than in experiment (median "
        "λmax/λmin below the data's; see the benchmark).",
        "- AMCSD temperatures are mostly assumed (293 K): mineral ellipsoids are under-sized at low T.",
        "- No screw coupling (S) in the rigid-body part; no anharmonicity or disorder.",
        "",
        "## Reproduce",
        f"`python benchmarks/cartnet_adp.py --runs {run_name}`, then "
        f"`python scripts/package_adp_model.py work/runs/{run_name} --results "
        "benchmarks/results/cartnet_adp_heads.json`.",
    ]
    return "\n".join(lines) + "\n"


def _overrides(c: dict, preset: str = "cpu") -> str:
    from xtalkit.training.cartnet_adp import make_config

    base = make_config(preset).as_dict()
    diff = {k: v for k, v in c.items() if base.get(k) != v}
    return ", ".join(f"{k}={v}" for k, v in diff.items()) or "none"


def _fill_training_summary(meta: dict) -> dict:
    """Add the training-set element counts and temperature range to metadata of runs that predate them."""
    if "train_element_counts" in meta and "train_temperature_range" in meta:
        return meta
    from xtalkit.data.graphs import ADPGraphDataset
    from xtalkit.data.store import ADPStore
    from xtalkit.training.cartnet_adp import leaking_training_ids, training_element_counts

    data = [Path(d) for d in meta["data"]]
    train_set = ADPGraphDataset([ADPStore(d, "train") for d in data], exclude=leaking_training_ids(data))
    if len(train_set) != meta["train_structures"]:
        raise SystemExit(
            f"training set now has {len(train_set)} structures, the run had {meta['train_structures']}"
        )
    temps = train_set.temperatures()
    return {
        **meta,
        "train_element_counts": training_element_counts(train_set),
        "train_temperature_range": [float(temps.min()), float(temps.max())],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--results", type=Path, required=True)
    parser.add_argument(
        "--name", default=None, help="run name in the results file (default: run directory name)"
    )
    args = parser.parse_args()
    model, meta = load_model(args.run / "model.pt")
    results = json.loads(args.results.read_text())
    run_name = args.name or args.run.name
    meta = _fill_training_summary(meta)
    harmonic = model.head_kind == "harmonic"
    name, stem = ("harmonic-adp", "harmonic_adp") if harmonic else ("cartnet-adp", "cartnet_adp")
    rows = results["splits" if harmonic else "datasets"]
    keys = (
        ("mae", "s12", "iou", "shape_iou", "median_ueq_ratio", "atoms")
        if harmonic
        else ("mae", "s12", "iou", "atoms")
    )
    meta = {**meta, "shipped_as": name, "test_metrics": {
        d: {k: row[run_name][k] for k in keys} for d, row in rows.items()
    }}  # fmt: skip
    save_model(OUT / f"{stem}.pt", model, metadata=meta)
    write_card = harmonic_card if harmonic else card
    atomic_write(OUT / f"{stem}.md", write_card(meta, results, run_name, model))
    print(f"wrote {OUT / f'{stem}.pt'} and {OUT / f'{stem}.md'}")


if __name__ == "__main__":
    main()
