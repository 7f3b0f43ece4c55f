"""Supercells: lattice points, Site-Net's pseudo-cubic supercell, Crystal.make_supercell."""

import itertools

import numpy as np
import pytest

from xtalkit import read_crystal
from xtalkit.examples import path as example_path
from xtalkit.geometry import (
    distance_matrix,
    lattice_points_in_supercell,
    sitenet_supercell,
    sitenet_supercell_matrix,
)
from xtalkit.geometry.supercell import cell_angles, sitenet_increments

from conftest import lattice_from_parameters

CELLS = {
    # name: (lattice, atoms in the cell)
    "hexagonal graphite-like": (lattice_from_parameters(2.46, 2.46, 6.7, 90, 90, 120), 4),
    "hexagonal wurtzite": (lattice_from_parameters(3.25, 3.25, 5.2, 90, 90, 120), 4),
    "rhombohedral primitive": (lattice_from_parameters(5.0, 5.0, 5.0, 55, 55, 55), 5),
    "triclinic": (lattice_from_parameters(5.1, 6.3, 7.7, 78, 102, 111), 12),
    "triclinic strongly sheared": (lattice_from_parameters(4.0, 4.5, 9.0, 60, 110, 65), 6),
    "fcc primitive": (lattice_from_parameters(2.9, 2.9, 2.9, 60, 60, 60), 1),
}


@pytest.mark.parametrize("name", list(CELLS))
@pytest.mark.parametrize("max_atoms", [100, 500])
@pytest.mark.parametrize("reduce", [True, False])
def test_sitenet_supercell_properties(name, max_atoms, reduce):
    L, n = CELLS[name]
    sc = sitenet_supercell(L, n, max_atoms, reduce=reduce)
    P, m = sc.matrix, sc.increments
    assert P.dtype == np.int64
    det = np.linalg.det(P)
    assert det == pytest.approx(np.prod(m))  # determinant = product of the increments, > 0
    assert n * det <= max_atoms
    angles = cell_angles(P @ L)
    assert sc.max_angle_deviation == pytest.approx(np.abs(angles - 90).max())
    if reduce and max_atoms == 500:
        assert np.abs(angles - 90).max() < 10, angles


def test_unreduced_mode_is_the_si_algorithm_exactly():
    for L, n in CELLS.values():
        S, m = sitenet_increments(L, n, 500)
        assert n * np.prod(m) <= 500
        np.testing.assert_allclose(np.diag(S), 1.0)
        assert np.allclose(np.tril(S, -1), 0)  # unit upper triangular
        np.testing.assert_array_equal(
            sitenet_supercell(L, n, 500, reduce=False).matrix, np.rint(np.diag(m) @ S)
        )


def test_reduced_search_is_never_smaller_or_less_cubic_than_the_si_algorithm():
    for L, n in CELLS.values():
        plain = sitenet_supercell(L, n, 500, reduce=False)
        ours = sitenet_supercell(L, n, 500)
        assert ours.n_cells >= plain.n_cells
        if ours.n_cells == plain.n_cells:
            assert ours.max_angle_deviation <= plain.max_angle_deviation + 1e-9


def test_sitenet_supercell_of_a_cubic_cell_is_diagonal():
    P = sitenet_supercell_matrix(np.eye(3) * 4.0, 8, 500)
    np.testing.assert_array_equal(P, np.diag([4, 4, 3]))  # 8·48 = 384 ≤ 500 < 8·64


def test_cell_larger_than_budget_is_used_as_is():
    np.testing.assert_array_equal(sitenet_supercell_matrix(np.eye(3) * 20, 600, 500), np.eye(3, dtype=int))


@pytest.mark.parametrize(
    "P",
    [
        np.diag([2, 3, 1]),
        np.array([[1, 1, 0], [-1, 1, 0], [0, 0, 2]]),
        np.array([[2, 1, 0], [0, 1, 3], [1, 0, 1]]),
    ],
)
def test_lattice_points_in_supercell(P):
    pts = lattice_points_in_supercell(P)
    det = abs(round(np.linalg.det(P)))
    assert pts.shape == (det, 3)
    np.testing.assert_array_equal(pts[0], 0)
    assert ((pts >= 0) & (pts < 1)).all()
    ints = pts @ P  # back to integer coordinates of the original lattice
    np.testing.assert_allclose(ints, np.rint(ints), atol=1e-9)
    # all distinct modulo the supercell
    for a, b in itertools.combinations(range(det), 2):
        d = pts[a] - pts[b]
        assert np.abs(d - np.rint(d)).max() > 1e-6


def test_make_supercell_keeps_the_crystal():
    c = read_crystal(example_path("rutile"))
    P = np.array([[1, 1, 0], [-1, 1, 0], [0, 0, 2]])
    sc = c.make_supercell(P)
    assert len(sc) == 4 * len(c)
    assert sc.volume == pytest.approx(4 * c.volume)
    # images of one site are consecutive, the first is the original atom wrapped into the supercell
    first = np.mod(c.cart @ np.linalg.inv(sc.lattice), 1.0)
    d = first - sc.frac[::4]
    np.testing.assert_allclose(d - np.rint(d), 0, atol=1e-9)
    np.testing.assert_array_equal(sc.asym_index[::4], c.asym_index)
    np.testing.assert_allclose(sc.U_cart[::4], c.U_cart)
    # the distance from each atom to its nearest neighbours is unchanged
    d0 = np.sort(distance_matrix(c.lattice, c.frac), axis=1)[:, 1]
    d1 = np.sort(distance_matrix(sc.lattice, sc.frac), axis=1)[::4, 1]
    np.testing.assert_allclose(d0, d1, atol=1e-9)
