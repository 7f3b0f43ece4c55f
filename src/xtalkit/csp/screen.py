r"""Screening candidates before relaxation: duplicates out, then the predicted distance matrix ranks.

CHGNet relaxation is by far the most expensive step of AlphaCrystal-II
(about 3 s per candidate of ≤ 12 atoms and 100 steps on one CPU core), so the
pipeline generates more candidates than it relaxes and spends the relaxations
on the most promising distinct ones:

1. **Duplicates.** Candidates that pymatgen's ``StructureMatcher`` (its
   default tolerances: ltol 0.2, stol 0.3, 5°) matches *before* relaxation are
   one structure; only the best-scoring member of each group is kept
   (:func:`group_duplicates`). Restarted GA runs and high-symmetry templates
   without free parameters produce many such copies.
2. **Score.** ``"distance"``: the §2.4 distance-profile loss (Å²) of each
   candidate against the distance matrix predicted for its cell
   (:func:`distance_loss`, the quantity the GA minimizes, now measured on any
   candidate, including pyxtal's random ones); ``"order"``: generation order
   (the distance-matrix term switched off; for pyxtal candidates a random
   order).
3. **Keep** the ``keep`` best distinct candidates; the others are marked
   ``"screened out"`` and not relaxed.
"""

from __future__ import annotations

import numpy as np

from xtalkit.csp.encoding import distance_profiles, element_order, formula_string, structure_arrays
from xtalkit.csp.reconstruct import clean_target, profile_loss
from xtalkit.errors import XtalkitError
from xtalkit.geometry.matrices import distance_matrix

SCORES = ("distance", "order")


def distance_loss(structure, target_distances: np.ndarray, target_mask: np.ndarray | None = None) -> float:
    """§2.4 distance-profile loss of a structure against a target distance matrix.

    Args:
        structure: pymatgen Structure (or xtalkit Crystal), atoms in any order.
        target_distances: (12, 12) (or (L, L)) target distances, Å, rows in encoding order.
        target_mask: (12,) atom mask of the target rows (default: the first L rows).

    Returns:
        Loss in Å²: 0 when the structure's per-atom sorted distance profiles equal the target's.

    Raises:
        XtalkitError: a disordered structure, or a target that does not fit its atoms.
    """
    lattice, numbers, frac = structure_arrays(structure)
    order = element_order(numbers)
    numbers, frac = numbers[order], frac[order]
    target = clean_target(target_distances, target_mask, numbers, formula_string(numbers))
    D = distance_matrix(lattice, frac)
    return float(profile_loss(D[None], numbers, distance_profiles(target, numbers))[0][0])


def group_duplicates(structures: list) -> list[int]:
    """Index of the first structure each one matches (StructureMatcher, pymatgen's default tolerances).

    Args:
        structures: pymatgen Structures (any sizes and compositions).

    Returns:
        (n,) list: ``out[i] == i`` for the first of every group, else the index of that first one.
    """
    from xtalkit.csp.metrics import _matcher

    matcher = _matcher(0.2, 0.3, 5.0)
    first: list[int] = []
    out = []
    for i, s in enumerate(structures):
        hit = next(
            (
                j
                for j in first
                if structures[j].composition.reduced_composition == s.composition.reduced_composition
                and matcher.fit(structures[j], s)
            ),
            None,
        )
        if hit is None:
            first.append(i)
            out.append(i)
        else:
            out.append(hit)
    return out


def screen(structures: list, scores, keep: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``keep`` best-scoring distinct candidates (module docstring, steps 1 and 3).

    Args:
        structures: (n,) pymatgen Structures before relaxation.
        scores: (n,) lower is better; NaN ranks last.
        keep: number of candidates to keep (≥ 0).

    Returns:
        ``(kept, representative)``: indices of the kept candidates, best first (fewer than
        ``keep`` when there are fewer distinct ones); and (n,) for every candidate the index
        of the best-scoring candidate it matches (itself for the best of its group).

    Raises:
        XtalkitError: negative ``keep`` or scores of the wrong length.
    """
    s = np.asarray(scores, dtype=float).reshape(-1)
    if keep < 0:
        raise XtalkitError("the number of candidates to keep must be ≥ 0")
    if s.size != len(structures):
        raise XtalkitError(f"{len(structures)} candidates but {s.size} scores")
    order = np.argsort(np.where(np.isfinite(s), s, np.inf), kind="stable")
    groups = group_duplicates([structures[i] for i in order])
    representative = np.empty(s.size, dtype=int)
    representative[order] = order[np.asarray(groups, dtype=int)]
    distinct = [int(i) for i in order if representative[i] == i]
    return np.asarray(distinct[:keep], dtype=int), representative
