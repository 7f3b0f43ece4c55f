"""Space group, crystal system and lattice from the composition: accuracy on fold 8 of mp.csv.gz.

The predictor is :class:`xtalkit.csp.lattice.LatticeModel` (the MLatticeABC /
CRYSPNet step of AlphaCrystal-II), fitted on folds 0-7 of the conventional-cell
dataset of ``shared/data/materials/mp.csv.gz`` (:func:`xtalkit.csp.data.build_dataset`);
it is scored on every fold-8 row, whose formulas it has never seen (the folds
split by reduced formula). The formula given to it is the contents of the
row's conventional cell in pyxtal's setting, as in ``xtalkit csp predict``:
its atom counts rule out groups without a Wyckoff combination for them, for
the model and the baseline alike.

Reported, each beside a composition-blind baseline fitted on the same rows:

* crystal system: top-1 accuracy (baseline: the most frequent system);
* space group: the true group within the first 1 / 5 / 10 groups of
  :meth:`~xtalkit.csp.lattice.LatticeModel.top_space_groups` (groups that can
  hold the cell; baseline: the training set's most frequent groups that can
  hold the cell, in order of frequency);
* volume per atom: mean absolute relative error (baseline: the training
  set's geometric mean volume per atom);
* cell lengths a, b, c given the true space group: mean absolute relative
  error, and the free angles (β of monoclinic, α/β/γ of triclinic cells): mean
  absolute error in degrees (baseline: the same formula with the baseline
  volume, cubic-like ratios 1 and 90° angles).

Usage::

    python benchmarks/lattice.py [--lattice-model LATTICE.npz] [--trees 100] [--seed 0]

Without ``--lattice-model`` the model is fitted here (100 trees: about a
minute on one core). Results: ``benchmarks/results/lattice.{json,md}``,
written atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("XTALKIT_SHARED", REPO.parent / "shared"))
MP = SHARED / "data" / "materials" / "mp.csv.gz"


def markdown(doc: dict) -> str:
    """``lattice.md``: the library's table under this benchmark's own wording (folds 0-7 / fold 8).

    Args:
        doc: the ``lattice.json`` document (``lattice_model``, ``data``, ``results``, ``seconds``).
    """
    from xtalkit.csp.lattice_eval import lattice_markdown

    r = doc["results"]
    return lattice_markdown(
        doc,
        title=f"Space group and lattice from the composition ({Path(doc['data']).name} fold 8)",
        provenance=(
            f"Lattice model `{doc['lattice_model']}` (random forests, fitted on folds 0-7: "
            f"{r['n_train']} rows); scored on all {r['n_test']} fold-8 rows (conventional cells, pyxtal "
            "setting; formulas unseen in training)."
        ),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=MP)
    ap.add_argument("--lattice-model", type=Path, default=None, help="a fitted lattice.npz (default: fit)")
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "lattice")
    args = ap.parse_args()

    from xtalkit.csp.data import build_dataset
    from xtalkit.csp.lattice import LatticeConfig, LatticeModel, fit_lattice_model
    from xtalkit.csp.lattice_eval import evaluate_lattice
    from xtalkit.io import atomic_write

    t0 = time.time()
    ds = build_dataset(args.data, cell="conventional", progress=sys.stderr.isatty())
    train_idx = np.flatnonzero(np.isin(ds.split, ["train", "val"]))
    test_idx = np.flatnonzero(ds.split == "test")
    if args.lattice_model:
        model = LatticeModel.load(args.lattice_model)
        name = str(args.lattice_model)
    else:
        model = fit_lattice_model(ds, config=LatticeConfig(n_estimators=args.trees, seed=args.seed))
        name = f"fitted here ({args.trees} trees, seed {args.seed})"
    results = evaluate_lattice(model, ds, train_idx, test_idx)
    doc = {
        "benchmark": "lattice",
        "lattice_model": name,
        "data": str(args.data),
        "results": results,
        "seconds": time.time() - t0,
        "platform": platform.platform(),
    }
    atomic_write(args.out.with_suffix(".json"), json.dumps(doc, indent=2) + "\n")
    atomic_write(args.out.with_suffix(".md"), markdown(doc))
    print(markdown(doc))


if __name__ == "__main__":
    main()
