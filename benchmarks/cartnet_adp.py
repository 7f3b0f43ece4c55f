"""CartNet on real experimental ADPs: the ADP heads, ablations and baselines on held-out tests.

Default: the ADP-head benchmark. Builds three datasets (AMCSD, the shared COD set,
the shared experimental_more set, each with its own grouped split), trains the
runs of the exactly equivariant harmonic head (``HARMONIC_RUNS``, preset
``harmonic``) on their training splits and scores them, the shipped paper
CartNet (``cartnet-adp``), an oracle sphere with the true U_eq and the
isotropic per-element baseline on two test splits: AMCSD, and the molecular
split (COD test + experimental_more test). Writes
benchmarks/results/cartnet_adp_heads.{json,md}. ``--runs a b`` limits the
runs; ``--only NAME`` trains one run and stops (to train two side by side with
``--threads 1`` each).

``--paper-ablations``: the earlier benchmark of the paper's CartNet and its
ablations (writes benchmarks/results/cartnet_adp.{json,md}). Steps (each
skipped when its output already exists, so the script resumes):

1. build the ADP datasets with the default filters: AMCSD (from the larixite
   wheel) and the shared experimental COD set, each with its own grouped
   train/val/test split, into ``--work/datasets``;
2. train CartNet (``--preset``, default ``cpu``) on both training splits;
3. train the same network without direction vectors (ablation 4 of Table 5);
4. fit the isotropic per-element, temperature-binned baseline on the training splits;
5. score all three on each test split (MAE Å², S12 %, IoU %, volume error),
   run the rotation check of §6.5 on CartNet, and measure the effect of
   averaging predictions over K rotations.

Writes benchmarks/results/cartnet_adp.{json,md}.

Usage::

    python benchmarks/cartnet_adp.py [--work work] [--runs harmonic ...] [--threads 2]
    python benchmarks/cartnet_adp.py --paper-ablations [--preset cpu] [--epochs 60]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from xtalkit.adp.baselines import IsotropicElementBaseline, scored_atoms
from xtalkit.adp.evaluate import evaluate, rotation_check, score
from xtalkit.data.graphs import ADPGraphDataset
from xtalkit.data.store import ADPStore
from xtalkit.io import atomic_write
from xtalkit.pretrained import load
from xtalkit.training.cartnet_adp import leaking_training_ids, make_config, train

ROOT = Path(__file__).resolve().parents[1]

#: Training runs: CartNet as in the paper (SO(3) augmentation) and without it, each with its
#: ablation 4 (no direction vectors) trained the same way.
RUNS = {
    "cartnet": {},
    "no_direction": {"direction": False},
    "noaug": {"augment": False},
    "noaug_nodir": {"augment": False, "direction": False},
}
#: Runs of the exactly equivariant harmonic head (preset ``harmonic``: L1 loss), trained on AMCSD, COD
#: and the experimental_more set; ``harmonic_control`` sees no directions (its ellipsoids are spheres).
SIZE_SHAPE = {"loss": "size_shape", "monitor": "val_loss"}
HARMONIC_RUNS = {
    "harmonic": SIZE_SHAPE,
    "harmonic_l1": {},  # the preset: the shipped harmonic-adp
    "harmonic_no_rigid": {"rigid_body": False},
    "harmonic_control": {"head_directions": False},
    "harmonic_seed1": {**SIZE_SHAPE, "seed": 1},
    "harmonic_l1_seed1": {"seed": 1},
}
SHARED_EXPERIMENTAL = ROOT.parent / "shared" / "data" / "adp" / "experimental"
SHARED_MORE = ROOT.parent / "shared" / "data" / "adp" / "experimental_more"
#: train/val/test fractions of experimental_more: half of it joins the COD test split in the
#: molecular test split (COD test + experimental_more test, 41 structures).
MORE_FRACTIONS = (0.35, 0.15, 0.5)


def build_datasets(work: Path) -> dict[str, Path]:
    from xtalkit.data.adp_build import build

    out = {name: work / "datasets" / name for name in ("amcsd", "cod", "more")}
    sources = {"amcsd": ["amcsd"], "cod": [str(SHARED_EXPERIMENTAL)], "more": [str(SHARED_MORE)]}
    fractions = {"more": MORE_FRACTIONS}
    for name, path in out.items():
        if not (path / "report.json").is_file():
            t = time.time()
            build(sources[name], path, workers=2, fractions=fractions.get(name, (0.8, 0.1, 0.1)))
            print(f"built {name} in {time.time() - t:.0f} s")
        atomic_write(
            ROOT / "benchmarks" / "results" / f"adp_dataset_{name}.md", (path / "report.md").read_text()
        )
    return out


def train_run(name: str, work: Path, data: list[Path], preset: str, overrides: dict) -> Path:
    run = work / "runs" / name
    if (run / "model.pt").is_file():
        return run
    config = make_config(preset, **overrides)
    resume = (run / "checkpoints" / "last.ckpt").is_file()
    t = time.time()
    train(config, data, run, resume=resume, progress=False)
    print(f"trained {name} in {(time.time() - t) / 60:.1f} min")
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=ROOT / "work")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rotations", type=int, default=10, help="rotation check: rotations per structure")
    parser.add_argument("--tta", type=int, default=8, help="K for rotation-averaged predictions")
    parser.add_argument(
        "--only",
        choices=list(RUNS) + list(HARMONIC_RUNS),
        default=None,
        help="train this run only, then stop",
    )
    parser.add_argument("--skip-training", action="store_true", help="evaluate only the runs that exist")
    parser.add_argument("--paper-ablations", action="store_true", help="the paper-model ablation benchmark")
    parser.add_argument("--runs", nargs="+", choices=list(HARMONIC_RUNS), default=list(HARMONIC_RUNS))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    datasets = build_datasets(args.work)
    data = [datasets["amcsd"], datasets["cod"]]
    data_more = [*data, datasets["more"]]
    if args.only in HARMONIC_RUNS:
        overrides = {"epochs": args.epochs, **HARMONIC_RUNS[args.only]}
        train_run(args.only, args.work, data_more, "harmonic", overrides)
        return
    if args.only:
        train_run(args.only, args.work, data, args.preset, {"epochs": args.epochs, **RUNS[args.only]})
        return
    if not args.paper_ablations:
        heads_benchmark(args, datasets, data_more)
        return
    runs = {}
    for name, overrides in RUNS.items():
        if args.skip_training and not (args.work / "runs" / name / "model.pt").is_file():
            continue
        runs[name] = train_run(name, args.work, data, args.preset, {"epochs": args.epochs, **overrides})

    leaks = leaking_training_ids(data)
    train_set = ADPGraphDataset([ADPStore(d, "train") for d in data], exclude=leaks)
    baseline = IsotropicElementBaseline().fit(*scored_atoms(train_set))

    results: dict = {"datasets": {}, "runs": {}}
    for name, run in runs.items():
        meta = load(run, task="adp").metadata
        keys = ("config", "train_structures", "best_val_mae", "epochs_run", "train_seconds")
        results["runs"][name] = {k: meta.get(k) for k in keys}
    for dname, path in datasets.items():
        test = ADPGraphDataset([ADPStore(path, "test")])
        row: dict = {"structures": len(test)}
        z, t, U = scored_atoms(test)
        row["isotropic_baseline"] = score(baseline.predict(z, t), U)
        for name, run in runs.items():
            loaded = load(run, task="adp")
            model, meta = loaded.model, loaded.metadata
            ds = ADPGraphDataset([ADPStore(path, "test")], hydrogens=model.hydrogens)
            row[name] = evaluate(model, ds)
            if meta["config"]["direction"]:
                row[f"{name}_rotation_check"] = rotation_check(model, ds, rotations=args.rotations)
                row[f"{name}_averaged_{args.tta}_rotations"] = evaluate(model, ds, average_rotations=args.tta)
                row[f"{name}_averaged_{args.tta}_rotation_check"] = rotation_check(
                    model, ds, rotations=max(2, args.rotations // 4), average_rotations=args.tta
                )
        results["datasets"][dname] = row
    atomic_write(args.out / "cartnet_adp.json", json.dumps(results, indent=1))
    text = format_results(results, args.tta)
    atomic_write(args.out / "cartnet_adp.md", text)
    print(text)


def heads_benchmark(args, datasets: dict[str, Path], data: list[Path]) -> None:
    """Train and score the harmonic-head runs against the references (module docstring)."""
    from xtalkit.adp.evaluate import bonded_scored_pairs, predict_batch
    from xtalkit.adp.predict import overall_scale
    from xtalkit.crystal.adp import u_equiv
    from xtalkit.data.graphs import collate

    runs = {}
    for name in args.runs:
        if args.skip_training and not (args.work / "runs" / name / "model.pt").is_file():
            continue
        runs[name] = train_run(
            name, args.work, data, "harmonic", {"epochs": args.epochs, **HARMONIC_RUNS[name]}
        )
    leaks = leaking_training_ids(data)
    train_set = ADPGraphDataset([ADPStore(d, "train") for d in data], exclude=leaks)
    baseline = IsotropicElementBaseline().fit(*scored_atoms(train_set))
    models = {"cartnet_paper": load("cartnet-adp", task="adp")}
    models.update({name: load(run, task="adp") for name, run in runs.items()})
    models = {name: (m.model, m.metadata) for name, m in models.items()}
    splits = {  # the validation split chooses the shipped run; the test splits report
        "molecular_val": [ADPStore(datasets["cod"], "val"), ADPStore(datasets["more"], "val")],
        "molecular": [ADPStore(datasets["cod"], "test"), ADPStore(datasets["more"], "test")],
        "amcsd": [ADPStore(datasets["amcsd"], "test")],
    }
    results: dict = {"splits": {}, "runs": {}}
    for name, (_, meta) in models.items():
        keys = ("config", "train_structures", "best_val_loss", "best_val_mae", "epochs_run", "train_seconds")
        results["runs"][name] = {k: meta.get(k) for k in keys}
    for split, stores in splits.items():
        test = ADPGraphDataset(stores)
        graphs = [test[i] for i in range(len(test))]
        batch = collate(graphs)
        true = batch.target[batch.scored].double().numpy()
        owner = batch.batch[batch.scored].numpy()
        temps = batch.temperature.double().numpy()
        bonds = bonded_scored_pairs(batch)
        extra = {"temperatures": temps, "bonds": bonds}
        row: dict = {"structures": len(test)}
        sphere = u_equiv(true)[:, None, None] * np.eye(3)
        row["oracle_sphere"] = score(sphere, true, owner, batch.ids, **extra)
        z, t, _ = scored_atoms(test)
        row["isotropic_baseline"] = score(baseline.predict(z, t), true, owner, batch.ids, **extra)
        for name, (model, _) in models.items():
            ds = ADPGraphDataset(stores, hydrogens=model.hydrogens)
            row[name] = evaluate(model, ds)
            if name in SCALED:  # one number per structure from experiment: its mean displacement level
                pred = predict_batch(model, collate([ds[i] for i in range(len(ds))])).numpy()
                for k in range(batch.n_graphs):
                    pred[owner == k] *= overall_scale(pred[owner == k], true[owner == k])
                row[f"{name}_scaled"] = score(pred, true, owner, batch.ids, **extra)
        results["splits"][split] = row
    atomic_write(args.out / "cartnet_adp_heads.json", json.dumps(results, indent=1))
    text = format_heads(results)
    atomic_write(args.out / "cartnet_adp_heads.md", text)
    print(text)


#: Models also scored with each structure's predictions rescaled to the experiment's mean U_eq
#: (``xtalkit adp predict --scale-to-input``).
SCALED = ("cartnet_paper", "harmonic_l1")

HEAD_LABELS = {
    "oracle_sphere": "sphere with the true U_eq (oracle)",
    "isotropic_baseline": "isotropic per-element mean (T-binned)",
    "cartnet_paper": "CartNet, paper's Cholesky head (shipped `cartnet-adp`)",
    "harmonic_l1": "**harmonic + rigid-body head, L1 loss (shipped `harmonic-adp`)**",
    "harmonic_l1_seed1": "same, seed 1",
    "harmonic": "harmonic + rigid-body head, size/shape loss",
    "harmonic_seed1": "same, seed 1",
    "harmonic_no_rigid": "harmonic head without the rigid-body part (L1)",
    "harmonic_control": "harmonic + rigid-body head, no directions (control, L1)",
    "cartnet_paper_scaled": "paper CartNet, scaled per structure to the experiment's mean U_eq",
    "harmonic_l1_scaled": "`harmonic-adp`, scaled per structure to the experiment's mean U_eq",
}


def format_heads(results: dict) -> str:
    lines = ["# ADP heads on held-out experimental structures", ""]
    for name, r in results["runs"].items():
        c = r["config"]
        if name == "cartnet_paper":
            lines.append(
                f"- `{name}`: the shipped model (width {c['dim']}, {r['epochs_run']} epochs, AMCSD + COD)"
            )
            continue
        lines.append(
            f"- `{name}`: head {c['head']}, width {c['dim']}, {c['num_layers']} layers, loss {c['loss']}, "
            f"rigid body {c['rigid_body']}, directions {c['head_directions']}, seed {c['seed']}; "
            f"{r['epochs_run'] + 1} epochs, {r['train_structures']} training structures, "
            f"{r['train_seconds'] / 60:.0f} min"
        )
    for split, row in results["splits"].items():
        first = row["oracle_sphere"]
        lines += [
            "",
            f"## {split} test split ({row['structures']} structures, {first['atoms']} atoms, "
            f"{first['bonds']} bonds between non-H atoms)",
            "",
            "| model | MAE (Å²) | S12 (%) | IoU (%) | shape IoU (%) | median U_eq ratio "
            "| U_eq ratio by T third | median λmax/λmin | rigid-bond Δ (Å²) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for key, label in HEAD_LABELS.items():
            if key not in row:
                continue
            r = row[key]
            thirds = " / ".join(f"{b['median_ueq_ratio']:.2f}" for b in r["ueq_ratio_by_temperature"])
            lines.append(
                f"| {label} | {r['mae']:.2e} | {r['s12']:.2f} | {r['iou']:.1f} | {r['shape_iou']:.1f} | "
                f"{r['median_ueq_ratio']:.2f} | {thirds} | {r['median_anisotropy']:.2f} | "
                f"{r['rigid_bond_delta']:.4f} |"
            )
        bins = ", ".join(f"{b['t_min']:g}–{b['t_max']:g} K" for b in first["ueq_ratio_by_temperature"])
        lines += [
            "",
            f"Experiment: median λmax/λmin {first['median_anisotropy_true']:.2f}, median rigid-bond Δ "
            f"{first['rigid_bond_delta_true']:.4f} Å². Temperature thirds (by structure): {bins}.",
        ]
    return "\n".join(lines) + "\n"


def format_results(results: dict, tta: int) -> str:
    lines = ["# CartNet on experimental ADPs (held-out test splits)", ""]
    for name, r in results["runs"].items():
        c = r["config"]
        lines.append(
            f"- run `{name}`: width {c['dim']}, {c['num_layers']} layers, {r['epochs_run']} epochs, batch "
            f"{c['batch_size']}×{c['accumulate']}, lr {c['lr']}, SO(3) augmentation {c['augment']}, "
            f"direction vectors {c['direction']}; {r['train_structures']} training structures, "
            f"{r['train_seconds'] / 60:.0f} min, best validation MAE {r['best_val_mae']:.2e} Å²"
        )
    for dname, row in results["datasets"].items():
        first = next(k for k in results["runs"] if k in row)
        lines += [
            "",
            f"## {dname} test split ({row['structures']} structures, {row[first]['atoms']} atoms)",
            "",
            "| model | MAE (Å²) | S12 (%) | IoU (%) | volume error (%) | U_eq MAE (Å²) | shape IoU (%) "
            "| median λmax/λmin |",
            "|---|---|---|---|---|---|---|---|",
        ]
        entries = [("isotropic_baseline", "isotropic per-element mean (T-binned)")]
        for name, r in results["runs"].items():
            c = r["config"]
            label = "CartNet" + ("" if c["augment"] else " without SO(3) augmentation")
            if not c["direction"]:
                label += ", no direction vectors (ablation 4)"
            entries.append((name, f"`{name}`: {label}"))
            entries.append((f"{name}_averaged_{tta}_rotations", f"`{name}` averaged over {tta} rotations"))
        for key, label in entries:
            if key in row:
                r = row[key]
                lines.append(
                    f"| {label} | {r['mae']:.2e} | {r['s12']:.2f} | {r['iou']:.1f} | "
                    f"{100 * r['volume_relative_error']:.1f} | {r['ueq_mae']:.2e} | {r['shape_iou']:.1f} | "
                    f"{r['median_anisotropy']:.2f} |"
                )
        lines += [
            "",
            f"Targets: median λmax/λmin {row['isotropic_baseline']['median_anisotropy_true']:.2f}. Shape IoU "
            "rescales each prediction to the true U_eq, so it shows orientation and shape alone; an "
            "isotropic prediction scores there what the isotropic baseline row shows.",
        ]
        for name in results["runs"]:
            if f"{name}_rotation_check" not in row:
                continue
            rc = row[f"{name}_rotation_check"]
            rt = row[f"{name}_averaged_{tta}_rotation_check"]
            lines += [
                "",
                f"Rotation check (§6.5) of `{name}`: U(R·x) against R·U(x)·Rᵀ over {rc['rotations']} random "
                f"rotations: MAE {rc['mae']:.2e} Å², S12 {rc['s12']:.3f} %, IoU {rc['iou']:.1f} %. "
                f"With {tta}-rotation averaging: MAE {rt['mae']:.2e} Å², S12 {rt['s12']:.3f} %, "
                f"IoU {rt['iou']:.1f} %.",
            ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
