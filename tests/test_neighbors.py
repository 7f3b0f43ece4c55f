"""Radius graphs against pymatgen's get_neighbor_list and against brute force."""

import numpy as np
import pytest

from xtalkit import read_cif, read_crystal
from xtalkit.geometry import radius_graph

from conftest import TRICLINIC, lattice_from_parameters

BACKENDS = ["vesin", "pymatgen"]


def pymatgen_set(lattice, frac, cutoff):
    from pymatgen.core import Lattice, Structure

    s = Structure(Lattice(lattice), ["H"] * len(frac), frac, to_unit_cell=False)
    c, n, img, _ = s.get_neighbor_list(cutoff)
    return set(zip(c.tolist(), n.tolist(), *np.rint(img).astype(int).T.tolist(), strict=True))


def brute_force_set(lattice, frac, cutoff):
    # image range along axis i: the cutoff sphere spans cutoff·|a*_i| lattice planes
    reach = np.ceil(cutoff * np.linalg.norm(np.linalg.inv(lattice), axis=0)).astype(int) + 2
    g = [np.arange(-r, r + 1) for r in reach]
    images = np.stack(np.meshgrid(*g, indexing="ij"), -1).reshape(-1, 3)
    cart = frac @ lattice
    out = set()
    for i in range(len(frac)):
        for j in range(len(frac)):
            d = np.linalg.norm(cart[j] + images @ lattice - cart[i], axis=1)
            for k in np.flatnonzero((d <= cutoff) & (d > 1e-8)):
                out.add((i, j, *images[k].tolist()))
    return out


CASES = {
    "one atom, 1.5 Å cube": (np.eye(3) * 1.5, np.zeros((1, 3))),
    "one atom, exact 5 Å cube (ties at the cutoff)": (np.eye(3) * 5.0, np.zeros((1, 3))),
    "two atoms, tiny triclinic": (
        lattice_from_parameters(2.1, 2.4, 2.9, 70, 80, 100),
        np.array([[0, 0, 0], [0.4, 0.3, 0.6]]),
    ),
    "strongly skewed": (
        np.array([[3.0, 0, 0], [2.9, 0.5, 0], [2.8, 0.3, 0.4]]),
        np.array([[0, 0, 0], [0.3, 0.2, 0.7]]),
    ),
    "needle": (np.diag([1.2, 1.3, 30.0]), np.array([[0.1, 0.2, 0.3], [0.6, 0.7, 0.8]])),
    "coordinates outside [0, 1)": (
        lattice_from_parameters(**TRICLINIC),
        np.array([[1.3, -0.2, 2.5], [0.1, 0.9, -0.4]]),
    ),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", list(CASES))
def test_pathological_cells_match_brute_force_and_pymatgen(case, backend):
    lattice, frac = CASES[case]
    g = radius_graph(lattice, frac, 5.0, backend=backend)
    expected = brute_force_set(lattice, frac, 5.0)
    assert g.as_set() == expected
    assert g.as_set() == pymatgen_set(lattice, frac, 5.0)
    # vectors and distances are consistent with the stated convention
    cart = frac @ lattice
    v = cart[g.neighbors] + g.shifts @ lattice - cart[g.centers]
    np.testing.assert_allclose(g.vectors, v, atol=1e-9)
    np.testing.assert_allclose(g.distances, np.linalg.norm(v, axis=1), atol=1e-9)
    assert (g.distances > 0).all() and (g.distances <= 5.0 + 1e-12).all()


def test_tiny_cell_has_neighbours_in_many_images():
    g = radius_graph(np.eye(3) * 1.5, np.zeros((1, 3)), 5.0)
    # lattice points within 5 Å of the origin in a 1.5 Å cubic lattice, origin excluded
    # lattice points with 0 < i² + j² + k² ≤ 25 / 1.5² = 11.1
    n = sum(
        1 for i in range(-4, 5) for j in range(-4, 5) for k in range(-4, 5) if 0 < i * i + j * j + k * k <= 11
    )
    assert len(g) == n == 170


def test_graph_is_symmetric():
    c = read_crystal(
        "data_x\n_cell_length_a 4.1\n_cell_length_b 5.2\n_cell_length_c 6.3\n_cell_angle_alpha 81\n"
        "_cell_angle_beta 97\n_cell_angle_gamma 104\nloop_\n_atom_site_label\n_atom_site_fract_x\n"
        "_atom_site_fract_y\n_atom_site_fract_z\nC1 0.1 0.2 0.3\nO1 0.5 0.6 0.2\nN1 0.8 0.1 0.9\n",
        text=True,
    )
    for backend in BACKENDS:
        g = radius_graph(c, cutoff=4.0, backend=backend)
        fwd = g.as_set()
        assert {(j, i, -a, -b, -cc) for i, j, a, b, cc in fwd} == fwd


def test_shared_experimental_crystals_match_pymatgen(experimental_cifs):
    n = 0
    for path in experimental_cifs:
        try:
            crystals = read_cif(path)
        except Exception:
            continue
        for c in crystals:
            expected = pymatgen_set(c.lattice, c.frac, 5.0)
            for backend in ("auto", "vesin"):
                assert radius_graph(c, cutoff=5.0, backend=backend).as_set() == expected, c.source
            n += 1
    assert n == 161


def test_mp_structures_match_pymatgen(mp_sample):
    sizes = []
    for mid, cif in mp_sample:
        c = read_crystal(cif, text=True)
        sizes.append(len(c))
        expected = pymatgen_set(c.lattice, c.frac, 5.0)
        for backend in BACKENDS:
            assert radius_graph(c, cutoff=5.0, backend=backend).as_set() == expected, mid
    assert len(sizes) == 200 and min(sizes) == 1 and sizes.count(2) > 0
