"""pymatgen and ASE converters carry positions, occupancies and ADPs."""

import numpy as np
import pytest

from xtalkit import Crystal, CrystalError, Flag, read_crystal
from xtalkit.crystal import adp
from xtalkit.examples import path as example_path

from conftest import EXPERIMENTAL, shared_or_skip


def test_pymatgen_round_trip_keeps_adps():
    c = read_crystal(shared_or_skip(EXPERIMENTAL / "codtools" / "2003136__2003136__f79627.cif"))
    s = c.to_pymatgen()
    assert len(s) == len(c) and s.properties["temperature"] == c.temperature
    back = Crystal.from_pymatgen(s)
    np.testing.assert_allclose(back.lattice, c.lattice)
    np.testing.assert_allclose(back.frac, c.frac, atol=1e-12)
    np.testing.assert_allclose(back.U_cart, c.U_cart, equal_nan=True)
    assert list(back.adp_type) == list(c.adp_type)


def test_pymatgen_mixed_site_becomes_two_sites():
    from pymatgen.core import Lattice, Structure

    s = Structure(Lattice.cubic(4.0), [{"Fe": 0.5, "Co": 0.5}, "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    c = Crystal.from_pymatgen(s, temperature=300)
    assert len(c) == 3 and sorted(c.symbols) == ["Co", "Fe", "O"]
    assert Flag.PARTIAL_OCCUPANCY in c.flags and c.temperature == 300


def test_ase_round_trip_and_rotation_of_frame():
    c = read_crystal(example_path("rutile"))
    atoms = c.to_ase()
    assert atoms.arrays["U_cart"].shape == (len(c), 3, 3)
    back = Crystal.from_ase(atoms)
    np.testing.assert_allclose(back.U_cart, c.U_cart)
    # a rotated frame: same crystal, tensors rotate as R U Rᵀ, U_eq is invariant
    R = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    rot = c.rotated(R)
    np.testing.assert_allclose(rot.cart, c.cart @ R.T, atol=1e-12)
    np.testing.assert_allclose(rot.U_cart, adp.rotate(c.U_cart, R), atol=1e-15)
    np.testing.assert_allclose(rot.U_eq, c.U_eq, atol=1e-15)
    # the CIF convention is frame independent
    np.testing.assert_allclose(
        adp.ucart_to_ucif(rot.U_cart, rot.lattice),
        adp.ucart_to_ucif(c.U_cart, c.lattice),
        atol=1e-14,
    )


def test_non_periodic_ase_atoms_are_refused():
    from ase import Atoms

    with pytest.raises(CrystalError, match="periodic"):
        Crystal.from_ase(Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]]))
