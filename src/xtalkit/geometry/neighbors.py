"""Periodic radius graphs.

Two exact pair-search kernels are used, whichever is faster for the size at
hand (measured with ``benchmarks/graphs.py`` on the shared experimental
crystals): pymatgen's compiled ``find_points_in_spheres`` below
:data:`VESIN_MIN_ATOMS` atoms, vesin's cell list above (at 1,000 atoms it is
about 1.4× faster). Both find neighbours in as many periodic images as the cutoff
reaches, so 1-atom cells, tiny cells and strongly skewed cells are handled;
the test suite checks both against pymatgen's ``get_neighbor_list``.

Conventions: an edge ``e`` goes from ``centers[e]`` (i) to ``neighbors[e]`` (j)
in the image ``shifts[e]`` (integer lattice offset ``S``):

    vectors[e] = cart[j] + S @ lattice − cart[i],   distances[e] = |vectors[e]|

with ``0 < distance ≤ cutoff`` (pymatgen's rule). The graph is *full* (both i→j and j→i appear),
and contains i→i edges to periodic images of i itself, but never the zero-length
self pair. The order of the edges is deterministic but otherwise unspecified
(sorting them would cost more than the search on small cells).
"""

from __future__ import annotations

import dataclasses
import threading

import numpy as np

from xtalkit.crystal.core import Crystal
from xtalkit.crystal.validate import CellLimits, check_cell
from xtalkit.errors import CrystalError

#: Default cutoff (Å): CartNet's radius graph (paper §4.1).
DEFAULT_CUTOFF = 5.0
#: What the pair search itself can handle (the reader's physical bounds are stricter): the
#: number of periodic images visited grows as (cutoff / height)³, and cell lists allocate
#: over the whole box.
SEARCH_LIMITS = CellLimits(min_height=0.1, max_length=1000.0)
#: From this many atoms on, vesin's cell list is faster than pymatgen's kernel.
VESIN_MIN_ATOMS = 400


_LOCAL = threading.local()


def _neighbor_list(cutoff: float):
    """A vesin NeighborList per thread and cutoff.

    vesin keeps its output buffers between calls; reusing the object saves the
    allocation, which costs more than the search itself on large cells. Results
    are copied out of the buffers, so reuse is safe.
    """
    cache = getattr(_LOCAL, "lists", None)
    if cache is None:
        cache = _LOCAL.lists = {}
    if cutoff not in cache:
        import vesin  # imported lazily: it imports torch when torch is installed

        if len(cache) > 8:
            cache.clear()
        cache[cutoff] = vesin.NeighborList(cutoff=cutoff, full_list=True)
    return cache[cutoff]


@dataclasses.dataclass(frozen=True)
class RadiusGraph:
    """Edges of a periodic radius graph (see module docstring for conventions).

    Attributes:
        centers: (E,) int64 index of the centre atom i.
        neighbors: (E,) int64 index of the neighbour atom j.
        shifts: (E, 3) int32 lattice offset of the neighbour's image.
        vectors: (E, 3) float64 Cartesian vector from i to the image of j, Å.
        distances: (E,) float64 length of ``vectors``, Å.
        cutoff: the radius used, Å.
        n_atoms: number of atoms (nodes).
    """

    centers: np.ndarray
    neighbors: np.ndarray
    shifts: np.ndarray
    vectors: np.ndarray
    distances: np.ndarray
    cutoff: float
    n_atoms: int

    def __len__(self) -> int:
        return int(self.centers.size)

    def degree(self) -> np.ndarray:
        """(n_atoms,) number of edges leaving each atom."""
        return np.bincount(self.centers, minlength=self.n_atoms)

    def as_set(self) -> set[tuple[int, int, int, int, int]]:
        """The edges as a set of ``(i, j, S_a, S_b, S_c)`` tuples (for comparisons)."""
        return set(
            zip(
                self.centers.tolist(),
                self.neighbors.tolist(),
                *self.shifts.T.tolist(),
                strict=True,
            )
        )


def radius_graph(
    lattice_or_crystal: np.ndarray | Crystal,
    frac: np.ndarray | None = None,
    cutoff: float = DEFAULT_CUTOFF,
    *,
    backend: str = "auto",
) -> RadiusGraph:
    """All pairs of atoms closer than ``cutoff`` under periodic boundary conditions.

    Args:
        lattice_or_crystal: A :class:`Crystal`, or the (3, 3) lattice (rows, Å).
        frac: (n, 3) fractional coordinates when a lattice is given.
        cutoff: Radius, Å (> 0).
        backend: ``"auto"`` (by size, see module docstring), ``"vesin"`` or ``"pymatgen"``.

    Returns:
        The :class:`RadiusGraph`.

    Raises:
        CrystalError: for a cell outside :data:`SEARCH_LIMITS` (thinner than 0.1 Å, an
            edge above 1,000 Å) or non-finite coordinates.
    """
    if isinstance(lattice_or_crystal, Crystal):
        lattice, frac = lattice_or_crystal.lattice, lattice_or_crystal.frac
    else:
        lattice = np.asarray(lattice_or_crystal, dtype=float)
        if frac is None:
            raise TypeError("frac is required when a lattice is given")
    if not cutoff > 0:
        raise ValueError(f"cutoff must be positive, got {cutoff}")
    if backend not in ("auto", "vesin", "pymatgen"):
        raise ValueError(f"unknown backend {backend!r}")
    frac = np.asarray(frac, dtype=float).reshape(-1, 3)
    n = frac.shape[0]
    # never hand the search a cell it could crash or hang on (SIGFPE, unbounded cell lists)
    check_cell(lattice, SEARCH_LIMITS)
    if not np.isfinite(frac).all():
        raise CrystalError("non-finite fractional coordinates")
    if n == 0:
        z = np.zeros(0, np.int64)
        return RadiusGraph(z, z, np.zeros((0, 3), np.int32), np.zeros((0, 3)), np.zeros(0), cutoff, 0)
    cart = frac @ lattice
    if backend == "vesin" or (backend == "auto" and n >= VESIN_MIN_ATOMS):
        # vesin keeps d < r; pad the radius and cut at d <= r, pymatgen's rule
        i, j, S, D, d = _neighbor_list(float(cutoff) + 1e-9).compute(
            points=cart, box=lattice, periodic=True, quantities="ijSDd"
        )
        # vesin returns size_t indices; they are < 2**63, so an int64 view is exact
        i, j = i.view(np.int64), j.view(np.int64)
        if (d > cutoff).any():
            keep = d <= cutoff
            i, j, S, D, d = i[keep], j[keep], S[keep], D[keep], d[keep]
    else:
        i, j, S, D, d = _pymatgen_pairs(cart, lattice, float(cutoff))
    return RadiusGraph(
        centers=i, neighbors=j, shifts=S, vectors=D, distances=d, cutoff=float(cutoff), n_atoms=n
    )


def _pymatgen_pairs(cart: np.ndarray, lattice: np.ndarray, cutoff: float):
    from pymatgen.optimization.neighbors import find_points_in_spheres

    cart = np.ascontiguousarray(cart)
    L = np.ascontiguousarray(lattice)
    pbc = np.ones(3, dtype=np.int64)
    i, j, img, d = find_points_in_spheres(cart, cart, cutoff, pbc, L, tol=1e-8)
    keep = ~((i == j) & (d < 1e-8))
    i, j, d = i[keep].astype(np.int64), j[keep].astype(np.int64), d[keep]
    S = np.rint(img[keep]).astype(np.int32)
    D = cart[j] + S @ L - cart[i]
    return i, j, S, D, d
