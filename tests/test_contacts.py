"""Contacts that tell a crystal from nonsense input (xtalkit.geometry.contacts): hand-built cells."""

from __future__ import annotations

import numpy as np
import pytest

from xtalkit.crystal.cif import read_crystal
from xtalkit.crystal.core import Crystal
from xtalkit.examples import path as example_path
from xtalkit.geometry.contacts import estimated_edges, isolated, stacked_pairs
from xtalkit.geometry.neighbors import radius_graph

CO = 1.16  # C=O bond of CO2, Å


def co2(box: float, centre: float, axis: int = 0) -> Crystal:
    """One linear CO2 (O=C=O along ``axis``) in a cubic box of edge ``box`` Å, C at ``centre`` (fractional)."""
    frac = np.full((3, 3), centre)
    frac[1, axis] += CO / box
    frac[2, axis] -= CO / box
    return Crystal(lattice=np.eye(3) * box, numbers=[6, 8, 8], frac=np.mod(frac, 1.0))


@pytest.mark.parametrize("centre", [0.5, 0.0, 0.99])
def test_co2_alone_in_a_large_box_is_isolated_wherever_it_sits(centre):
    # at 0.5 the molecule is inside the cell; at 0 and 0.99 the cell boundary cuts it (edges with shift ≠ 0)
    c = co2(30.0, centre)
    g = radius_graph(c, cutoff=5.0)
    if centre != 0.5:
        assert np.any(g.shifts != 0)  # the case that used to read as a periodic contact
    iso = isolated(g)
    assert iso.all_isolated and iso.isolated_atoms.tolist() == [True] * 3
    assert not iso.lonely_atoms.any()  # each atom touches the other two (1.16 and 2.32 Å)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_co2_touching_its_own_images_is_packed(axis):
    # O=C=O is 2.32 Å long: along its axis, O of one cell and O of the next are box − 2.32 Å apart,
    # other contacts are at least a box edge apart. 7.2 Å: 4.88 Å < 5 Å; 7.5 Å: 5.18 Å > 5 Å.
    for centre in (0.5, 0.0):
        assert not isolated(radius_graph(co2(7.2, centre, axis), cutoff=5.0)).all_isolated
        assert isolated(radius_graph(co2(7.5, centre, axis), cutoff=5.0)).all_isolated


def test_molecular_crystal_is_not_isolated_and_translation_does_not_matter():
    urea = read_crystal(example_path("urea"))
    iso = isolated(radius_graph(urea, cutoff=5.0))
    assert not iso.all_isolated and not iso.isolated_atoms.any()
    # at a short cutoff urea is its two molecules (8 atoms each, H-bonds at about 2 Å and more)
    short = isolated(radius_graph(urea, cutoff=1.6))
    assert short.isolated_atoms.all()
    for shift in ([0.5, 0.5, 0.5], [0.93, 0.11, 0.47]):
        moved = urea.replace(frac=np.mod(urea.frac + shift, 1.0))
        assert isolated(radius_graph(moved, cutoff=1.6)).isolated_atoms.all()
        assert not isolated(radius_graph(moved, cutoff=5.0)).isolated_atoms.any()


def test_one_isolated_molecule_beside_a_packed_one():
    # a 20 Å box: CO2 along x at the origin (images 17.68 Å apart: isolated) and a chain of C atoms
    # 1.5 Å apart along y through x = 0.5 (bonded to its own images: periodic)
    box = 20.0
    chain = [[0.5, k * 1.5 / 15.0, 0.5] for k in range(10)]
    lattice = np.diag([box, 15.0, box])
    frac = np.vstack([[[0, 0, 0], [CO / box, 0, 0], [1 - CO / box, 0, 0]], chain])
    c = Crystal(lattice=lattice, numbers=[6, 8, 8] + [6] * 10, frac=frac)
    iso = isolated(radius_graph(c, cutoff=5.0))
    assert iso.isolated_atoms.tolist() == [True] * 3 + [False] * 10
    assert not iso.all_isolated


def test_lonely_atoms_and_empty_graphs():
    one = Crystal(lattice=np.eye(3) * 12.0, numbers=[6], frac=[[0.3, 0.3, 0.3]])
    iso = isolated(radius_graph(one, cutoff=5.0))
    assert iso.lonely_atoms.tolist() == [True] and iso.all_isolated
    # the same atom in a 4 Å box touches its six images at 4 Å
    small = Crystal(lattice=np.eye(3) * 4.0, numbers=[6], frac=[[0.3, 0.3, 0.3]])
    iso = isolated(radius_graph(small, cutoff=5.0))
    assert iso.lonely_atoms.tolist() == [False] and not iso.all_isolated


def test_estimated_edges_and_stacked_pairs_by_hand():
    c = co2(30.0, 0.5)
    # 3² / 27,000 Å³ · 4/3 π 5³ = 0.0436; the real graph has 6 edges (every pair both ways)
    assert estimated_edges(c, 5.0) == pytest.approx(9 / 27000 * 4 / 3 * np.pi * 125)
    assert len(radius_graph(c, cutoff=5.0)) == 6
    # a second C 0.3 Å from the first: one stacked pair, reported once as (0, 3)
    stacked = Crystal(lattice=np.eye(3) * 30.0, numbers=[6, 8, 8, 6],
                      frac=np.vstack([c.frac, c.frac[0] + [0, 0.3 / 30.0, 0]]))  # fmt: skip
    assert stacked_pairs(stacked, radius_graph(stacked, cutoff=5.0)).tolist() == [[0, 3]]
    half = stacked.replace(occupancy=np.array([1.0, 1.0, 1.0, 0.5]))  # alternatives may overlap
    assert stacked_pairs(half, radius_graph(half, cutoff=5.0)).shape == (0, 2)
