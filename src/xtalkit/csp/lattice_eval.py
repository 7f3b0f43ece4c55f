"""Scoring a space-group and lattice model against composition-blind baselines (AlphaCrystal-II step 2).

Reported, each beside a baseline fitted on the same rows:

* crystal system: top-1 accuracy (baseline: the most frequent system);
* space group: the true group within the first 1 / 5 / 10 groups of
  :meth:`~xtalkit.csp.lattice.LatticeModel.top_space_groups` (groups that can
  hold the cell; baseline: the training set's most frequent groups that can
  hold the cell, in order of frequency);
* volume per atom: mean absolute relative error (baseline: the training set's
  geometric mean volume per atom);
* cell lengths a, b, c given the true space group: mean absolute relative error,
  and the free angles (β of monoclinic, α/β/γ of triclinic cells): mean absolute
  error in degrees (baseline: the baseline volume, cubic-like ratios, 90° angles).

Used by ``xtalkit csp evaluate-lattice`` and ``benchmarks/lattice.py``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from xtalkit.errors import XtalkitError

TOPS = (1, 5, 10)


def conventional_counts(ds) -> np.ndarray:
    """(S, 103) atoms of each element in every row's conventional cell (pyxtal setting)."""
    counts = ds.element_counts()
    scale = ds.conventional_atoms / ds.file_atoms
    conv = counts * scale[:, None]
    if not np.allclose(conv, np.round(conv)):
        raise XtalkitError("conventional cell is not a whole multiple of the table's cell")
    return np.round(conv)


def baseline_groups(train_groups: np.ndarray, cell: list[int], k: int) -> list[int]:
    """The ``k`` most frequent training groups that can hold ``cell`` (then P1), frequency order."""
    from xtalkit.csp.lattice import holds_composition

    out = []
    for g, _ in Counter(train_groups.tolist()).most_common():
        if len(out) >= k:
            break
        if holds_composition(int(g), cell):
            out.append(int(g))
    if len(out) < k and 1 not in out:
        out.append(1)
    return out


def evaluate_lattice(model, ds, train_idx: np.ndarray, test_idx: np.ndarray) -> dict:
    """Scores of the model and of the baselines on ``test_idx`` (module docstring).

    Args:
        model: a :class:`~xtalkit.csp.lattice.LatticeModel`.
        ds: the conventional-cell :class:`~xtalkit.csp.data.DistanceDataset` of a table.
        train_idx: rows the model (and the baselines) were fitted on.
        test_idx: rows scored.

    Returns:
        ``{"model": {...}, "baseline": {...}, "n_test", "n_train", "v_base"}``.

    Raises:
        XtalkitError: no training rows (the baselines need them) or no test rows.
    """
    from xtalkit.csp.data import CRYSTAL_SYSTEMS, crystal_system

    if len(train_idx) == 0:
        raise XtalkitError("no training rows to fit the baselines")
    if len(test_idx) == 0:
        raise XtalkitError("no test rows to score")
    counts = conventional_counts(ds)
    sg_train = ds.space_group[train_idx]
    cs_mode = Counter(ds.crystal_system[train_idx].tolist()).most_common(1)[0][0]
    log_v = np.log(np.array([_volume(p) for p in ds.lattice[train_idx]]) / ds.conventional_atoms[train_idx])
    v_base = float(np.exp(log_v.mean()))
    hits = {m: {k: [] for k in TOPS} for m in ("model", "baseline")}
    cs_ok = {"model": [], "baseline": []}
    vol_err = {"model": [], "baseline": []}
    len_err = {"model": [], "baseline": []}
    ang_err = {"model": [], "baseline": []}
    base_cache: dict[tuple, list[int]] = {}
    for i in test_idx:
        c = counts[i]
        cell = [int(x) for x in c[c > 0]]
        g_true = int(ds.space_group[i])
        true = ds.lattice[i]
        n = float(c.sum())
        v_true = _volume(true) / n
        # crystal system
        p = model.crystal_system_proba(c)
        cs_ok["model"].append(max(p, key=p.get) == CRYSTAL_SYSTEMS[int(ds.crystal_system[i])])
        cs_ok["baseline"].append(int(ds.crystal_system[i]) == cs_mode)
        # space groups
        groups = [s.number for s in model.top_space_groups(c, k=max(TOPS))]
        key = tuple(sorted(cell))
        if key not in base_cache:
            base_cache[key] = baseline_groups(sg_train, cell, max(TOPS))
        for k in TOPS:
            hits["model"][k].append(g_true in groups[:k])
            hits["baseline"][k].append(g_true in base_cache[key][:k])
        # volume
        vol_err["model"].append(abs(model.volume_per_atom(c) / v_true - 1))
        vol_err["baseline"].append(abs(v_base / v_true - 1))
        # lattice given the true group
        pred = model.lattice(c, g_true)
        gamma = (
            120.0 if crystal_system(g_true) in ("hexagonal", "trigonal") and abs(true[5] - 120) < 1 else 90.0
        )
        a = (v_base * n / _volume((1.0, 1.0, 1.0, 90.0, 90.0, gamma))) ** (1 / 3)
        base = np.array([a, a, a, 90.0, 90.0, gamma])
        free = {"monoclinic": [4], "triclinic": [3, 4, 5]}.get(crystal_system(g_true), [])
        for m, q in (("model", pred), ("baseline", base)):
            len_err[m] += list(np.abs(q[:3] / true[:3] - 1))
            ang_err[m] += list(np.abs(q[free] - true[free]))
    out = {}
    for m in ("model", "baseline"):
        out[m] = {
            "crystal_system_accuracy": float(np.mean(cs_ok[m])),
            **{f"space_group_top{k}": float(np.mean(hits[m][k])) for k in TOPS},
            "volume_per_atom_mare": float(np.mean(vol_err[m])),
            "length_mare_true_group": float(np.mean(len_err[m])),
            "free_angle_mae_deg": float(np.mean(ang_err[m])) if ang_err[m] else None,
            "n_free_angles": len(ang_err[m]),
        }
    out["n_test"] = len(test_idx)
    out["n_train"] = len(train_idx)
    out["v_base"] = v_base
    return out


def _volume(p) -> float:
    from xtalkit.csp.lattice import cell_volume

    return float(cell_volume(p))


def lattice_markdown(doc: dict, *, title: str | None = None, provenance: str | None = None) -> str:
    """One markdown table, model beside baseline, under a heading that says what was scored.

    Args:
        doc: ``{"lattice_model": name, "data": table path, "results": evaluate_lattice(...)}``,
            with ``"seconds"`` (wall time) when known.
        title: the heading (without ``#``); default: the table's file name and the number of
            test rows.
        provenance: the sentences on the model and the rows; default: the model name, the
            table and the sizes of its splits. A sentence on the baseline follows either way.

    Returns:
        The markdown text.
    """
    r = doc["results"]
    data = Path(str(doc.get("data", "the table")))
    if title is None:
        title = f"Space group and lattice from the composition ({data.name}: {r['n_test']} test rows)"
    if provenance is None:
        provenance = (
            f"Lattice model `{doc['lattice_model']}`, scored on the {r['n_test']} test rows of `{data}` "
            f"(conventional cells, pyxtal setting); the baselines are fitted on its {r['n_train']} "
            "training and validation rows."
        )
    rows = [
        ("crystal system, top-1 accuracy", "crystal_system_accuracy", "{:.1%}"),
        *[(f"space group within the first {k}", f"space_group_top{k}", "{:.1%}") for k in TOPS],
        ("volume per atom, mean abs. relative error", "volume_per_atom_mare", "{:.1%}"),
        ("a, b, c given the true group, mean abs. relative error", "length_mare_true_group", "{:.1%}"),
        ("free angles given the true group, MAE (°)", "free_angle_mae_deg", "{:.2f}"),
    ]
    lines = [
        f"# {title}",
        "",
        f"{provenance} Baseline: most frequent system / groups of the "
        f"training rows that can hold the cell, geometric-mean volume per atom "
        f"({r['v_base']:.2f} Å³), equal lengths and 90° (120° on hexagonal axes). "
        f"{r['model']['n_free_angles']} free angles.",
        "",
        "| quantity | lattice model | baseline |",
        "|---|---|---|",
    ]

    def cell(value, fmt: str) -> str:
        return "–" if value is None else fmt.format(value)

    for name, key, fmt in rows:
        lines.append(f"| {name} | {cell(r['model'][key], fmt)} | {cell(r['baseline'][key], fmt)} |")
    lines += ["", f"Wall time {doc['seconds']:.0f} s.", ""] if "seconds" in doc else [""]
    return "\n".join(lines)
