"""Wyckoff combinations that hold a cell, enumerated without running out of memory.

A combination assigns every element a multiset of Wyckoff positions of the
space group whose multiplicities add up to its atom count; a position without
free parameters (a special position such as ``2a`` at 0,0,0) holds at most one
orbit in the whole cell, a position with free parameters any number.

pyxtal's ``Group.list_wyckoff_combinations`` builds the full Cartesian product
of every element's solutions as one array before it filters them; for a
12-atom cell in a low-symmetry group with many special positions (Rb2Hf2Ag2Te6
in P2₁/m) that product has ~10⁸ rows and needs over 20 GB. Here every
element's solutions are listed alone (small), the size of the product is
counted, and the product is walked lazily when it has at most ``exhaustive``
members, else ``max_combinations`` distinct valid combinations are drawn at
random (seeded), so memory stays proportional to what is returned.
"""

from __future__ import annotations

import itertools
import math

import numpy as np


def _positions(group) -> list[tuple[int, int, bool]]:
    """``(index in the group, multiplicity, has free parameters)`` of every Wyckoff position."""
    out = []
    for i, wp in enumerate(group):
        free = bool(np.trace(wp.ops[0].rotation_matrix) > 0)
        out.append((i, int(wp.multiplicity), free))
    return out


def _solutions(n: int, positions: list[tuple[int, int, bool]]) -> list[tuple[int, ...]]:
    """Every way to write ``n`` atoms as Wyckoff orbits: sorted tuples of position indices."""
    usable = [p for p in positions if p[1] <= n]
    out: list[tuple[int, ...]] = []

    def walk(k: int, left: int, chosen: list[int]) -> None:
        if left == 0:
            out.append(tuple(sorted(chosen)))
            return
        if k == len(usable):
            return
        idx, mult, free = usable[k]
        most = left // mult if free else min(1, left // mult)
        for times in range(most, -1, -1):
            walk(k + 1, left - times * mult, chosen + [idx] * times)

    walk(0, n, [])
    return out


def _valid(combo: tuple[tuple[int, ...], ...], special: set[int]) -> bool:
    used = [i for per in combo for i in per if i in special]
    return len(used) == len(set(used))


def wyckoff_combinations(
    group, counts: list[int], max_combinations: int, rng: np.random.Generator, exhaustive: int = 200_000
) -> list[tuple[tuple[int, ...], ...]]:
    """Combinations of Wyckoff positions holding ``counts`` atoms per element (module docstring).

    Args:
        group: pyxtal ``Group``.
        counts: atoms per element, in the order of the returned tuples.
        max_combinations: most combinations returned; more are subsampled at random.
        rng: generator for the subsampling.
        exhaustive: largest product of per-element solution counts that is walked in full.

    Returns:
        ``[(positions of element 0, positions of element 1, ...), ...]``: indices into
        ``group`` (a free position repeated once per orbit); empty when none holds the cell.
    """
    positions = _positions(group)
    special = {i for i, _, free in positions if not free}
    per_element = [_solutions(int(n), positions) for n in counts]
    if any(not s for s in per_element):
        return []
    total = math.prod(len(s) for s in per_element)
    if total <= exhaustive:
        combos = [c for c in itertools.product(*per_element) if _valid(c, special)]
        if len(combos) > max_combinations:
            pick = np.sort(rng.choice(len(combos), size=max_combinations, replace=False))
            combos = [combos[int(i)] for i in pick]
        return combos
    found: dict[tuple, None] = {}
    for _ in range(50 * max_combinations):
        if len(found) >= max_combinations:
            break
        c = tuple(s[int(rng.integers(len(s)))] for s in per_element)
        if _valid(c, special):
            found.setdefault(c, None)
    return list(found)
