"""Harmonic-phonon ADPs: physics and agreement with phonopy run directly."""

import numpy as np
import pytest
from ase.calculators.lj import LennardJones

from xtalkit import Crystal, CrystalError
from xtalkit.adp.phonon import default_mesh, default_supercell, high_temperature_slope, phonon_adps


def argon() -> Crystal:
    """fcc argon, primitive cell (a_cubic = 5.26 Å), one atom."""
    a = 5.26
    lattice = 0.5 * a * np.array([[0.0, 1, 1], [1, 0, 1], [1, 1, 0]])
    return Crystal(lattice=lattice, numbers=[18], frac=[[0.0, 0.0, 0.0]], source="fcc Ar")


def lj():
    return LennardJones(sigma=3.40, epsilon=0.0104, rc=8.0, smooth=True)


@pytest.fixture(scope="module")
def result():
    return phonon_adps(argon(), [10, 50, 300, 600, 900], relax=False, calculator=lj(), mesh=[8, 8, 8])


def test_u_grows_with_temperature_and_is_linear_at_high_temperature(result):
    ueq = np.trace(result.U_cart[:, 0], axis1=1, axis2=2) / 3
    assert (np.diff(ueq) > 0).all()
    # cubic site symmetry: the tensor is isotropic
    U = result.U_cart[-1, 0]
    np.testing.assert_allclose(U, np.eye(3) * U[0, 0], atol=1e-10)
    # classical limit: U ∝ T at high temperature
    assert ueq[4] / ueq[3] == pytest.approx(900 / 600, rel=0.01)
    assert ueq[3] / ueq[2] == pytest.approx(600 / 300, rel=0.02)
    assert ueq[0] > 2 * (10 / 900) * ueq[4]  # zero-point motion: well above the classical T-scaling
    slope = high_temperature_slope(result)
    assert slope[0] == pytest.approx(ueq[4] / 900, rel=0.02)


def test_numbers_match_phonopy_run_directly(result):
    from ase import Atoms
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    c = argon()
    ph = Phonopy(
        PhonopyAtoms(symbols=["Ar"], cell=c.lattice, scaled_positions=c.frac),
        supercell_matrix=np.diag(result.supercell),
    )
    ph.generate_displacements(distance=0.01)
    forces = []
    for s in ph.supercells_with_displacements:
        a = Atoms(s.symbols, cell=s.cell, scaled_positions=s.scaled_positions, pbc=True)
        a.calc = lj()
        forces.append(a.get_forces())
    ph.forces = np.array(forces)
    ph.produce_force_constants()
    ph.symmetrize_force_constants()
    ph.run_mesh([8, 8, 8], with_eigenvectors=True, is_mesh_symmetry=False, is_gamma_center=True)
    ph.run_thermal_displacement_matrices(temperatures=[10, 50, 300, 600, 900], freq_min=0.05)
    direct = np.array(ph.thermal_displacement_matrices.thermal_displacement_matrices)
    np.testing.assert_allclose(result.U_cart, direct, rtol=1e-10, atol=1e-14)


def test_defaults_and_limits():
    c = argon()
    sc = default_supercell(c.lattice)
    assert (np.linalg.norm(c.lattice, axis=1) * sc >= 10).all()
    assert (default_mesh(c.lattice) >= 4).all()
    partial = c.replace(occupancy=[0.5])
    with pytest.raises(CrystalError, match="ordered"):
        phonon_adps(partial, [300], calculator=lj())
    with pytest.raises(CrystalError, match="above 10"):
        phonon_adps(c, [300], calculator=lj(), max_supercell_atoms=10)


def test_conventional_cell_gives_one_tensor_per_atom(result):
    """A 4-atom conventional fcc cell: four equal isotropic tensors, close to the primitive-cell value."""
    a = 5.26
    conv = Crystal(
        lattice=np.eye(3) * a,
        numbers=[18] * 4,
        frac=[[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]],
        source="fcc Ar, conventional",
    )
    res = phonon_adps(conv, [300], relax=False, calculator=lj(), supercell=[2, 2, 2], mesh=[4, 4, 4])
    assert res.U_cart.shape == (1, 4, 3, 3)
    U = res.U_cart[0]
    np.testing.assert_allclose(U, np.broadcast_to(U[0], U.shape), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(U[0], np.eye(3) * U[0, 0, 0], atol=1e-10)
    # same physics as the primitive cell (different supercell and q-sampling: agreement to a few %)
    assert U[0, 0, 0] == pytest.approx(result.U_cart[2, 0, 0, 0], rel=0.05)
