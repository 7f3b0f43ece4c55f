"""Settings and records of a CSP run (:mod:`xtalkit.csp.pipeline`).

:class:`CSPConfig`, :class:`CandidateRecord`, :class:`FormulaOutcome`, and the
seeding and quota rules.
"""

from __future__ import annotations

import dataclasses
import zlib

import numpy as np

from xtalkit.errors import XtalkitError

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
