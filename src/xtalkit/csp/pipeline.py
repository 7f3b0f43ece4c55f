r"""AlphaCrystal-II end to end (preprint §2.1, Fig. 1): formula → top-K relaxed structures.

For every formula, as users write it (:mod:`xtalkit.csp.formulas`): a reduced
formula (``"LiGaSi"``, counts without a common divisor) is tried in every cell
of ≤ 12 atoms (1, 2, 3, 4 formula units), cell contents (``"Li2Ga2Si2"``,
``"Na4Cl4"`` — rock salt's Fm-3m cell) in that cell only; ``search_z=False``
takes a reduced formula as the cell too:

1. **Check.** The formula is parsed and encoded (≤ 12 atoms per cell, known
   elements, whole numbers; otherwise a one-line
   :class:`~xtalkit.errors.XtalkitError`), and its charge balance is checked
   with common oxidation states
   (:func:`~xtalkit.csp.encoding.check_charge_balance`). An unbalanced formula
   (typical of intermetallics such as TiIn of the paper's Table 3) is *predicted
   anyway* and flagged (``charge_balanced: false`` in the summary, a warning line
   on the command line); ``require_balanced=True`` makes it an error instead.
2. **Distance matrix.** The network (:class:`~xtalkit.models.distmat.DistMatNet`)
   predicts the group of every atom pair of every cell tried; the bin centres
   (Å) are the target.
3. **Space groups and lattice.** :class:`~xtalkit.csp.lattice.LatticeModel`
   ranks the groups that can hold a cell (``n_space_groups`` best over all cells
   tried, each group in the smallest cell it can hold, P1 added when fewer
   qualify; :func:`plan_space_groups`) and gives each a lattice (Å, degrees).
4. **Candidates.** ``n_candidates`` are split over the groups: ``⌊n/G⌋``
   each, the remainder one by one to the best-ranked groups. In each group
   :func:`~xtalkit.csp.reconstruct.reconstruct` (the DMCrystal-like GA of §2.4)
   runs with ``max_templates`` = the group's quota and returns one candidate per
   Wyckoff template, best loss first; when a group has fewer templates than its
   quota, the GA is restarted with new seeds until the quota is met. A share
   ``pyxtal_share`` of each quota (and whatever the GA cannot build) is drawn as
   pyxtal random structures instead. A group that can produce nothing passes its
   quota on to the next group. The lattice may move by ± ``length_tolerance``
   (relative) and ± ``angle_tolerance`` degrees (free angles only) during the
   GA, since the predicted lattice and distances are not exact. Each group's
   generation has ``group_seconds`` of wall time (checked between GA templates,
   restarts and random draws; at least one of each runs); a group that runs out
   passes what it lacks on, and the summary's notes say so.
5. **Screening** (:mod:`xtalkit.csp.screen`, :func:`screen_candidates`).
   Candidates that ``StructureMatcher`` matches before relaxation are one
   structure; of the distinct ones, the ``n_relax`` with the lowest loss against
   the predicted distance matrix (``screen="distance"``; ``"random"``: a seeded
   random order, the distance-matrix term switched off) are relaxed, the others
   are kept in ``candidates.csv`` as ``duplicate`` / ``screened out``.
   ``n_relax = 0`` relaxes every candidate (the random baseline at full budget).
6. **Relaxation.** The kept candidates are relaxed with CHGNet (positions and
   cell, FIRE, at most ``relax_steps`` steps, ``fmax`` eV/Å;
   :func:`~xtalkit.csp.reconstruct.relax`; the paper uses M3GNet). Candidates
   identical before relaxation (lattice and sorted fractional coordinates equal
   to 10⁻⁴) are relaxed once and share the result. A failed relaxation is
   recorded and the candidate is not ranked.
7. **Ranking.** By CHGNet energy per atom (eV/atom, comparable across the
   cells tried), lowest first. The top-K written are the K lowest-energy
   *distinct* relaxed structures (``unique``: a structure that pymatgen's
   ``StructureMatcher`` with its default tolerances — ltol 0.2, stol 0.3, 5° —
   matches to one already chosen is skipped), so that K files are K different
   structures.

Outputs in ``OUT/<formula>/`` (the formula in encoding order, reduced or the
cell as given): ``rank_01.cif`` … (relaxed structures, P1 CIF),
``candidates.csv`` (every candidate: cell, group, source, Wyckoff sites, GA
loss, distance RMSE, screening score, energy, symmetry after relaxation,
status, rank) and ``summary.json`` (settings, cells tried, predicted distance
matrices and lattices, the top-K with energies, timings per stage), written
last and atomically: a formula whose ``summary.json`` exists is skipped by a
later run (resumable; ``force`` recomputes). ``OUT/summary.csv`` lists every
formula directory.

Models: the shipped ``alphacrystal-distmat`` and ``alphacrystal-lattice``
(:mod:`xtalkit.pretrained`) unless others are given.

Seeds: the GA of group ``g``, restart ``r`` uses
``SeedSequence([seed, crc32(cell formula), g, r])``, so results depend neither
on the order of the formulas nor on the number of worker processes.

The random baseline (:mod:`xtalkit.csp.baseline`, ``method="random"``) draws
every candidate with pyxtal in step 4; with ``n_relax = 0`` it relaxes them all.
"""

from __future__ import annotations

import concurrent.futures
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
    SCREENS,
    CandidateRecord,
    CSPConfig,
    FormulaOutcome,
    formula_seed,
    split_quota,
)
from xtalkit.csp.encoding import check_charge_balance, encode_composition, predict_distances
from xtalkit.csp.evaluate import evaluate_prediction, find_prediction
from xtalkit.csp.generate import generate_candidates, plan_space_groups, screen_candidates
from xtalkit.csp.outputs import candidates_csv, cif_text, json_default, write_summary_table
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


def _load_distmat(model):
    if model is None or not isinstance(model, str | os.PathLike):
        return model, {}
    from xtalkit.models.distmat import DistMatNet
    from xtalkit.pretrained import load

    loaded = load(model)
    if not isinstance(loaded.model, DistMatNet):
        kind = type(loaded.model).__name__
        raise XtalkitError(f"{loaded.path}: a {kind} model, not a distance-matrix network")
    return loaded.model, {**loaded.metadata, "file": str(loaded.path)}


def _load_lattice(model):
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
        return _predict_loaded(formula, out_dir, None, {}, None, cfg, method, space_groups, force)
    model, lattice_model = default_models(model, lattice_model, method)
    net, net_meta = _load_distmat(model) if method == "alphacrystal" else (None, {})
    return _predict_loaded(
        formula, out_dir, net, net_meta, _load_lattice(lattice_model), cfg, method, space_groups, force
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


def _predict_loaded(
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


# ------------------------------------------------------------------------------------ many formulas
_WORKER: dict = {}


def _init_worker(model, lattice_model, threads: int) -> None:
    import torch

    torch.set_num_threads(max(1, threads))
    net, meta = _load_distmat(model)
    _WORKER.update(model=net, meta=meta, lattice=_load_lattice(lattice_model))


def _worker_task(args: tuple) -> FormulaOutcome:
    formula, out_dir, config, method, space_groups, force, progress = args
    try:
        return _predict_loaded(
            formula,
            out_dir,
            _WORKER.get("model"),
            _WORKER.get("meta", {}),
            _WORKER.get("lattice"),
            config,
            method,
            space_groups,
            force,
            progress,
        )
    except XtalkitError as exc:
        return FormulaOutcome(str(formula), "failed", str(exc))


def predict(
    formulas: Sequence,
    out_dir: str | os.PathLike,
    *,
    model=None,
    lattice_model=None,
    config: CSPConfig | None = None,
    method: str = "alphacrystal",
    workers: int = 1,
    threads_per_worker: int = 1,
    space_groups: Sequence[int] | None = None,
    force: bool = False,
    progress: bool = False,
) -> list[FormulaOutcome]:
    """Predict many formulas: checks first, then a worker pool over formulas (module docstring).

    A formula that cannot be read, has more than 12 atoms or (with
    ``require_balanced``) no charge balance fails with a one-line message
    before any model is loaded; the others go on. Formulas whose
    ``summary.json`` exists are skipped unless ``force``. ``OUT/summary.csv``
    is rewritten at the end.

    Args:
        formulas: cell formulas.
        out_dir: output root.
        model: distance-matrix network or its file (``method="alphacrystal"``; default:
            the shipped ``alphacrystal-distmat``).
        lattice_model: lattice model or its file (default: the shipped ``alphacrystal-lattice``).
        config: settings.
        method: ``"alphacrystal"`` or ``"random"``.
        workers: processes (1: this process); each loads the models once and
            uses ``threads_per_worker`` torch threads.
        threads_per_worker: torch threads per worker process.
        space_groups: fixed groups for every formula instead of predicted ones.
        force: recompute formulas that have a summary.
        progress: tqdm bar over formulas on stderr, and with one worker a bar naming the
            stage of the running formula (groups, generation, relaxation).

    Returns:
        One :class:`FormulaOutcome` per distinct input formula, in input order.
    """
    from tqdm import tqdm

    cfg = (config or CSPConfig()).check()
    if method not in METHODS:
        raise XtalkitError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    outcomes: dict[int, FormulaOutcome] = {}
    todo: list[tuple[int, str]] = []
    seen: set[str] = set()
    pending = False
    for i, f in enumerate(formulas):
        try:
            cell = check_formula(f, cfg)["formula"]
        except XtalkitError as exc:
            outcomes[i] = FormulaOutcome(str(f), "failed", str(exc))
            continue
        if cell in seen:
            continue
        seen.add(cell)
        todo.append((i, str(f)))
        pending = pending or force or not (Path(out_dir) / cell / "summary.json").is_file()
    if pending:
        model, lattice_model = default_models(model, lattice_model, method)
    groups = list(space_groups) if space_groups else None
    stages = progress and (workers <= 1 or len(todo) <= 1)  # a stage bar per formula in this process
    jobs = [(f, str(out_dir), cfg, method, groups, force, stages) for _, f in todo]
    bar = tqdm(total=len(jobs), desc="formulas", unit="formula", disable=not progress, file=sys.stderr)
    try:
        if workers <= 1 or len(jobs) <= 1 or not pending:
            # models are loaded only when some formula has no summary yet
            _init_worker(model if method == "alphacrystal" and pending else None,
                         lattice_model if pending else None, torch_threads())  # fmt: skip
            try:
                for (i, _), job in zip(todo, jobs, strict=True):
                    outcomes[i] = _worker_task(job)
                    bar.update()
            finally:
                _WORKER.clear()
        else:
            import multiprocessing as mp

            ctx = mp.get_context("spawn")
            with concurrent.futures.ProcessPoolExecutor(
                max_workers=workers,
                mp_context=ctx,
                initializer=_init_worker,
                initargs=(model if method == "alphacrystal" else None, lattice_model, threads_per_worker),
            ) as pool:
                futures = {pool.submit(_worker_task, job): i for (i, _), job in zip(todo, jobs, strict=True)}
                for fut in concurrent.futures.as_completed(futures):
                    i = futures[fut]
                    try:
                        outcomes[i] = fut.result()
                    except Exception as exc:  # a crashed worker
                        message = f"worker failed: {type(exc).__name__}: {exc}"
                        outcomes[i] = FormulaOutcome(dict(todo)[i], "failed", message)
                    bar.update()
    finally:
        bar.close()
    write_summary_table(out_dir)
    return [outcomes[i] for i in sorted(outcomes)]


def torch_threads() -> int:
    """The current number of torch threads (kept by an in-process run)."""
    import torch

    return torch.get_num_threads()


__all__ = [
    "METHODS",
    "SCREENS",
    "CSPConfig",
    "CandidateRecord",
    "FormulaOutcome",
    "check_formula",
    "default_models",
    "evaluate_prediction",
    "find_prediction",
    "formula_seed",
    "generate_candidates",
    "plan_space_groups",
    "predict",
    "predict_formula",
    "rank_candidates",
    "relax_candidates",
    "screen_candidates",
    "split_quota",
    "write_summary_table",
]
