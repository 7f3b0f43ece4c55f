"""Wyckoff combinations: the same as pyxtal's where pyxtal copes, bounded memory where it does not."""

from __future__ import annotations

import numpy as np
import pytest
from pyxtal.symmetry import Group

from xtalkit.csp.wyckoff import wyckoff_combinations


@pytest.mark.parametrize(
    ("group", "counts"), [(225, [4, 4]), (136, [2, 4]), (221, [1, 1, 3]), (194, [2, 4]), (14, [4, 8])]
)
def test_same_combinations_as_pyxtal(group, counts):
    g = Group(group)
    _, _, theirs = g.list_wyckoff_combinations(counts)
    ours = wyckoff_combinations(g, counts, 10**6, np.random.default_rng(0))
    norm = {tuple(tuple(sorted(int(i) for i in per)) for per in c) for c in theirs}
    assert set(ours) == norm and len(ours) == len(norm) > 0


def test_large_low_symmetry_cell_is_sampled_and_valid():
    # Rb2Hf2Ag2Te6 in P2_1/m: pyxtal's product needs > 20 GB; here at most 300 valid combinations
    g = Group(11)
    counts = [2, 2, 2, 6]
    combos = wyckoff_combinations(g, counts, 300, np.random.default_rng(1), exhaustive=1000)
    assert 0 < len(combos) <= 300 and len(set(combos)) == len(combos)
    special = {i for i, wp in enumerate(g) if np.trace(wp.ops[0].rotation_matrix) == 0}
    for c in combos:
        for n, per in zip(counts, c, strict=True):
            assert sum(g[i].multiplicity for i in per) == n
        used = [i for per in c for i in per if i in special]
        assert len(used) == len(set(used))  # a special position holds one orbit


def test_no_combination():
    assert wyckoff_combinations(Group(229), [1, 1], 10, np.random.default_rng(0)) == []  # Im-3m: orbits ≥ 2
