"""AlphaCrystal-II Table 5: distance-matrix prediction on Materials Project cells of ≤ 12 atoms.

The eight rows of the paper's Table 5, on ``shared/data/materials/mp.csv.gz``
(folds 0-6 train, 7 validation, 8 test; distance targets of the table's cell,
``--cell file``, the paper's Mp_12; :mod:`xtalkit.csp.data`):

====================  ======  =====================================  ==================
model                 groups  training rows (seeded random subset)    test rows (fold 8)
====================  ======  =====================================  ==================
AlphaCrystal-II       5       1,000                                  100
AlphaCrystal-II       5       all of folds 0-6 (≈ 9,500; paper 10k)  1,000
AlphaCrystal-II       10      1,000                                  100
AlphaCrystal-II       10      all                                    1,000
AlphaCrystal-II       20      all                                    1,000
AlphaCrystal-II_cubic 10      all cubic                              200 cubic
..._binary            10      all with 2 elements                    400 binary
..._ternary           10      all with 3 elements                    1,000 ternary
====================  ======  =====================================  ==================

Test rows are a seeded random sample of fold 8 of that family (all when
fewer); validation (best epoch) is fold 7 of the same family. Training:
:func:`xtalkit.training.distmat.train_distmat` with Adam 1e-3, ``--epochs``
(paper: 125), ``--preset`` (default ``cpu``: the 0.29 M-parameter network; the
paper's 70 M one needs a GPU). Metrics (:func:`~xtalkit.training.distmat.evaluate_distmat`):
per-structure MSE (Å²), RMSE (Å) and 8 Å distance-map overlap (eq. 4) of the
bin-centre prediction, averaged over the test structures.

Runs live in ``--work-dir``; a row whose ``model.pt`` exists is read back,
an interrupted one resumes from its ``last.ckpt``; ``--only`` splits the rows
over processes that share ``--work-dir``. Results go to
``benchmarks/results/distmat_table.{json,md}`` (``--quick``:
``benchmarks/results/tmp/distmat_table_quick.{json,md}``). Usage::

    python benchmarks/distmat_table.py [--quick] [--epochs 125] [--preset cpu] [--threads 1]

``--quick`` uses the first 400 table rows, training sets of 40 / all (≈ 150)
rows, test sets of ≤ 20 / 40 rows and 2 epochs: a smoke test of the whole
path, not a measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("XTALKIT_SHARED", REPO.parent / "shared"))
MP = SHARED / "data" / "materials" / "mp.csv.gz"

#: name, family, groups, training size (None: all), test size, paper (MSE, RMSE, overlap, n_train, n_test)
ROWS = (
    ("AlphaCrystal-II", "all", 5, 1000, 100, (4.9538, 1.8841, 0.9045, 1000, 100)),
    ("AlphaCrystal-II", "all", 5, None, 1000, (2.3764, 1.2269, 0.9979, 10000, 1000)),
    ("AlphaCrystal-II", "all", 10, 1000, 100, (2.8586, 1.3399, 0.9981, 1000, 100)),
    ("AlphaCrystal-II", "all", 10, None, 1000, (1.8932, 1.0984, 0.9989, 10000, 1000)),
    ("AlphaCrystal-II", "all", 20, None, 1000, (1.5591, 0.9239, 0.9992, 10000, 1000)),
    ("AlphaCrystal-II_cubic", "cubic", 10, None, 200, (1.0125, 0.7394, 0.9746, 2638, 200)),
    ("AlphaCrystal-II_binary", "binary", 10, None, 400, (2.7835, 1.3109, 0.9980, 4678, 400)),
    ("AlphaCrystal-II_ternary", "ternary", 10, None, 1000, (2.0832, 1.2779, 0.9985, 9292, 1000)),
)


def family_mask(ds, family: str) -> np.ndarray:
    """Rows of a family: all, cubic (crystal system), binary or ternary (number of elements)."""
    from xtalkit.csp.data import CRYSTAL_SYSTEMS

    if family == "all":
        return np.ones(len(ds), dtype=bool)
    if family == "cubic":
        return ds.crystal_system == CRYSTAL_SYSTEMS.index("cubic")
    return ds.number_of_elements() == {"binary": 2, "ternary": 3}[family]


def _sample(idx: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    if n is None or idx.size <= n:
        return idx
    return np.sort(np.random.default_rng(seed).choice(idx, size=n, replace=False))


def run_row(ds, spec: tuple, args, work: Path) -> dict:
    """Train (or read back) one Table 5 model and score it on its test rows."""
    import torch

    from xtalkit.pretrained import load
    from xtalkit.training.distmat import evaluate_distmat, make_config, train_distmat

    name, family, groups, n_train, n_test, paper = spec
    if args.quick:
        n_train = None if n_train is None else 40
        n_test = 40 if n_test >= 1000 else 20
    fam = family_mask(ds, family) & ds.has_target
    rows = {
        "train": _sample(np.flatnonzero(fam & (ds.split == "train")), n_train, args.seed),
        "val": np.flatnonzero(fam & (ds.split == "val")),
        "test": _sample(np.flatnonzero(fam & (ds.split == "test")), n_test, args.seed),
    }
    tag = f"{family}_g{groups}_n{'all' if n_train is None else n_train}"
    run_dir = work / tag
    config = make_config(args.preset, num_groups=groups, epochs=args.epochs, seed=args.seed)
    t0 = time.time()
    base = {
        "model": name,
        "family": family,
        "groups": groups,
        **{f"n_{k}": int(v.size) for k, v in rows.items()},
        "paper": dict(zip(("mse", "rmse", "overlap", "n_train", "n_test"), paper, strict=True)),
    }
    if min(rows["train"].size, rows["val"].size, rows["test"].size) == 0:
        return {**base, "error": "empty training, validation or test set"}
    if (run_dir / "model.pt").is_file():
        loaded = load(run_dir, task="distmat")
        model, meta = loaded.model, loaded.metadata
        seconds, epochs = meta.get("train_seconds"), meta.get("epochs_run")
    else:
        resume = (run_dir / "checkpoints" / "last.ckpt").is_file()
        res = train_distmat(
            config, ds, run_dir, index=rows, resume=resume, progress=False, evaluate_test=False
        )
        model, seconds, epochs = res.model, res.summary["train_seconds"], res.summary["epochs_run"]
    t = rows["test"]
    # the family's largest test sample (the one of its full-data rows): rows trained on 1,000
    # structures are scored on it too, so the effect of the training size is read on one test set
    n_common = max(r[4] for r in ROWS if r[1] == family)
    if args.quick:
        n_common = 40 if n_common >= 1000 else 20
    c = _sample(np.flatnonzero(fam & (ds.split == "test")), n_common, args.seed)
    with torch.no_grad():
        m = evaluate_distmat(model, ds.features[t], ds.mask[t], ds.distances[t])
        same = np.array_equal(c, t)
        mc = m if same else evaluate_distmat(model, ds.features[c], ds.mask[c], ds.distances[c])
    return {
        **base,
        "mse": m["mse"],
        "rmse": m["rmse"],
        "overlap": m["overlap"],
        "accuracy": m["accuracy"],
        "n_common_test": int(c.size),
        "common_mse": mc["mse"],
        "common_rmse": mc["rmse"],
        "common_overlap": mc["overlap"],
        "train_seconds": seconds,
        "epochs": epochs,
        "seconds_per_epoch_per_1000": (1000 * seconds / max(1, epochs) / max(1, rows["train"].size))
        if seconds
        else None,
        "wall_seconds": time.time() - t0,
        "run_dir": str(run_dir),
    }


def markdown(doc: dict) -> str:
    """Table 5 layout with the paper's values beside ours."""
    lines = [
        "# AlphaCrystal-II Table 5: distance-matrix prediction (mp.csv.gz, fold 8 test)",
        "",
        f"{'Quick smoke run (tiny sizes, 2 epochs): not a measurement. ' if doc['quick'] else ''}"
        f"Preset `{doc['preset']}`, {doc['epochs']} epochs, Adam 1e-3, cell `{doc['cell']}`, "
        f"{doc['threads']} CPU thread(s); dataset {doc['dataset']['rows']} rows "
        f"({doc['dataset']['with_target']} with targets).",
        "",
        "| Model | Groups | Train | Test | MSE (Å²) | RMSE (Å) | Overlap | paper Train | paper MSE | "
        "paper RMSE | paper Overlap | MSE / RMSE on the family's largest test set | train s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in doc["rows"]:
        p = r["paper"]
        if "error" in r:
            lines.append(f"| {r['model']} | {r['groups']} | {r['n_train']} | {r['n_test']} | {r['error']} |")
            continue
        lines.append(
            f"| {r['model']} | {r['groups']} | {r['n_train']} | {r['n_test']} | {r['mse']:.4f} | "
            f"{r['rmse']:.4f} | {r['overlap']:.4f} | {p['n_train']} | {p['mse']:.4f} | {p['rmse']:.4f} | "
            f"{p['overlap']:.4f} | {r['common_mse']:.4f} / {r['common_rmse']:.4f} ({r['n_common_test']}) | "
            f"{r['train_seconds'] or 0:.0f} |"
        )
    lines += [
        "",
        "MSE/RMSE/overlap: per test structure over its valid pairs (both atoms present, i ≠ j), "
        "prediction = centre of the most likely group, then averaged over structures. "
        "The paper scores its 1,000-structure models on 100 test structures; the last MSE / RMSE "
        "column scores every model of a family on the same (largest) test set, so rows differing "
        "only in training size or groups compare directly.",
        f"Total wall time {doc['seconds']:.0f} s.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=MP)
    ap.add_argument("--quick", action="store_true", help="tiny sizes and 2 epochs (smoke test)")
    ap.add_argument("--preset", default="cpu", choices=["cpu", "paper"])
    ap.add_argument("--epochs", type=int, default=None, help="default 125 (quick: 2)")
    ap.add_argument("--cell", default="file", choices=["file", "conventional"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--workers", type=int, default=1, help="processes building the dataset")
    ap.add_argument("--cache", type=Path, default=None, help="dataset cache directory")
    ap.add_argument("--work-dir", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None, help="output stem (without .json/.md)")
    ap.add_argument(
        "--only", type=int, nargs="+", default=None, metavar="ROW",
        help="train only these table rows (1-8) and write no table; processes sharing --work-dir "
        "can split the rows, and a final run without --only reads them back and writes the table",
    )  # fmt: skip
    args = ap.parse_args()
    import torch

    from xtalkit.csp.data import build_dataset
    from xtalkit.io import atomic_write

    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    args.epochs = args.epochs or (2 if args.quick else 125)
    tmp = REPO / "benchmarks" / "results" / "tmp"
    work = args.work_dir or (tmp / ("distmat_table_quick" if args.quick else "distmat_table"))
    out = args.out or (
        tmp / "distmat_table_quick" if args.quick else REPO / "benchmarks" / "results" / "distmat_table"
    )
    t0 = time.time()
    ds = build_dataset(
        args.data,
        cell=args.cell,
        rows=np.arange(400) if args.quick else None,
        cache_dir=args.cache,
        workers=args.workers,
        progress=sys.stderr.isatty(),
    )
    t_data = time.time() - t0
    print(
        f"dataset: {len(ds)} rows, {int(ds.has_target.sum())} with targets ({t_data:.0f} s)", file=sys.stderr
    )
    results = []
    for number, spec in enumerate(ROWS, start=1):
        if args.only and number not in args.only:
            continue
        r = run_row(ds, spec, args, work)
        results.append(r)
        if "error" in r:
            print(f"{r['model']} g{r['groups']}: {r['error']}", file=sys.stderr)
            continue
        print(
            f"{r['model']} g{r['groups']} n{r['n_train']}: MSE {r['mse']:.3f} RMSE {r['rmse']:.3f} "
            f"overlap {r['overlap']:.4f} ({r['wall_seconds']:.0f} s)",
            file=sys.stderr,
        )
    if args.only:
        print(f"trained rows {args.only} into {work}; run without --only for the table", file=sys.stderr)
        return
    doc = {
        "benchmark": "distmat_table",
        "quick": args.quick,
        "preset": args.preset,
        "epochs": args.epochs,
        "cell": args.cell,
        "seed": args.seed,
        "threads": args.threads,
        "dataset": {
            "source": str(args.data),
            "rows": len(ds),
            "with_target": int(ds.has_target.sum()),
            "seconds": t_data,
            "cache": ds.meta.get("path"),
        },
        "rows": results,
        "seconds": time.time() - t0,
        "platform": platform.platform(),
        "torch": torch.__version__,
    }
    atomic_write(out.with_suffix(".json"), json.dumps(doc, indent=2) + "\n")
    atomic_write(out.with_suffix(".md"), markdown(doc))
    print(f"wrote {out.with_suffix('.json')} and .md", file=sys.stderr)


if __name__ == "__main__":
    main()
