"""Covalent bonds and molecules in periodic crystals.

Two atoms are bonded when they are closer than the sum of their covalent
radii (Cordero) plus a tolerance (0.45 Å by default, the usual rule of
structure-drawing programs). The connected groups of the bond graph are
*molecules* when they are finite, and *extended* (polymeric chains, layers,
frameworks) when a path of bonds leads from an atom to one of its own periodic
images.

Finite molecules are made whole: every atom gets the lattice offset that puts
it next to its bonded partners, so that each molecule has one centre of mass
and each atom a position ``r`` relative to it, the quantities of the
Schomaker–Trueblood rigid-body (TLS) description of molecular ADPs.
"""

from __future__ import annotations

import dataclasses
from collections import deque

import numpy as np

from xtalkit.elements import covalent_radius, features

#: Å added to the sum of covalent radii for a bond.
BOND_TOLERANCE = 0.45
#: Bonds shorter than this (Å) are stacked atoms, not bonds.
MIN_BOND = 0.4


def bonded_edges(
    numbers: np.ndarray, centers: np.ndarray, neighbors: np.ndarray, distances: np.ndarray,
    tolerance: float = BOND_TOLERANCE,
) -> np.ndarray:  # fmt: skip
    """Mask (E,) of the edges of a radius graph that are covalent bonds.

    Args:
        numbers: (n,) atomic numbers.
        centers: (E,) centre atom of each edge.
        neighbors: (E,) neighbour atom.
        distances: (E,) Å.
        tolerance: Å added to the sum of covalent radii.
    """
    r = covalent_radius(np.asarray(numbers))
    d = np.asarray(distances)
    return (d <= r[centers] + r[neighbors] + tolerance) & (d > MIN_BOND)


@dataclasses.dataclass(frozen=True)
class Molecules:
    """Molecules of a crystal (see module docstring).

    Attributes:
        index: (n,) molecule of each atom, 0..M−1 (extended groups included).
        periodic: (M,) True for extended groups (a bond path reaches a periodic image).
        frac_whole: (n, 3) fractional coordinates with each finite molecule whole
            (atoms of extended groups keep their input coordinates).
    """

    index: np.ndarray
    periodic: np.ndarray
    frac_whole: np.ndarray

    @property
    def finite_atoms(self) -> np.ndarray:
        """(n,) atoms that belong to a finite molecule."""
        return ~self.periodic[self.index]

    def relative_positions(self, numbers: np.ndarray, lattice: np.ndarray) -> np.ndarray:
        """(n, 3) Cartesian position of each atom from its molecule's centre of mass, Å.

        Zero for atoms of extended groups, which have no centre.
        """
        cart = self.frac_whole @ np.asarray(lattice, float)
        mass = features(np.asarray(numbers), ["atomic_weight"])[:, 0]
        m = len(self.periodic)
        total = np.bincount(self.index, weights=mass, minlength=m)
        centre = np.stack(
            [np.bincount(self.index, weights=mass * cart[:, k], minlength=m) for k in range(3)], 1
        )
        centre /= total[:, None]
        rel = cart - centre[self.index]
        rel[~self.finite_atoms] = 0.0
        return rel


def find_molecules(
    numbers: np.ndarray,
    frac: np.ndarray,
    centers: np.ndarray,
    neighbors: np.ndarray,
    shifts: np.ndarray,
    distances: np.ndarray,
    tolerance: float = BOND_TOLERANCE,
) -> Molecules:
    """Molecules from the edges of a periodic radius graph.

    The graph must reach every bond (its cutoff at least the longest
    ``r_i + r_j + tolerance`` of the structure; 5 Å covers every pair of
    elements up to Cs–Cs). Edges follow :mod:`xtalkit.geometry.neighbors`:
    the image of ``neighbors[e]`` in cell ``shifts[e]`` is bonded to ``centers[e]``.

    Args:
        numbers: (n,) atomic numbers.
        frac: (n, 3) fractional coordinates.
        centers: (E,) centre atom of each edge.
        neighbors: (E,) neighbour atom of each edge.
        shifts: (E, 3) integer lattice offsets of the neighbours.
        distances: (E,) Å.
        tolerance: Å added to the sum of covalent radii.
    """
    n = len(numbers)
    frac = np.asarray(frac, float)
    ok = bonded_edges(numbers, centers, neighbors, distances, tolerance)
    adj: list[list[tuple[int, np.ndarray]]] = [[] for _ in range(n)]
    for i, j, s in zip(centers[ok].tolist(), neighbors[ok].tolist(), np.asarray(shifts)[ok], strict=True):
        adj[i].append((j, s))
    offset = np.zeros((n, 3), np.int64)
    index = np.full(n, -1, np.int64)
    periodic: list[bool] = []
    for start in range(n):
        if index[start] >= 0:
            continue
        m = len(periodic)
        index[start] = m
        extended = False
        queue = deque([start])
        while queue:
            i = queue.popleft()
            for j, s in adj[i]:
                target = offset[i] + s
                if index[j] < 0:
                    index[j] = m
                    offset[j] = target
                    queue.append(j)
                elif not extended and (offset[j] != target).any():
                    extended = True
        periodic.append(extended)
    periodic_arr = np.array(periodic, bool)
    whole = frac + offset
    whole[periodic_arr[index]] = frac[periodic_arr[index]]
    return Molecules(index=index, periodic=periodic_arr, frac_whole=whole)


def is_molecular(crystal) -> bool:
    """Whether a crystal is a molecular (organic) crystal rather than an extended solid.

    Molecular: the crystal contains carbon, and every non-H atom belongs to a finite
    molecule (no bond path reaches a periodic image). Carbon, being a non-H atom,
    then sits in one of these molecules: some molecule is organic. Extended solids,
    MOFs and salts whose metal–ligand contacts are bonds at the covalent-radius cutoff
    fail the second test; molecular crystals without carbon (I₂, S₈, P₄O₁₀) fail the
    first.

    Args:
        crystal: a :class:`~xtalkit.crystal.core.Crystal`.
    """
    from xtalkit.geometry.neighbors import radius_graph

    numbers = np.asarray(crystal.numbers)
    if not (numbers == 6).any():
        return False
    g = radius_graph(crystal, cutoff=5.0)
    mol = find_molecules(numbers, crystal.frac, g.centers, g.neighbors, g.shifts, g.distances)
    return bool(mol.finite_atoms[numbers != 1].all())
