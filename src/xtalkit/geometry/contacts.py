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
    """Expected number of directed edges of the radius graph: ``n² / V · 4/3 π r³``."""
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

    Groups are the connected components of the graph without periodic shifts
    (atoms joined by chains of contacts inside the cell). A group is isolated
    when none of its atoms has an edge to a periodic image (shift ≠ 0): in a
    crystal every group touches its neighbours, so some edge leaves the cell.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = graph.n_atoms
    degree = np.bincount(graph.centers, minlength=n)
    adj = coo_matrix((np.ones(len(graph.centers)), (graph.centers, graph.neighbors)), shape=(n, n))
    _, comp = connected_components(adj, directed=False)
    periodic = np.zeros(comp.max() + 1 if n else 0, bool)
    crossing = np.any(graph.shifts != 0, axis=1)
    periodic[comp[graph.centers[crossing]]] = True
    return Isolation(lonely_atoms=degree == 0, isolated_atoms=~periodic[comp])
