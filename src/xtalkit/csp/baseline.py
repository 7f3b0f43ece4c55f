r"""Random symmetric search: the baseline AlphaCrystal-II has to beat at equal budget.

Candidates are pyxtal's random symmetric structures (``pyxtal.from_random``:
a random combination of Wyckoff positions of the group that holds the cell,
random free coordinates, pyxtal's default atomic distance tolerances) in the
*same* space groups and the *same* predicted lattices as
:mod:`xtalkit.csp.pipeline` uses, with the same number of candidates per
group; the relaxation (CHGNet, same steps and force threshold), ranking by
energy per atom, top-K selection and output files are the pipeline's. Only the
distance matrix is not used. Run it with ``predict(..., method="random")`` or
``xtalkit csp predict --method random``.

Draws. Candidate attempt ``j`` of group ``g`` uses
``random_state = SeedSequence([seed, crc32(formula), g, j])`` (first 32 bits),
so results do not depend on the order in which formulas run. pyxtal may fail
to place the atoms in a fixed cell (its distance tolerances); a group gets up
to ``attempts_per_candidate × quota`` attempts, and what a group cannot
produce is carried over to the next group in the ranking (then to the groups
that did produce, as for the pipeline), so that both methods relax the same
number of candidates whenever pyxtal can place the atoms at all.

Time limit. A group whose cell pyxtal cannot fill (say two atoms 1.3 Å apart
along a short c axis) fails every attempt, and each failed attempt costs
pyxtal's own give-up time (about 12 s on one core): 20 attempts × quota would
run for half an hour. ``deadline`` (``time.monotonic()`` seconds, set from
``CSPConfig.group_seconds``) is checked before every attempt after the first,
so a group stops within one attempt of its budget. Draws stay seeded; only
*how many* of them are made depends on machine speed when the limit is hit.
"""

from __future__ import annotations

import contextlib
import io
import time
import warnings
import zlib

import numpy as np

from xtalkit.csp.encoding import encode_composition
from xtalkit.elements import SYMBOLS


def _random_state(seed: int, formula: str, space_group: int, attempt: int) -> int:
    ss = np.random.SeedSequence([int(seed), zlib.crc32(formula.encode()), int(space_group), int(attempt)])
    return int(ss.generate_state(1)[0])


def random_structures(
    formula,
    space_group: int,
    lattice_parameters,
    n: int,
    *,
    seed: int = 0,
    attempts_per_candidate: int = 20,
    first_attempt: int = 0,
    deadline: float | None = None,
) -> tuple[list[tuple[object, tuple[str, ...]]], int]:
    """Up to ``n`` random symmetric structures of a cell in one space group and a fixed lattice.

    Args:
        formula: cell contents (conventional cell of the group), e.g. ``"Na4Cl4"``.
        space_group: International number.
        lattice_parameters: (a, b, c, α, β, γ), Å and degrees (pyxtal's setting of the group).
        n: structures wanted.
        seed: base seed (module docstring).
        attempts_per_candidate: pyxtal attempts allowed per wanted structure.
        first_attempt: index of the first attempt (continue a sequence of draws).
        deadline: ``time.monotonic()`` value after which no further attempt starts
            (the first attempt always runs); None: no time limit.

    Returns:
        ``([(pymatgen Structure, wyckoff labels), ...], attempts used)``; fewer than ``n``
        structures when pyxtal keeps failing or the deadline passes.
    """
    from pyxtal import pyxtal
    from pyxtal.lattice import Lattice as PyxtalLattice

    from xtalkit.csp.lattice import _group_info

    enc = encode_composition(formula)
    zs, counts = np.unique(enc.numbers, return_counts=True)
    order = np.argsort([np.flatnonzero(enc.numbers == z)[0] for z in zs])  # encoding order
    species = [SYMBOLS[int(zs[i])] for i in order]
    num = [int(counts[i]) for i in order]
    lattice_type = _group_info(int(space_group))[1]
    out: list[tuple[object, tuple[str, ...]]] = []
    attempt = first_attempt
    limit = first_attempt + max(1, attempts_per_candidate) * max(n, 0)
    while len(out) < n and attempt < limit:
        if deadline is not None and attempt > first_attempt and time.monotonic() >= deadline:
            break
        state = _random_state(seed, enc.formula, space_group, attempt)
        attempt += 1
        px = pyxtal()
        try:
            lat = PyxtalLattice.from_para(
                *[float(v) for v in lattice_parameters], ltype=lattice_type, random_state=state
            )  # the lattice has its own generator, used while placing atoms
            with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                px.from_random(3, int(space_group), species, num, lattice=lat, random_state=state)
        except Exception:  # pyxtal signals "cannot place the atoms" with several exception types
            continue
        if not px.valid:
            continue
        labels = tuple(f"{s.specie} {s.wp.multiplicity}{s.wp.letter}" for s in px.atom_sites)
        out.append((px.to_pymatgen(), labels))
    return out, attempt - first_attempt
