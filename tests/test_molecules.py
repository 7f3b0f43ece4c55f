"""Covalent bonds and molecules in periodic crystals (xtalkit.geometry.molecules)."""

import numpy as np

from xtalkit import read_crystal
from xtalkit.examples import path as example_path
from xtalkit.geometry.molecules import find_molecules
from xtalkit.geometry.neighbors import radius_graph


def molecules_of(numbers, frac, lattice):
    g = radius_graph(lattice, frac, 5.0)
    return find_molecules(numbers, frac, g.centers, g.neighbors, g.shifts, g.distances)


def test_urea_is_two_whole_molecules():
    c = read_crystal(example_path("urea"))  # P-42_1m, Z = 2: two CO(NH2)2 molecules of 8 atoms
    m = molecules_of(c.numbers, c.frac, c.lattice)
    assert not m.periodic.any()
    assert sorted(np.bincount(m.index).tolist()) == [8, 8]
    rel = m.relative_positions(c.numbers, c.lattice)
    # each molecule whole: no atom farther than 2.5 Å from its centre of mass (urea is ~2.3 Å across)
    assert np.linalg.norm(rel, axis=1).max() < 2.5
    # relative positions are about the centre of mass: Σ m r = 0 per molecule
    from xtalkit.elements import features

    mass = features(c.numbers, ["atomic_weight"])[:, 0]
    for k in range(2):
        np.testing.assert_allclose((mass[m.index == k, None] * rel[m.index == k]).sum(0), 0, atol=1e-9)


def test_molecule_across_the_cell_edge_is_made_whole():
    # a 1.2 Å diatomic split over the cell boundary of a 10 Å box
    lattice = 10 * np.eye(3)
    frac = np.array([[0.96, 0.5, 0.5], [0.08, 0.5, 0.5]])
    m = molecules_of(np.array([6, 8]), frac, lattice)
    assert m.index.tolist() == [0, 0] and not m.periodic[0]
    cart = m.frac_whole @ lattice
    np.testing.assert_allclose(np.linalg.norm(cart[1] - cart[0]), 1.2, atol=1e-9)
    rel = m.relative_positions(np.array([6, 8]), lattice)
    # centre of mass of C at 0 and O at 1.2 Å: 1.2 · 16.00 / 28.01 Å from C
    np.testing.assert_allclose(np.linalg.norm(rel[0]), 1.2 * 15.9994 / (12.0107 + 15.9994), rtol=1e-6)


def test_extended_structures_are_periodic():
    rutile = read_crystal(example_path("rutile"))
    m = molecules_of(rutile.numbers, rutile.frac, rutile.lattice)
    assert m.periodic.all() and not m.finite_atoms.any()
    np.testing.assert_allclose(m.relative_positions(rutile.numbers, rutile.lattice), 0)
    # a chain: C atoms 1.5 Å apart along a 1.5 Å axis bond to their own images
    chain = molecules_of(np.array([6]), np.array([[0.0, 0.0, 0.0]]), np.diag([1.5, 10.0, 10.0]))
    assert chain.periodic.tolist() == [True]


def test_is_molecular_separates_molecular_crystals_from_solids():
    from xtalkit.crystal.cif import read_crystal
    from xtalkit.examples import path as example_path
    from xtalkit.geometry.molecules import is_molecular

    assert is_molecular(read_crystal(example_path("urea")))
    assert not is_molecular(read_crystal(example_path("rutile")))


def test_is_molecular_needs_carbon_and_finite_molecules():
    from xtalkit.crystal.core import Crystal
    from xtalkit.geometry.molecules import is_molecular

    def linear(numbers, bond, box):
        """A linear X=Y=X or X–X molecule along a, centred in a cubic box (Å), cut by no boundary."""
        k = len(numbers) // 2
        frac = [[0.5 + (m - k) * bond / box, 0.5, 0.5] for m in range(len(numbers))]
        return Crystal(lattice=np.eye(3) * box, numbers=numbers, frac=frac)

    assert is_molecular(linear([8, 6, 8], 1.16, 6.0))  # CO2: C in a finite molecule
    assert not is_molecular(linear([53, 53], 2.67, 7.0))  # I2: molecular, but no carbon
    # diamond (a = 3.567 Å, C–C 1.545 Å): carbon, but one bonded framework
    fcc = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    diamond = Crystal(lattice=np.eye(3) * 3.567, numbers=[6] * 8, frac=np.vstack([fcc, fcc + 0.25]))
    assert not is_molecular(diamond)
    # O=C=O…K…O=C=O… along a 7.6 Å axis: K is 2.5 Å from one O and 2.78 Å from the next cell's O,
    # both bonds (K–O up to 2.03 + 0.66 + 0.45 = 3.14 Å): an endless chain, an extended solid
    salt = Crystal(lattice=np.eye(3) * 7.6, numbers=[8, 6, 8, 19],
                   frac=[[x / 7.6, 0.5, 0.5] for x in (1.0, 2.16, 3.32, 5.82)])  # fmt: skip
    assert not is_molecular(salt)


def test_property_model_of_solids_warns_on_a_molecular_crystal():
    from xtalkit.crystal.cif import read_crystal
    from xtalkit.examples import path as example_path
    from xtalkit.property.predict import PropertyPredictor

    p = PropertyPredictor("band-gap")
    assert p.domain == "inorganic"
    assert any("molecular crystal" in w for w in p.warnings(read_crystal(example_path("urea"))))
    assert p.warnings(read_crystal(example_path("rutile"))) == []
