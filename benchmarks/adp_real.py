"""ADP prediction on held-out experimental structures: shipped CartNet vs phonons vs isotropic baseline.

On the test splits of the ADP datasets (AMCSD minerals and the shared COD
set, built by benchmarks/cartnet_adp.py into --work/datasets):

(a) the shipped CartNet (``cartnet-adp``), on every test structure;
(b) harmonic phonons with CHGNet forces (``xtalkit adp compute``: positions
    relaxed at fixed cell, supercell edges ≥ 10 Å, Γ-centred q-mesh), on the
    test structures with at most --max-atoms atoms per cell, since its cost
    grows quickly with the cell;
(c) the isotropic per-element, temperature-binned mean fitted on the training splits.

Reports MAE (Å²), S12 (%), IoU (%), volume error and seconds per structure on
this machine; CartNet and the baseline are also reported on exactly the
subset the phonon method covered, so the three can be compared on equal
ground. Writes benchmarks/results/adp_real.{json,md}.

Usage::

    python benchmarks/adp_real.py [--work work] [--max-atoms 60] [--phonon-limit 40]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from xtalkit.adp.baselines import IsotropicElementBaseline, scored_atoms
from xtalkit.adp.evaluate import score
from xtalkit.adp.phonon import phonon_adps
from xtalkit.adp.predict import ADPPredictor
from xtalkit.data.graphs import ADPGraphDataset
from xtalkit.data.store import ADPStore
from xtalkit.errors import XtalkitError
from xtalkit.io import atomic_write

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=ROOT / "work")
    parser.add_argument("--model", default="cartnet-adp")
    parser.add_argument("--max-atoms", type=int, default=60, help="phonons only for cells up to this size")
    parser.add_argument(
        "--phonon-limit", type=int, default=40, help="at most this many phonon structures per dataset"
    )
    parser.add_argument("--max-supercell-atoms", type=int, default=400)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    datasets = {"amcsd": args.work / "datasets" / "amcsd", "cod": args.work / "datasets" / "cod"}
    for name, d in datasets.items():
        if not (d / "manifest.json").is_file():
            raise SystemExit(f"{d}: dataset missing; run benchmarks/cartnet_adp.py first ({name})")
    predictor = ADPPredictor(args.model)
    train = ADPGraphDataset([ADPStore(d, "train") for d in datasets.values()])
    baseline = IsotropicElementBaseline().fit(*scored_atoms(train))

    results: dict = {"model": args.model, "max_atoms_for_phonons": args.max_atoms, "datasets": {}}
    for name, d in datasets.items():
        store = ADPStore(d, "test")
        per = {"cartnet": ([], [], []), "baseline": ([], [], []), "phonon": ([], [], [])}
        sub = {"cartnet": ([], []), "baseline": ([], [])}  # on the phonon subset
        times = {"cartnet": [], "baseline": [], "phonon": []}
        skipped, failed, n_ph = [], [], 0
        for sample in store:
            c = sample.to_crystal()
            m = sample.scored
            true = sample.U[m]
            t = time.perf_counter()
            pc = predictor.predict(c, sample.temperature).crystal.U_cart[m]
            times["cartnet"].append(time.perf_counter() - t)
            t = time.perf_counter()
            pb = baseline.predict(sample.numbers[m], np.full(int(m.sum()), sample.temperature))
            times["baseline"].append(time.perf_counter() - t)
            for key, p in (("cartnet", pc), ("baseline", pb)):
                per[key][0].append(p)
                per[key][1].append(true)
            if len(c) > args.max_atoms or n_ph >= args.phonon_limit:
                skipped.append(sample.id)
                continue
            try:
                res = phonon_adps(c, [sample.temperature], max_supercell_atoms=args.max_supercell_atoms)
            except (XtalkitError, RuntimeError, ValueError) as exc:
                failed.append(str(exc) if str(exc).startswith(sample.id) else f"{sample.id}: {exc}")
                continue
            n_ph += 1
            times["phonon"].append(res.seconds)
            pp = res.U_cart[0][m]
            ok = np.linalg.eigvalsh(pp)[:, 0] > 0
            if not ok.all():
                failed.append(
                    f"{sample.id}: {int((~ok).sum())} non-positive-definite phonon tensors (soft modes)"
                )
                continue
            per["phonon"][0].append(pp)
            per["phonon"][1].append(true)
            sub["cartnet"][0].append(pc)
            sub["cartnet"][1].append(true)
            sub["baseline"][0].append(pb)
            sub["baseline"][1].append(true)
        row = {
            "test_structures": len(store),
            "phonon_structures": len(per["phonon"][0]),
            "phonon_failures": failed,
            "seconds_per_structure": {k: float(np.mean(v)) if v else None for k, v in times.items()},
        }
        for key, (p, t, _) in per.items():
            if p:
                row[key] = score(np.concatenate(p), np.concatenate(t))
        for key, (p, t) in sub.items():
            if p:
                row[f"{key}_on_phonon_subset"] = score(np.concatenate(p), np.concatenate(t))
        results["datasets"][name] = row
        print(name, json.dumps({k: v for k, v in row.items() if k != "phonon_failures"}, indent=1))
    atomic_write(args.out / "adp_real.json", json.dumps(results, indent=1))
    text = format_results(results)
    atomic_write(args.out / "adp_real.md", text)
    print(text)


def format_results(results: dict) -> str:
    lines = [f"# ADPs on held-out experimental test splits (model `{results['model']}`)", ""]
    for name, row in results["datasets"].items():
        sec = row["seconds_per_structure"]
        lines += [
            f"## {name}: {row['test_structures']} test structures; phonons on {row['phonon_structures']} "
            f"(≤ {results['max_atoms_for_phonons']} atoms per cell)",
            "",
            "| method | structures | MAE (Å²) | S12 (%) | IoU (%) | volume error (%) | s / structure |",
            "|---|---|---|---|---|---|---|",
        ]
        for key, label, n, s in (
            ("cartnet", "CartNet (shipped)", row["test_structures"], sec["cartnet"]),
            ("baseline", "isotropic per-element mean", row["test_structures"], sec["baseline"]),
            ("cartnet_on_phonon_subset", "CartNet, phonon subset", row["phonon_structures"], sec["cartnet"]),
            (
                "baseline_on_phonon_subset",
                "isotropic mean, phonon subset",
                row["phonon_structures"],
                sec["baseline"],
            ),
            ("phonon", "harmonic phonons (CHGNet)", row["phonon_structures"], sec["phonon"]),
        ):
            if key in row:
                r = row[key]
                lines.append(
                    f"| {label} | {n} | {r['mae']:.2e} | {r['s12']:.2f} | {r['iou']:.1f} | "
                    f"{100 * r['volume_relative_error']:.0f} | {s:.3g} |"
                )
        if row["phonon_failures"]:
            lines += ["", "Phonon runs left out:", ""] + [f"- {f}" for f in row["phonon_failures"]]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
