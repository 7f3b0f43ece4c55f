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

The stages of one formula are in :mod:`xtalkit.csp.stages`; this module runs
many formulas (:func:`predict`: checks first, then a worker pool over formulas)
and gathers the pipeline's public names.

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
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from xtalkit.csp.config import (
    METHODS,
    SCREENS,
    CandidateRecord,
    CSPConfig,
    FormulaOutcome,
    formula_seed,
    split_quota,
)
from xtalkit.csp.evaluate import evaluate_prediction, find_prediction
from xtalkit.csp.generate import generate_candidates, plan_space_groups, screen_candidates
from xtalkit.csp.outputs import write_summary_table
from xtalkit.csp.stages import (
    check_formula,
    default_lattice_model_path,
    default_models,
    load_distmat_model,
    load_lattice_model,
    predict_formula,
    predict_formula_loaded,
    rank_candidates,
    relax_candidates,
)
from xtalkit.errors import XtalkitError

_WORKER: dict = {}


def _init_worker(model, lattice_model, threads: int) -> None:
    import torch

    torch.set_num_threads(max(1, threads))
    net, meta = load_distmat_model(model)
    _WORKER.update(model=net, meta=meta, lattice=load_lattice_model(lattice_model))


def _worker_task(args: tuple) -> FormulaOutcome:
    formula, out_dir, config, method, space_groups, force, progress = args
    try:
        return predict_formula_loaded(
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
    "default_lattice_model_path",
    "default_models",
    "evaluate_prediction",
    "find_prediction",
    "formula_seed",
    "generate_candidates",
    "load_distmat_model",
    "load_lattice_model",
    "plan_space_groups",
    "predict",
    "predict_formula",
    "rank_candidates",
    "relax_candidates",
    "screen_candidates",
    "split_quota",
    "write_summary_table",
]
