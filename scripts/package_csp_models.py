"""Package the CSP models shipped inside xtalkit: distance-matrix network and lattice model, with cards.

Usage::

    xtalkit csp train --data mp.csv.gz --preset medium --no-lattice -o work/csp/medium
    python scripts/package_csp_models.py work/csp/medium --data ../shared/data/materials/mp.csv.gz

Writes ``src/xtalkit/pretrained/alphacrystal_distmat.{pt,md}`` (the run's best
model, its metadata extended by the elements seen) and
``alphacrystal_lattice.{npz,md}`` (the lattice/space-group forests fitted here on
folds 0-7 of the same cached dataset with ``--trees`` trees, then scored on
fold 8 by ``benchmarks/lattice.py``'s function). Rerunning the script
regenerates all four files from the run and the data.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "src" / "xtalkit" / "pretrained"
sys.path.insert(0, str(REPO / "benchmarks"))


def _elements(counts: np.ndarray) -> list[str]:
    from xtalkit.elements import symbol

    return [symbol(int(z) + 1) for z in np.flatnonzero(counts.sum(axis=0) > 0)]


def distmat_card(meta: dict, seen: list[str], n_params: int, smaller: dict | None = None) -> str:
    c, t, v = meta["config"], meta["test"], meta["val"]
    rows = [("validation (fold 7)", v), ("test (fold 8)", t)]
    if smaller is not None:
        n_small = smaller["parameters"] / 1e6
        rows.append(
            (
                f"test, `{smaller['config']['architecture']}` widths ({n_small:.2f} M), same data",
                smaller["test"],
            )
        )
    sizes = meta["data"]["sizes"]
    return "\n".join(
        [
            "# alphacrystal-distmat: AlphaCrystal-II distance-matrix network",
            "",
            "## Model",
            f"- DistMatNet (AlphaCrystal-II §2.3, Fig. 2), `{c['architecture']}` widths "
            f"({n_params / 1e6:.2f} M parameters; the paper's network has about 70 M), "
            f"{meta['bins']['n_groups']} distance groups of equal width between {meta['bins']['d_min']:.3f} and "
            f"{meta['bins']['d_max']:.3f} Å (eq. 5), categorical cross-entropy over valid pairs (eq. 1).",
            f"- Trained with `xtalkit csp train --preset {c['architecture']}`: Adam {c['lr']:g}, batches of "
            f"{c['batch_size']}, {meta['epochs_run']} epochs in {meta['train_seconds'] / 60:.0f} min on one CPU "
            "thread; the epoch with the lowest validation loss was kept.",
            "",
            "## Data",
            "- `mp.csv.gz` (Materials Project structures of the project's shared data), conventional cells in "
            "pyxtal's setting with at most 12 atoms (the distance targets of `xtalkit.csp.data`, cell "
            f"`{meta['cell']}`).",
            f"- Split by reduced formula (`formula_fold`): folds 0-6 train ({sizes['train']} cells), fold 7 "
            f"validation ({sizes['val']}), fold 8 test ({sizes['test']}), never seen in training.",
            f"- Elements seen in training ({len(seen)}): {' '.join(seen)}.",
            "",
            "## Fold-8 metrics (per structure over valid pairs, prediction = centre of the most likely group)",
            "",
            "| split | MSE (Å²) | RMSE (Å) | 8 Å overlap | pairs in the right group |",
            "|---|---|---|---|---|",
            *[
                f"| {name} | {m['mse']:.4f} | {m['rmse']:.4f} | {m['overlap']:.4f} | {m['accuracy']:.1%} |"
                for name, m in rows
            ],
            "",
            "## Valid domain",
            "- Cell contents of at most 12 atoms (the network's input has 12 rows); a reduced formula is tried "
            "in every cell of ≤ 12 atoms by `xtalkit csp predict`.",
            "- Elements outside the list above get features the network never saw; treat their predictions as "
            "guesses.",
            "- Predicted distances feed the GA reconstruction and the screening of candidates; the structures "
            "written are CHGNet-relaxed, ranked by CHGNet energy.",
            "",
        ]
    )


def lattice_card(meta: dict, res: dict, seen: list[str]) -> str:
    m, b = res["model"], res["baseline"]
    cfg = meta["config"]
    return "\n".join(
        [
            "# alphacrystal-lattice: space group and lattice from the composition",
            "",
            "## Model",
            f"- Random forests ({cfg['n_estimators']} trees each, smallest leaf {cfg['min_samples_leaf']}) on "
            "composition features (element fractions and fraction-weighted element properties): crystal "
            "system, space group (the AlphaCrystal-II step done by CRYSPNet), log volume per atom "
            "(MLatticeABC) and cell shape ratios and angles per crystal system. Stored as plain arrays "
            "(`.npz`, no pickle).",
            "- Space groups are ranked by P(system) × P(group | system) and only groups with a Wyckoff "
            "combination for the cell are offered (P1 as the fallback).",
            "",
            "## Data",
            f"- `mp.csv.gz` folds 0-7 ({meta['n_train']} structures of ≤ 12 atoms as stored; conventional "
            f"cells in pyxtal's setting); {meta['space_groups_seen']} space groups seen.",
            f"- Elements seen ({len(seen)}): {' '.join(seen)}.",
            "",
            f"## Fold-8 metrics ({res['n_test']} structures, formulas never seen)",
            "",
            "| quantity | model | composition-blind baseline |",
            "|---|---|---|",
            f"| crystal system, top-1 | {m['crystal_system_accuracy']:.1%} | {b['crystal_system_accuracy']:.1%} |",
            *[
                f"| space group within the first {k} | {m[f'space_group_top{k}']:.1%} | "
                f"{b[f'space_group_top{k}']:.1%} |"
                for k in (1, 5, 10)
            ],
            f"| volume per atom, mean abs. relative error | {m['volume_per_atom_mare']:.1%} | "
            f"{b['volume_per_atom_mare']:.1%} |",
            f"| a, b, c given the true group, mean abs. relative error | {m['length_mare_true_group']:.1%} | "
            f"{b['length_mare_true_group']:.1%} |",
            "",
            "## Valid domain",
            "- Cells of at most 12 atoms; space groups outside the 140 seen are never proposed (give them with "
            "`--space-group`).",
            "",
        ]
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="run directory of `xtalkit csp train`")
    ap.add_argument("--data", type=Path, required=True, help="mp.csv.gz")
    ap.add_argument("--trees", type=int, default=40, help="trees per lattice forest (default 40)")
    ap.add_argument("--smaller", type=Path, default=None, help="run of a smaller network on the same data")
    args = ap.parse_args()
    from lattice import evaluate  # benchmarks/lattice.py
    from xtalkit.csp.data import build_dataset
    from xtalkit.csp.lattice import LatticeConfig, fit_lattice_model
    from xtalkit.io import atomic_write
    from xtalkit.models.checkpoint import load_model, save_model

    ds = build_dataset(args.data, cell="conventional")
    model, meta = load_model(args.run / "model.pt")
    train_rows = np.flatnonzero((ds.split == "train") & ds.has_target)
    seen = _elements(ds.element_counts()[train_rows])
    meta = {**meta, "elements_seen": seen, "name": "alphacrystal-distmat"}
    save_model(OUT / "alphacrystal_distmat.pt", model, metadata=meta)
    n_params = int(sum(p.numel() for p in model.parameters()))
    smaller = load_model(args.smaller / "model.pt")[1] if args.smaller else None
    atomic_write(OUT / "alphacrystal_distmat.md", distmat_card(meta, seen, n_params, smaller))

    lattice = fit_lattice_model(ds, config=LatticeConfig(n_estimators=args.trees, seed=0))
    path = lattice.save(OUT / "alphacrystal_lattice.npz")
    fit_rows = np.flatnonzero(np.isin(ds.split, ["train", "val"]))
    res = evaluate(lattice, ds, fit_rows, np.flatnonzero(ds.split == "test"))
    res["n_test"] = int((ds.split == "test").sum())
    atomic_write(
        OUT / "alphacrystal_lattice.md",
        lattice_card(lattice.meta, res, _elements(ds.element_counts()[fit_rows])),
    )
    sizes = {p.name: p.stat().st_size / 1e6 for p in (OUT / "alphacrystal_distmat.pt", path)}
    print(json.dumps({"test": meta["test"], "lattice": res["model"], "MB": sizes}, indent=1))


if __name__ == "__main__":
    main()
