"""Minimum-image distance matrices and Coulomb matrices."""

import numpy as np
import pytest

from xtalkit.geometry import coulomb_matrix, distance_matrix

from conftest import lattice_from_parameters


def brute_force(lattice, fa, fb, reach=4):
    g = np.arange(-reach, reach + 1)
    images = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3) @ lattice
    ca, cb = fa @ lattice, fb @ lattice
    d = cb[None, :, None, :] + images[None, None] - ca[:, None, None, :]
    return np.linalg.norm(d, axis=-1).min(axis=-1)


@pytest.mark.parametrize(
    "lattice",
    [
        lattice_from_parameters(5.1, 6.3, 7.7, 78, 102, 111),
        np.array([[3.0, 0, 0], [2.9, 0.5, 0], [2.8, 0.3, 0.4]]),  # strongly skewed
        lattice_from_parameters(2.9, 2.9, 2.9, 60, 60, 60),
    ],
)
def test_minimum_image_distances_match_brute_force(lattice):
    rng = np.random.default_rng(0)
    fa, fb = rng.random((7, 3)) * 3 - 1, rng.random((11, 3))
    np.testing.assert_allclose(distance_matrix(lattice, fa, fb), brute_force(lattice, fa, fb), atol=1e-10)
    sq = distance_matrix(lattice, fb)
    np.testing.assert_allclose(np.diag(sq), 0, atol=1e-12)
    np.testing.assert_allclose(sq, sq.T, atol=1e-12)


def test_distance_matrix_chunking_gives_the_same_result():
    rng = np.random.default_rng(1)
    L = lattice_from_parameters(8, 9, 10, 85, 95, 100)
    f = rng.random((40, 3))
    np.testing.assert_allclose(distance_matrix(L, f, max_chunk=100), distance_matrix(L, f), atol=0)


def test_coulomb_matrix_hand_values():
    # NaCl rock salt, a = 5.64 Å: Na at 0, Cl at (½,0,0) → 2.82 Å
    L = np.eye(3) * 5.64
    f = np.array([[0, 0, 0], [0.5, 0, 0]])
    D = distance_matrix(L, f)
    assert D[0, 1] == pytest.approx(2.82)
    C = coulomb_matrix([11, 17], [11, 17], D)
    assert C[0, 0] == pytest.approx(0.5 * 11**2.4)
    assert C[1, 1] == pytest.approx(0.5 * 17**2.4)
    assert C[0, 1] == pytest.approx(11 * 17 / 2.82) and C[1, 0] == C[0, 1]
