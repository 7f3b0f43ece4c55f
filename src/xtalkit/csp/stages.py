"""The stages of AlphaCrystal-II for one formula (preprint §2.1, Fig. 1).

Check, distance matrix, space groups and lattice, candidates, screening,
relaxation and ranking of one formula, and the files of its directory
(:func:`predict_formula`; the steps are described in :mod:`xtalkit.csp.pipeline`,
which runs many formulas through a worker pool).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from xtalkit.csp.config import (
    METHODS,
    CandidateRecord,
    CSPConfig,
    FormulaOutcome,
)
from xtalkit.csp.encoding import check_charge_balance, encode_composition, predict_distances
from xtalkit.csp.generate import generate_candidates, plan_space_groups, screen_candidates
from xtalkit.csp.outputs import candidates_csv, cif_text, json_default
from xtalkit.errors import CrystalError, XtalkitError
from xtalkit.io import atomic_write


def check_formula(formula, config: CSPConfig | None = None) -> dict:
    """Validate a formula before any model is loaded.

    Returns:
        ``{"formula": directory name (encoding order), "cells": cell formulas tried,
        "reduced": Z searched, "n_atoms": atoms of the largest cell, "charge_balanced",
        "oxidation_states", "warning"}`` (``warning`` is "" or one line).

    Raises:
        XtalkitError: unreadable formula, unknown element, fractional amounts, more than
            12 atoms per cell, or (with ``require_balanced``) no charge-balanced assignment.
    """
    from xtalkit.csp.formulas import cell_multiples

    cfg = config or CSPConfig()
    if cfg.search_z:
        request = cell_multiples(formula)
        name, cells, reduced = request.name, request.cells, request.reduced
    else:
        name = encode_composition(formula).formula
        cells, reduced = (name,), False
    cb = check_charge_balance(name, warn=False)
    warning = ""
    if not cb.balanced:
        text = f"{name}: no charge-balanced assignment of common oxidation states"
        if cfg.require_balanced:
            raise XtalkitError(text + " (--require-balanced)")
        warning = text + "; predicting anyway (intermetallics are often unbalanced)"
    return {
        "formula": name,
        "cells": list(cells),
        "reduced": reduced,
        "n_atoms": encode_composition(cells[-1]).num_atoms,
        "charge_balanced": cb.balanced,
        "oxidation_states": cb.oxidation_states,
        "warning": warning,
    }


def load_distmat_model(model):
    """``(network, metadata)`` of a distance-matrix model given as a network, a shipped name or a file.

    A network (or None) is returned as it is, with empty metadata.

    Raises:
        XtalkitError: the file is not a distance-matrix network.
    """
    if model is None or not isinstance(model, str | os.PathLike):
        return model, {}
    from xtalkit.models.distmat import DistMatNet
    from xtalkit.pretrained import load

    loaded = load(model)
    if not isinstance(loaded.model, DistMatNet):
        kind = type(loaded.model).__name__
        raise XtalkitError(f"{loaded.path}: a {kind} model, not a distance-matrix network")
    return loaded.model, {**loaded.metadata, "file": str(loaded.path)}


def load_lattice_model(model):
    """A :class:`~xtalkit.csp.lattice.LatticeModel` given as itself, a shipped name or an ``.npz`` file."""
    if model is None or not isinstance(model, str | os.PathLike):
        return model
    from xtalkit.pretrained import load

    return load(model, task="lattice").model


def default_lattice_model_path(model_path) -> Path | None:
    """``lattice.npz`` beside a distance-matrix model file (or in its run directory), if present."""
    if model_path is None:
        return None
    p = Path(model_path)
    cand = (p if p.is_dir() else p.parent) / "lattice.npz"
    return cand if cand.is_file() else None


# ------------------------------------------------------------------------------------ relaxation
def _structure_key(structure) -> tuple:
    lat = tuple(np.round(structure.lattice.parameters, 4))
    sites = sorted(
        (site.specie.Z, *np.round(np.mod(np.round(site.frac_coords, 4), 1.0), 4)) for site in structure
    )
    return lat, tuple(sites)


def relax_candidates(records: list[CandidateRecord], config: CSPConfig, bar=None) -> int:
    """Relax the pending candidates with CHGNet in place (identical ones once; module docstring, step 5).

    Args:
        records: candidates; only those with status ``"pending"`` are relaxed.
        config: settings (``relax_steps``, ``fmax``, ``relax_cell``).
        bar: optional tqdm bar, advanced once per pending candidate.

    Returns:
        The number of CHGNet relaxations run.
    """
    from xtalkit.csp.reconstruct import relax

    seen: dict[tuple, CandidateRecord] = {}
    runs = 0
    for rec in records:
        if rec.status != "pending":
            continue
        if bar is not None:
            bar.update()
        key = _structure_key(rec.structure)
        first = seen.get(key)
        if first is not None:
            rec.relaxed, rec.energy, rec.status = first.relaxed, first.energy, first.status
            rec.relaxed_space_group, rec.duplicate_of = first.relaxed_space_group, first.index
            continue
        seen[key] = rec
        runs += 1
        try:
            relaxed, energy = relax(
                rec.structure, steps=config.relax_steps, fmax=config.fmax, relax_cell=config.relax_cell
            )
        except XtalkitError as exc:
            rec.status = f"failed: {exc}"
            continue
        if not math.isfinite(energy):
            rec.status = "failed: energy is not finite"
            continue
        rec.relaxed, rec.energy, rec.status = relaxed, float(energy), "ok"
        rec.relaxed_space_group = _space_group_number(relaxed)
    return runs


def _space_group_number(structure, symprec: float = 0.1) -> int:
    try:
        from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

        return int(SpacegroupAnalyzer(structure, symprec=symprec).get_space_group_number())
    except Exception:  # spglib failures on odd cells
        return 0


def rank_candidates(records: list[CandidateRecord], top_k: int, unique: bool = True) -> list[CandidateRecord]:
    """The top-K by energy per atom (distinct structures with ``unique``); sets ``rank`` on them."""
    from xtalkit.csp.metrics import _matcher

    ok = sorted((r for r in records if r.status == "ok"), key=lambda r: (r.energy, r.index))
    matcher = _matcher(0.2, 0.3, 5.0) if unique else None
    chosen: list[CandidateRecord] = []
    for r in ok:
        if len(chosen) >= top_k:
            break
        if r.duplicate_of >= 0 and unique:
            continue
        if matcher is not None and any(matcher.fit(c.relaxed, r.relaxed) for c in chosen):
            continue
        chosen.append(r)
    for k, r in enumerate(chosen, start=1):
        r.rank = k
    return chosen


# ------------------------------------------------------------------------------------ one formula
def formula_directory(out_dir: str | os.PathLike, formula) -> Path:
    """``OUT/<cell formula in encoding order>`` of a formula."""
    return Path(out_dir) / encode_composition(formula).formula


def predict_formula(
    formula,
    out_dir: str | os.PathLike,
    *,
    model=None,
    lattice_model=None,
    config: CSPConfig | None = None,
    method: str = "alphacrystal",
    space_groups: Sequence[int] | None = None,
    force: bool = False,
) -> FormulaOutcome:
    """Predict the structures of one cell formula and write its directory (module docstring).

    Args:
        formula: cell contents, e.g. ``"Na4Cl4"``.
        out_dir: output root; the formula's files go to ``out_dir/<cell formula>/``.
        model: :class:`~xtalkit.models.distmat.DistMatNet` or its model file
            (not needed by ``method="random"``; default: the shipped model).
        lattice_model: :class:`~xtalkit.csp.lattice.LatticeModel` or its ``.npz``
            (default: the shipped model).
        config: settings.
        method: ``"alphacrystal"`` or ``"random"`` (:mod:`xtalkit.csp.baseline`).
        space_groups: fixed groups instead of the predicted ones.
        force: recompute even if ``summary.json`` exists.

    Returns:
        The :class:`FormulaOutcome` (``"skipped"`` when the summary existed).

    Raises:
        XtalkitError: bad formula (see :func:`check_formula`), missing models, a given
            group that cannot hold the cell.
    """
    cfg = (config or CSPConfig()).check()
    if method not in METHODS:
        raise XtalkitError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    info = check_formula(formula, cfg)
    summary_path = Path(out_dir) / info["formula"] / "summary.json"
    if summary_path.is_file() and not force:
        return predict_formula_loaded(formula, out_dir, None, {}, None, cfg, method, space_groups, force)
    model, lattice_model = default_models(model, lattice_model, method)
    net, net_meta = load_distmat_model(model) if method == "alphacrystal" else (None, {})
    return predict_formula_loaded(
        formula, out_dir, net, net_meta, load_lattice_model(lattice_model), cfg, method, space_groups, force
    )


def default_models(model, lattice_model, method: str = "alphacrystal") -> tuple:
    """The shipped distance-matrix and lattice models where none is given.

    Returns:
        ``(model, lattice_model)``: the arguments, with None replaced by the files of the
        shipped ``alphacrystal-distmat`` (alphacrystal only) and ``alphacrystal-lattice``.

    Raises:
        XtalkitError: a needed shipped model is missing from this installation.
    """
    from xtalkit import pretrained

    if model is None and method == "alphacrystal":
        model = pretrained.path(pretrained.DEFAULT_CSP_MODEL)
    if lattice_model is None:
        lattice_model = pretrained.path(pretrained.DEFAULT_LATTICE_MODEL)
    return model, lattice_model


def predict_formula_loaded(
    formula,
    out_dir,
    net,
    net_meta: dict,
    lat,
    cfg: CSPConfig,
    method: str,
    space_groups,
    force: bool,
    progress: bool = False,
) -> FormulaOutcome:
    """:func:`predict_formula` with the models already loaded (``progress``: stage bar on stderr)."""
    from xtalkit import __version__

    info = check_formula(formula, cfg)
    directory = Path(out_dir) / info["formula"]
    summary_path = directory / "summary.json"
    if summary_path.is_file() and not force:
        try:
            old = json.loads(summary_path.read_text())
        except (OSError, ValueError):
            old = None
        return FormulaOutcome(str(formula), "skipped", info["warning"], str(directory), old)
    if lat is None:
        raise XtalkitError("no lattice model: pass one (train it with `xtalkit csp train-lattice`)")
    if method == "alphacrystal" and net is None:
        raise XtalkitError("no distance-matrix model: pass one (train it with `xtalkit csp train`)")

    t0 = time.time()
    name = info["formula"]
    bar = _stage_bar(name, "groups", len(info["cells"]), progress)
    try:
        targets = None
        if method == "alphacrystal":
            targets = {c: predict_distances(net, c) for c in info["cells"]}
        plan = plan_space_groups(info["cells"], lat, cfg, space_groups)
        bar.update(len(info["cells"]))
        _next_stage(bar, name, "generation", cfg.n_candidates)
        records, notes = generate_candidates(name, plan, cfg, method, targets, bar=bar)
        t1 = time.time()
        screen_candidates(records, cfg, targets, name)
        t2 = time.time()
        _next_stage(bar, name, "relaxation", sum(r.status == "pending" for r in records))
        n_relaxations = relax_candidates(records, cfg, bar)
        t3 = time.time()
        top = rank_candidates(records, cfg.top_k, cfg.unique)
        t4 = time.time()
    finally:
        bar.close()

    directory = Path(out_dir) / name
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("rank_*.cif"):
        stale.unlink()
    files = []
    for r in top:
        fname = f"rank_{r.rank:02d}.cif"
        comment = (
            f"xtalkit csp {method}: {r.cell} rank {r.rank}, candidate {r.index}, "
            f"generated in space group {r.space_group}, CHGNet energy {r.energy:.6f} eV/atom"
        )
        try:
            text = cif_text(r.relaxed, comment, name=f"{r.cell}_rank_{r.rank:02d}")
        except CrystalError as exc:  # a relaxation that ended in an absurd cell is not written
            r.status = f"not written: {exc.problem}"
            continue
        atomic_write(directory / fname, text)
        files.append((r, fname))
    atomic_write(directory / "candidates.csv", candidates_csv(records))
    failed = [r for r in records if r.status.startswith("failed")]
    summary = {
        "formula": name,
        "input": str(formula),
        "method": method,
        "cells": info["cells"],
        "reduced": info["reduced"],
        "n_atoms": info["n_atoms"],
        "charge_balanced": info["charge_balanced"],
        "oxidation_states": info["oxidation_states"],
        "config": cfg.as_dict(),
        "model": net_meta.get("file") if method == "alphacrystal" else None,
        "model_cell": net_meta.get("cell") if method == "alphacrystal" else None,
        "predicted_distances": None
        if targets is None
        else {c: np.round(d[: m.sum(), : m.sum()], 4).tolist() for c, (d, m) in targets.items()},
        "space_groups": plan,
        "n_generated": len(records),
        "n_relaxations": n_relaxations,
        "n_screened_out": sum(r.status in ("duplicate", "screened out") for r in records),
        "n_failed": len(failed),
        "notes": notes,
        "top": [
            {
                "rank": r.rank,
                "file": f,
                "candidate": r.index,
                "energy_per_atom": r.energy,
                "space_group": r.space_group,
                "cell": r.cell,
                "source": r.source,
                "relaxed_space_group": r.relaxed_space_group,
                "wyckoffs": list(r.wyckoffs),
                "ga_loss": None if math.isnan(r.ga_loss) else r.ga_loss,
            }
            for r, f in files
        ],
        "seconds": {
            "generate": t1 - t0,
            "screen": t2 - t1,
            "relax": t3 - t2,
            "rank": t4 - t3,
            "total": time.time() - t0,
        },
        "xtalkit": __version__,
    }
    atomic_write(summary_path, json.dumps(summary, indent=1, allow_nan=False, default=json_default))
    return FormulaOutcome(str(formula), "done", info["warning"], str(directory), summary)


def _stage_bar(name: str, stage: str, total: int, enabled: bool):
    """A tqdm bar on stderr naming the formula and the stage that runs."""
    from tqdm import tqdm

    return tqdm(
        total=total, desc=f"{name}: {stage}", unit="step", disable=not enabled, file=sys.stderr, leave=False
    )


def _next_stage(bar, name: str, stage: str, total: int) -> None:
    bar.reset(total=total)
    bar.set_description(f"{name}: {stage}")
