"""Contacts that tell whether a structure is a sensible input for a model.

A model that reads a radius graph answers something for any input; these
functions find the inputs where the answer would be nonsense, so that
predictors can refuse them or warn (:mod:`xtalkit.adp.predict`,
:mod:`xtalkit.property.predict`):

* :func:`estimated_edges`: the size of a radius graph before building it
  (density × sphere volume), so that memory is never the first to notice;
* :func:`stacked_pairs`: ordered atoms closer than a physical minimum
  (0.5 Å, well below the shortest bond, H–H in H₂ at 0.74 Å): duplicated rows;
* :func:`isolated`: atoms with no neighbour within the cutoff, and groups of
  atoms (molecules) that touch nothing else within the cutoff, not even their
  own periodic images: a molecule alone in a large box, which is not a crystal.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from xtalkit.crystal.core import Crystal
from xtalkit.geometry.neighbors import RadiusGraph

#: Ordered atoms closer than this (Å) are the same atom listed twice.
MIN_DISTANCE = 0.5


def estimated_edges(crystal: Crystal, cutoff: float) -> float:
    """Expected number of directed edges of the radius graph, before building it.

    Atoms spread evenly over the cell: each sees ``n / V · 4/3 π r³`` others, so
    ``n² / V · 4/3 π r³`` edges in all (the graph is full: i→j and j→i both count).

    Args:
        crystal: the structure (``n`` atoms in a cell of volume ``V`` Å³).
        cutoff: radius of the graph, Å.

    Returns:
        The expected count of directed edges (a float; not rounded).
    """
    n = len(crystal)
    return n * n / crystal.volume * 4.0 / 3.0 * np.pi * cutoff**3


def stacked_pairs(crystal: Crystal, graph: RadiusGraph, min_distance: float = MIN_DISTANCE) -> np.ndarray:
    """Pairs ``(i, j)``, i < j, of *ordered* atoms closer than ``min_distance`` Å.

    Atoms with occupancy below 1 or in a disorder group are alternatives of one
    another and may overlap; they are not reported.

    Args:
        crystal: the structure.
        graph: its radius graph (any cutoff ≥ ``min_distance``).
        min_distance: Å.

    Returns:
        (p, 2) int array.
    """
    ordered = (crystal.occupancy >= 1.0 - 1e-3) & (crystal.disorder_group == "")
    i, j = graph.centers, graph.neighbors
    hit = (graph.distances < min_distance) & ordered[i] & ordered[j] & (i < j)
    pairs = np.stack([i[hit], j[hit]], axis=1)
    return np.unique(pairs, axis=0) if len(pairs) else pairs.reshape(0, 2)


@dataclasses.dataclass(frozen=True)
class Isolation:
    """Atoms and groups that touch nothing within a cutoff.

    Attributes:
        lonely_atoms: (n,) True for atoms with no neighbour at all within the cutoff.
        isolated_atoms: (n,) True for atoms of a group that has no contact with any
            other group or with its own periodic images within the cutoff (lonely atoms
            included).
    """

    lonely_atoms: np.ndarray
    isolated_atoms: np.ndarray

    @property
    def all_isolated(self) -> bool:
        """Whether nothing in the structure touches anything else (no packing at all)."""
        return bool(self.isolated_atoms.all())


def isolated(graph: RadiusGraph) -> Isolation:
    """Which atoms and groups have no contact within the graph's cutoff.

    Groups are the connected components of the graph (atoms joined by chains of
    contacts, across cell boundaries too). Each group is unwrapped as
    :func:`~xtalkit.geometry.molecules.find_molecules` unwraps molecules: every atom
    gets the lattice offset that puts it next to the atoms it touches, following a
    spanning tree of the group's edges. A group is isolated when every one of its
    edges agrees with these offsets (``offset[i] + shift == offset[j]``): it is a
    finite cluster that touches no periodic image of itself. In a crystal some edge
    leads from a group to a translated copy of itself (or the whole structure is one
    periodic group). Where the cell boundary cuts a group does not matter.

    Args:
        graph: a full radius graph (both i→j and j→i; :func:`~xtalkit.geometry.neighbors.radius_graph`).

    Returns:
        The :class:`Isolation` of the structure's atoms.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import breadth_first_order, connected_components

    n = graph.n_atoms
    i, j = np.asarray(graph.centers, np.int64), np.asarray(graph.neighbors, np.int64)
    shifts = np.asarray(graph.shifts, np.int64).reshape(-1, 3)
    degree = np.bincount(i, minlength=n)
    if n == 0:
        return Isolation(lonely_atoms=np.zeros(0, bool), isolated_atoms=np.zeros(0, bool))
    adj = coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
    n_comp, comp = connected_components(adj, directed=False)
    # one breadth-first forest over all groups: a root node n joined to one atom of each group
    _, first = np.unique(comp, return_index=True)
    rows = np.concatenate([i, j, np.full(n_comp, n)])
    cols = np.concatenate([j, i, first])
    forest = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n + 1, n + 1)).tocsr()
    _, parent = breadth_first_order(forest, n, directed=True, return_predecessors=True)
    parent = parent[:n]
    # the shift of one edge parent → atom (an edge j → i read backwards counts with −shift)
    keys = np.concatenate([i * n + j, j * n + i])
    signed = np.concatenate([shifts, -shifts])
    order = np.argsort(keys, kind="stable")
    keys, signed = keys[order], signed[order]
    step = np.zeros((n, 3), np.int64)
    tree = parent != n
    want = parent[tree] * n + np.flatnonzero(tree)
    step[tree] = signed[np.searchsorted(keys, want)]
    # offset of each atom from its group's first atom: the sum of the steps up the tree, by pointer
    # jumping (invariant: offset[a] = true offset of a − true offset of up[a]; roots point to themselves)
    up = np.where(tree, parent, np.arange(n))
    offset = step
    while (up != up[up]).any():
        offset = offset + offset[up]
        up = up[up]
    wrapped = np.any(offset[i] + shifts != offset[j], axis=1)
    periodic = np.zeros(n_comp, bool)
    periodic[comp[i[wrapped]]] = True
    return Isolation(lonely_atoms=degree == 0, isolated_atoms=~periodic[comp])
