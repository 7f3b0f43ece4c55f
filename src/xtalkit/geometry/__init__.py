"""Periodic geometry: radius graphs, supercells, distance and Coulomb matrices."""

from xtalkit.geometry.matrices import coulomb_matrix, distance_matrix
from xtalkit.geometry.neighbors import DEFAULT_CUTOFF, RadiusGraph, radius_graph
from xtalkit.geometry.supercell import (
    SitenetSupercell,
    lattice_points_in_supercell,
    sitenet_supercell,
    sitenet_supercell_matrix,
)

__all__ = [
    "DEFAULT_CUTOFF",
    "RadiusGraph",
    "SitenetSupercell",
    "coulomb_matrix",
    "distance_matrix",
    "lattice_points_in_supercell",
    "radius_graph",
    "sitenet_supercell",
    "sitenet_supercell_matrix",
]
