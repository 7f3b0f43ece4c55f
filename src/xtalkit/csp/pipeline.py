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
import csv
import dataclasses
import io
import json
import math
import os
import sys
import time
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from xtalkit.csp.encoding import check_charge_balance, encode_composition
from xtalkit.errors import XtalkitError
from xtalkit.io import atomic_write

METHODS = ("alphacrystal", "random")
SCREENS = ("distance", "random")


@dataclasses.dataclass
class CSPConfig:
    """Settings of one prediction run (module docstring).

    Attributes:
        top_k: structures written per formula.
        n_candidates: candidates generated and relaxed per formula (paper: 50).
        n_space_groups: predicted space groups the candidates are split over.
        relax_steps: largest number of CHGNet optimizer steps per candidate.
        fmax: eV/Å, force convergence of the relaxation.
        relax_cell: relax the lattice too.
        population: GA population per template.
        generations: GA generations per template.
        max_combinations: Wyckoff combinations screened per group.
        length_tolerance: relative range of the lattice lengths in the GA.
        angle_tolerance: degrees, range of the free lattice angles in the GA.
        unique: top-K are distinct structures (StructureMatcher).
        require_balanced: an unbalanced formula is an error instead of a flag.
        n_relax: distinct candidates relaxed after screening (:mod:`xtalkit.csp.screen`);
            0 relaxes every candidate without screening (the random baseline at full budget).
        screen: how screening ranks candidates: ``"distance"`` (loss against the predicted
            distance matrix) or ``"random"`` (a seeded random order: the distance-matrix term
            switched off).
        pyxtal_share: alphacrystal: fraction of each group's quota drawn as pyxtal random
            structures instead of GA reconstructions (both are screened together).
        search_z: a reduced formula (counts without common divisor) tries every cell of
            ≤ 12 atoms (:mod:`xtalkit.csp.formulas`); False: the formula is the cell.
        attempts_per_candidate: random baseline: pyxtal attempts per wanted structure.
        group_seconds: wall-time budget of candidate generation in one space group
            (seconds; 0: no limit). Keeps a group whose cell pyxtal cannot fill from
            stalling the run; results depend on machine speed only when it is hit.
        seed: base seed.
    """

    top_k: int = 10
    n_candidates: int = 40
    n_space_groups: int = 5
    relax_steps: int = 100
    fmax: float = 0.1
    relax_cell: bool = True
    population: int = 48
    generations: int = 60
    max_combinations: int = 2000
    length_tolerance: float = 0.1
    angle_tolerance: float = 5.0
    unique: bool = True
    require_balanced: bool = False
    n_relax: int = 12
    screen: str = "distance"
    pyxtal_share: float = 0.5
    search_z: bool = True
    attempts_per_candidate: int = 20
    group_seconds: float = 120.0
    seed: int = 0

    def as_dict(self) -> dict:
        """Plain-data form."""
        return dataclasses.asdict(self)

    def check(self) -> CSPConfig:
        """Raise :class:`XtalkitError` for values that make no sense; return self."""
        if self.top_k < 1 or self.n_candidates < 1 or self.n_space_groups < 1:
            raise XtalkitError("top-k, candidates and space groups must be at least 1")
        if self.relax_steps < 0 or not self.fmax > 0:
            raise XtalkitError("relax steps must be ≥ 0 and fmax > 0")
        if self.population < 2 or self.generations < 0:
            raise XtalkitError("the GA needs a population ≥ 2 and generations ≥ 0")
        if self.length_tolerance < 0 or self.angle_tolerance < 0:
            raise XtalkitError("lattice tolerances must be ≥ 0")
        if not self.group_seconds >= 0:
            raise XtalkitError("the time per space group must be ≥ 0 seconds (0: no limit)")
        if self.n_relax < 0:
            raise XtalkitError("the number of relaxed candidates must be ≥ 0 (0: all)")
        if self.screen not in SCREENS:
            raise XtalkitError(f"screen must be one of {', '.join(SCREENS)}, got {self.screen!r}")
        if not 0.0 <= self.pyxtal_share <= 1.0:
            raise XtalkitError("the pyxtal share must be between 0 and 1")
        return self


@dataclasses.dataclass(eq=False)
class CandidateRecord:
    """One candidate through generation, relaxation and ranking.

    Attributes:
        index: 0-based candidate number of the formula.
        space_group: Group it was generated in.
        wyckoffs: Wyckoff sites, e.g. ``("Na 4a", "Cl 4b")``.
        structure: pymatgen Structure before relaxation.
        ga_loss: Å², GA profile loss (NaN for the random baseline).
        distance_rmse: Å, RMSE to the predicted distance matrix (NaN for the baseline).
        relaxed: relaxed Structure (None if the relaxation failed).
        energy: eV/atom after relaxation (NaN if failed).
        status: ``"ok"`` or ``"failed: <reason>"``.
        duplicate_of: index of an identical earlier candidate whose relaxation it shares (or -1).
        relaxed_space_group: space group of the relaxed structure (spglib, 0.1 Å; 0 if unknown).
        rank: 1-based rank among the written top-K (0: not written).
        cell: cell formula the candidate was built for.
        source: ``"ga"`` (distance-matrix reconstruction) or ``"pyxtal"`` (random).
        screen_score: score of the screening (Å² for ``"distance"``; NaN if not screened).
    """

    index: int
    space_group: int
    wyckoffs: tuple[str, ...]
    structure: object
    ga_loss: float = float("nan")
    distance_rmse: float = float("nan")
    relaxed: object = None
    energy: float = float("nan")
    status: str = "pending"
    duplicate_of: int = -1
    relaxed_space_group: int = 0
    rank: int = 0
    cell: str = ""
    source: str = ""
    screen_score: float = float("nan")


@dataclasses.dataclass
class FormulaOutcome:
    """What happened to one input formula.

    Attributes:
        formula: the formula as given.
        status: ``"done"``, ``"skipped"`` (summary existed) or ``"failed"``.
        message: one line for failures (and warnings such as an unbalanced charge).
        directory: output directory of the formula (None if it could not be read).
        summary: the ``summary.json`` contents (done or skipped).
    """

    formula: str
    status: str
    message: str = ""
    directory: str | None = None
    summary: dict | None = None


def formula_seed(seed: int, formula: str, *extra: int) -> np.random.SeedSequence:
    """``SeedSequence([seed, crc32(formula), *extra])`` (module docstring)."""
    return np.random.SeedSequence([int(seed), zlib.crc32(formula.encode()), *[int(e) for e in extra]])


def split_quota(n: int, groups: int) -> list[int]:
    """``n`` candidates over ``groups`` groups: ``⌊n/G⌋`` each, the remainder to the first ones."""
    base, extra = divmod(int(n), int(groups))
    return [base + (1 if i < extra else 0) for i in range(int(groups))]


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
    from xtalkit.models.checkpoint import load_model
    from xtalkit.models.distmat import DistMatNet

    path = Path(model)
    if path.is_dir():
        path = path / "model.pt"
    net, meta = load_model(path)
    if not isinstance(net, DistMatNet):
        raise XtalkitError(f"{path}: a {type(net).__name__} model, not a distance-matrix network")
    return net, {**meta, "file": str(path)}


def _load_lattice(model):
    if model is None or not isinstance(model, str | os.PathLike):
        return model
    from xtalkit.csp.lattice import LatticeModel

    return LatticeModel.load(model)


def default_lattice_model_path(model_path) -> Path | None:
    """``lattice.npz`` beside a distance-matrix model file (or in its run directory), if present."""
    if model_path is None:
        return None
    p = Path(model_path)
    cand = (p if p.is_dir() else p.parent) / "lattice.npz"
    return cand if cand.is_file() else None


# ------------------------------------------------------------------------------------ planning
def plan_space_groups(
    formula, lattice_model, config: CSPConfig, space_groups: Sequence[int] | None = None
) -> list[dict]:
    """Groups, their cells, lattices and candidate quotas for one formula.

    With several cells (a reduced formula, :mod:`xtalkit.csp.formulas`) every
    (group, cell) pair the lattice model proposes competes: pairs are ranked by
    the group's score, a group is used once, in the smallest cell that it can
    hold, and the ``n_space_groups`` best pairs are kept.

    Args:
        formula: cell formula (encoding order) or a sequence of cell formulas, smallest first.
        lattice_model: :class:`~xtalkit.csp.lattice.LatticeModel`.
        config: settings (``n_space_groups``, ``n_candidates``).
        space_groups: use these groups (in this order) instead of the predicted ones.

    Returns:
        ``[{"space_group", "symbol", "crystal_system", "score", "cell", "n_atoms", "lattice",
        "quota"}, ...]``.

    Raises:
        XtalkitError: a given group that can hold none of the cells.
    """
    from xtalkit.csp.data import crystal_system
    from xtalkit.csp.lattice import holds_composition, space_group_symbol

    cells = [encode_composition(f).formula for f in ([formula] if isinstance(formula, str) else formula)]
    counts = [np.unique(encode_composition(c).numbers, return_counts=True)[1].tolist() for c in cells]
    guesses = []
    if space_groups:
        for g in space_groups:
            fits = [c for c, n in zip(cells, counts, strict=True) if holds_composition(int(g), n)]
            if not fits:
                raise XtalkitError(
                    f"{cells[0]}: space group {g} ({space_group_symbol(int(g))}) has no combination of "
                    f"Wyckoff positions for these atoms in its conventional cell ({', '.join(cells)})"
                )
            guesses.append((int(g), space_group_symbol(int(g)), crystal_system(int(g)), None, fits[0]))
    else:
        pairs = [
            (-s.score, k, s.number, s.symbol, s.crystal_system, s.score, c)
            for k, c in enumerate(cells)
            for s in lattice_model.top_space_groups(c, config.n_space_groups)
        ]
        used: set[int] = set()
        for *_, g, sym, system, score, c in sorted(pairs, key=lambda p: p[:3]):
            if g not in used and len(guesses) < config.n_space_groups:
                used.add(g)
                guesses.append((g, sym, system, score, c))
    quotas = split_quota(config.n_candidates, len(guesses))
    return [
        {
            "space_group": g,
            "symbol": sym,
            "crystal_system": system,
            "score": score,
            "cell": c,
            "n_atoms": encode_composition(c).num_atoms,
            "lattice": [float(v) for v in lattice_model.lattice(c, g)],
            "quota": q,
        }
        for (g, sym, system, score, c), q in zip(guesses, quotas, strict=True)
    ]


# ------------------------------------------------------------------------------------ generation
def _ga_candidates(
    cell: str, group: dict, want: int, distances, mask, config: CSPConfig, start: int, deadline: float | None
):
    """Up to ``want`` GA candidates in one group (restarts until the quota or the deadline is met)."""
    from xtalkit.csp.reconstruct import reconstruct

    out = []
    restart = start
    while len(out) < want and restart < start + want:
        if out and deadline is not None and time.monotonic() >= deadline:
            break
        rng = np.random.default_rng(formula_seed(config.seed, cell, group["space_group"], restart))
        restart += 1
        cands = reconstruct(
            cell,
            group["space_group"],
            group["lattice"],
            distances,
            mask,
            population=config.population,
            generations=config.generations,
            max_templates=want - len(out),
            max_combinations=config.max_combinations,
            n_candidates=None,
            length_tolerance=config.length_tolerance,
            angle_tolerance=config.angle_tolerance,
            seed=rng,
            deadline=deadline,
        )
        if not cands:
            break
        for c in cands[: want - len(out)]:
            out.append((c.structure, tuple(c.wyckoffs), float(c.loss), float(c.distance_rmse), "ga"))
    return out, restart


def _random_candidates(cell: str, group: dict, want: int, config: CSPConfig, start: int, deadline):
    from xtalkit.csp.baseline import random_structures

    got, used = random_structures(
        cell,
        group["space_group"],
        group["lattice"],
        want,
        seed=config.seed,
        attempts_per_candidate=config.attempts_per_candidate,
        first_attempt=start,
        deadline=deadline,
    )
    return [(s, w, float("nan"), float("nan"), "pyxtal") for s, w in got], start + used


def generate_candidates(
    formula: str, plan: list[dict], config: CSPConfig, method: str, distances=None, mask=None, bar=None
) -> tuple[list[CandidateRecord], list[str]]:
    """Candidates of one formula over the planned groups (module docstring, step 4).

    ``alphacrystal`` fills each group's quota with GA reconstructions, except a
    ``pyxtal_share`` of it drawn as pyxtal random structures (also what the GA
    cannot build); ``random`` uses pyxtal only.

    Args:
        formula: cell formula of plan entries without a ``"cell"``.
        plan: :func:`plan_space_groups` output.
        config: settings.
        method: ``"alphacrystal"`` or ``"random"``.
        distances: predicted (12, 12) distances of ``formula``, or a mapping
            cell formula → ``(distances, mask)`` (alphacrystal).
        mask: (12,) atom mask of ``distances`` when it is an array.
        bar: optional tqdm bar, advanced by the candidates of each group.

    Returns:
        ``(candidates, notes)``; notes are one-line messages about groups that
        could not produce their quota.
    """
    if method not in METHODS:
        raise XtalkitError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    targets = (
        distances if isinstance(distances, dict) else {encode_composition(formula).formula: (distances, mask)}
    )
    records: list[CandidateRecord] = []
    notes: list[str] = []
    cursor = {(g["space_group"], src): 0 for g in plan for src in ("ga", "pyxtal")}
    produced = {g["space_group"]: 0 for g in plan}

    def draw(group: dict, cell: str, source: str, want: int, deadline) -> list:
        key = (group["space_group"], source)
        if source == "ga":
            d, m = targets[cell]
            got, cursor[key] = _ga_candidates(cell, group, want, d, m, config, cursor[key], deadline)
        else:
            got, cursor[key] = _random_candidates(cell, group, want, config, cursor[key], deadline)
        return got

    def run(group: dict, want: int) -> int:
        if want <= 0:
            return 0
        g = group["space_group"]
        cell = group.get("cell") or encode_composition(formula).formula
        t0 = time.monotonic()
        deadline = t0 + config.group_seconds if config.group_seconds > 0 else None
        n_pyxtal = want if method == "random" else round(config.pyxtal_share * want)
        got = []
        try:
            if n_pyxtal < want:
                got += draw(group, cell, "ga", want - n_pyxtal, deadline)
            if len(got) < want:
                got += draw(group, cell, "pyxtal", want - len(got), deadline)
        except XtalkitError as exc:
            notes.append(f"space group {g}: {exc}")
        if len(got) < want and deadline is not None and time.monotonic() >= deadline:
            notes.append(
                f"space group {g}: time limit ({config.group_seconds:g} s) reached after "
                f"{time.monotonic() - t0:.0f} s with {len(got)} of {want} candidates"
            )
        for s, w, loss, rmse, source in got:
            records.append(
                CandidateRecord(
                    len(records), g, w, s, ga_loss=loss, distance_rmse=rmse, cell=cell, source=source
                )
            )
        produced[g] += len(got)
        if bar is not None:
            bar.update(len(got))
        return len(got)

    carry = 0
    for group in plan:
        want = group["quota"] + carry
        carry = want - run(group, want)
    for group in plan:  # a deficit goes to the groups that could produce
        if carry <= 0:
            break
        if produced[group["space_group"]] > 0:
            carry -= run(group, carry)
    if carry > 0:
        notes.append(f"{carry} of {sum(g['quota'] for g in plan)} candidates could not be generated")
    return records, notes


# ------------------------------------------------------------------------------------ screening
def screen_candidates(
    records: list[CandidateRecord], config: CSPConfig, distances=None, formula: str = ""
) -> None:
    """Keep the ``n_relax`` best distinct candidates for relaxation (:mod:`xtalkit.csp.screen`).

    Sets ``screen_score`` on every candidate; the others get the status
    ``"duplicate"`` (``duplicate_of`` names the kept look-alike) or
    ``"screened out"`` and are not relaxed. ``n_relax = 0`` leaves every candidate
    pending (no screening).

    Args:
        records: candidates, status ``"pending"``.
        config: settings (``n_relax``, ``screen``, ``seed``).
        distances: mapping cell formula → ``(distances, mask)`` (``screen="distance"``).
        formula: formula name, seeds the ``"random"`` order.

    Raises:
        XtalkitError: ``screen="distance"`` without predicted distances.
    """
    from xtalkit.csp.screen import distance_loss, screen

    if config.n_relax <= 0 or not records:
        return
    if config.screen == "distance":
        if distances is None:
            raise XtalkitError(
                "screening by distance needs the predicted distance matrix (method alphacrystal)"
            )
        scores = np.array(
            [
                r.ga_loss if r.source == "ga" else distance_loss(r.structure, *distances[r.cell])
                for r in records
            ]
        )
    else:
        rng = np.random.default_rng(formula_seed(config.seed, formula, len(records)))
        scores = rng.permutation(len(records)).astype(float)
    kept, representative = screen([r.structure for r in records], scores, config.n_relax)
    keep = set(kept.tolist())
    for r, score, rep in zip(records, scores, representative, strict=True):
        r.screen_score = float(score)
        if r.index in keep:
            continue
        if rep != r.index:
            r.status, r.duplicate_of = "duplicate", int(rep)
        else:
            r.status = "screened out"


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
def _cif_text(structure, comment: str) -> str:
    from pymatgen.io.cif import CifWriter

    return f"# {comment}\n{CifWriter(structure)}"


def _fmt(x: float, digits: int = 6) -> str:
    return "" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def _candidates_csv(records: list[CandidateRecord]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        ["index", "rank", "cell", "space_group", "source", "wyckoffs", "ga_loss_A2", "distance_rmse_A",
         "screen_score", "energy_eV_per_atom", "relaxed_space_group", "volume_A3", "status", "duplicate_of"]
    )  # fmt: skip
    for r in records:
        vol = r.relaxed.volume if r.relaxed is not None else float("nan")
        w.writerow(
            [
                r.index,
                r.rank or "",
                r.cell,
                r.space_group,
                r.source,
                " ".join(w_.replace(" ", ":") for w_ in r.wyckoffs),
                _fmt(r.ga_loss),
                _fmt(r.distance_rmse),
                _fmt(r.screen_score),
                _fmt(r.energy),
                r.relaxed_space_group or "",
                _fmt(vol, 4),
                r.status,
                r.duplicate_of if r.duplicate_of >= 0 else "",
            ]
        )
    return buf.getvalue()


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
            targets = {c: net.predict_formula(c) for c in info["cells"]}
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
        atomic_write(directory / fname, _cif_text(r.relaxed, comment))
        files.append(fname)
    atomic_write(directory / "candidates.csv", _candidates_csv(records))
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
            for r, f in zip(top, files, strict=True)
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
    atomic_write(summary_path, json.dumps(summary, indent=1, allow_nan=False, default=_json_default))
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


def _json_default(x):
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(f"{type(x).__name__} is not JSON serializable")


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


def write_summary_table(out_dir: str | os.PathLike) -> Path | None:
    """``OUT/summary.csv``: one row per formula directory with a ``summary.json`` (None if there is none)."""
    root = Path(out_dir)
    rows = []
    for p in sorted(root.glob("*/summary.json")):
        try:
            s = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        best = s.get("top", [{}])[0] if s.get("top") else {}
        rows.append(
            [
                s.get("formula"),
                s.get("method"),
                s.get("n_atoms"),
                s.get("charge_balanced"),
                s.get("n_generated"),
                s.get("n_failed"),
                len(s.get("top", [])),
                _fmt(best.get("energy_per_atom", float("nan"))),
                f"{p.parent.name}/{best['file']}" if best.get("file") else "",
                _fmt(s.get("seconds", {}).get("total", float("nan")), 1),
            ]
        )
    if not rows:
        return None
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        [
            "formula",
            "method",
            "n_atoms",
            "charge_balanced",
            "n_candidates",
            "n_failed",
            "n_written",
            "best_energy_eV_per_atom",
            "best_file",
            "seconds",
        ]
    )
    w.writerows(rows)
    return atomic_write(root / "summary.csv", buf.getvalue())


# ------------------------------------------------------------------------------------ evaluation
def find_prediction(pred_dir: str | os.PathLike) -> Path:
    """The formula directory of a prediction: ``pred_dir`` itself, or its only sub-directory with a summary.

    Raises:
        XtalkitError: no ``summary.json`` there, or several formula directories.
    """
    p = Path(pred_dir)
    if (p / "summary.json").is_file():
        return p
    subs = sorted(q.parent for q in p.glob("*/summary.json"))
    if len(subs) == 1:
        return subs[0]
    if not p.is_dir():
        raise XtalkitError(f"{p}: no such directory")
    if not subs:
        raise XtalkitError(f"{p}: no summary.json (not a `xtalkit csp predict` output)")
    raise XtalkitError(f"{p}: {len(subs)} formula directories; name one of them")


def evaluate_prediction(
    pred_dir: str | os.PathLike, true_structure, *, top: int | None = None, energy: bool = True
) -> dict:
    """Compare the written top-K of a prediction with the true structure (preprint §2.5).

    Per candidate (rank order): StructureMatcher match and RMS
    (:data:`~xtalkit.csp.metrics.MATCH_TOLERANCES`), energy distance (CHGNet energy
    per atom of the candidate and of the true structure, both as they are,
    eV/atom), Wyckoff RMSE (eq. 3, defined when they match), 8 Å distance-map
    overlap (eq. 4) and superpose distance (Å). The last two compare cells with
    the same number of atoms: the true structure's conventional cell in
    pyxtal's setting (:func:`~xtalkit.csp.reconstruct.standard_setting`), or
    its cell as given when that has the candidate's size; None otherwise.

    Args:
        pred_dir: a formula directory of ``xtalkit csp predict`` (or a root holding one).
        true_structure: pymatgen Structure, xtalkit Crystal or a CIF path.
        top: evaluate only the first ``top`` ranks.
        energy: compute energy distances (CHGNet; a model load and one call per structure).

    Returns:
        ``{"formula", "true_formula", "n", "candidates": [...], "match_rank", "best_rms",
        "best_superpose", "best_energy_distance"}``.

    Raises:
        XtalkitError: unreadable prediction or CIF, or different compositions.
    """
    from pymatgen.core import Structure

    from xtalkit.csp.encoding import _as_structure, distance_target
    from xtalkit.csp.metrics import (
        distance_map_overlap,
        energy_distance,
        structure_match,
        structure_rms,
        superpose_distance,
        wyckoff_rmse,
    )
    from xtalkit.csp.reconstruct import standard_setting

    d = find_prediction(pred_dir)
    try:
        summary = json.loads((d / "summary.json").read_text())
    except (OSError, ValueError) as exc:
        raise XtalkitError(f"{d}/summary.json: unreadable ({type(exc).__name__})") from None
    if isinstance(true_structure, str | os.PathLike):
        from xtalkit.crystal.cif import read_crystal

        true = read_crystal(Path(true_structure)).to_pymatgen()
    else:
        true = _as_structure(true_structure)
    true = Structure(true.lattice, [site.species for site in true], true.frac_coords)  # no site properties
    entries = summary.get("top", [])[: top if top else None]
    cands = []
    for e in entries:
        try:
            cands.append(Structure.from_file(d / e["file"]))
        except Exception as exc:
            raise XtalkitError(f"{d / e['file']}: unreadable ({type(exc).__name__})") from None
    if cands and cands[0].composition.reduced_composition != true.composition.reduced_composition:
        raise XtalkitError(
            f"the prediction is {cands[0].composition.reduced_formula}, the true structure "
            f"{true.composition.reduced_formula}"
        )
    try:
        conv, _ = standard_setting(true, max_atoms=10**6)
    except XtalkitError:
        conv = true

    def same_cell(c):
        for ref in (conv, true):
            if sorted(s.specie.Z for s in ref) == sorted(s.specie.Z for s in c):
                return ref
        return None

    def safe(fn, *args):
        try:
            return float(fn(*args))
        except XtalkitError:
            return None

    rows = []
    for e, c in zip(entries, cands, strict=True):
        match = structure_match(c, true)
        ref = same_cell(c)
        overlap = None
        if ref is not None and len(c) <= 12:
            tc, tt = distance_target(c), distance_target(ref)
            overlap = safe(distance_map_overlap, tc.distances, tt.distances, tt.pair_mask)
        rows.append(
            {
                "rank": e["rank"],
                "file": e["file"],
                "energy_per_atom": e.get("energy_per_atom"),
                "match": match,
                "rms": safe(structure_rms, c, true) if match else None,
                "energy_distance": safe(energy_distance, c, true) if energy else None,
                "wyckoff_rmse": safe(wyckoff_rmse, c, true) if match else None,
                "distance_map_overlap": overlap,
                "superpose_distance": safe(superpose_distance, c, ref) if ref is not None else None,
            }
        )

    def best(key):
        vals = [r[key] for r in rows if r[key] is not None]
        return min(vals) if vals else None

    match_rank = next((r["rank"] for r in rows if r["match"]), None)
    return {
        "directory": str(d),
        "formula": summary.get("formula"),
        "method": summary.get("method"),
        "true_formula": true.composition.formula.replace(" ", ""),
        "n": len(rows),
        "candidates": rows,
        "match_rank": match_rank,
        "best_rms": best("rms"),
        "best_superpose": best("superpose_distance"),
        "best_energy_distance": best("energy_distance"),
    }
