"""Geometry of an ORTEP figure: which atoms are drawn, where, bonded to what, seen from where.

Rendering (:mod:`xtalkit.adp.plot`, :mod:`xtalkit.adp.html_view`) only paints what
this module computes, so what a figure shows is tested here as geometry, not pixels:

* :func:`grow_scene`: the asymmetric unit grown to whole molecules (covalent
  connectivity, per-element radii: bonded when ``d ≤ r_i + r_j + 0.45 Å``); for
  extended structures (a bond path reaches a periodic image), the asymmetric
  unit, each site at the image closest to the sites already placed, with one
  coordination shell (cation–anion bonds only when there are non-metals).
  Several molecules of one asymmetric unit are placed next to each other
  (lattice translations of their centroids).
* :func:`ellipsoid_axes`: principal axes (eigenvectors of U) and radii
  ``c · sqrt(λ)`` with ``c² = χ²₃⁻¹(p)`` (c = 1.5382 at 50 %): the surface that
  holds the atom with probability p (ORTEP's convention).
* :func:`view_matrix`: an orthographic view down a, b or c, or the "best" view,
  the line of sight along which the drawn atoms overlap least (:func:`best_direction`).
* :func:`projected_ellipse` and :func:`front_octant`: the ellipse outline on the
  screen (covariance ``(R U Rᵀ)₂ₓ₂``) and the octant facing the viewer, which
  ORTEP cuts away to show the principal ellipses.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from xtalkit.crystal.core import Crystal
from xtalkit.elements import covalent_radius
from xtalkit.geometry.molecules import BOND_TOLERANCE, bonded_edges, find_molecules


def probability_scale(p: float = 0.5) -> float:
    """Scale c such that a 3D Gaussian lies inside ``xᵀ U⁻¹ x ≤ c²`` with probability p (1.5382 at 50 %)."""
    from scipy.stats import chi2

    if not 0 < p < 1:
        raise ValueError("probability must be in (0, 1)")
    return float(np.sqrt(chi2.ppf(p, 3)))


@dataclasses.dataclass(frozen=True)
class Scene:
    """Atoms to draw.

    Attributes:
        index: (m,) index of each drawn atom in the crystal (an atom may be drawn twice, as
            two periodic images).
        cart: (m, 3) Cartesian positions, Å.
        bonds: (b, 2) pairs of scene indices, i < j.
        extended: True when the structure is an extended solid (a coordination shell is drawn).
    """

    index: np.ndarray
    cart: np.ndarray
    bonds: np.ndarray
    extended: bool

    def __len__(self) -> int:
        return len(self.index)


def _bond_graph(crystal: Crystal, tolerance: float):
    from xtalkit.geometry.neighbors import radius_graph

    cutoff = 2 * float(covalent_radius(crystal.numbers).max()) + tolerance
    g = radius_graph(crystal, cutoff=cutoff)
    ok = bonded_edges(crystal.numbers, g.centers, g.neighbors, g.distances, tolerance)
    return g, ok


#: Non-metals (and noble gases): in an extended solid that contains them, bonds are drawn
#: only to them (cation–anion), as crystallographic figures of inorganic structures do.
NONMETALS = frozenset({1, 2, 5, 6, 7, 8, 9, 10, 14, 15, 16, 17, 18, 33, 34, 35, 36, 52, 53, 54, 85, 86})


def _molecules(crystal: Crystal, tolerance: float):
    """The bond graph of the periodic crystal and its molecules: ``(graph, bonded mask (E,), Molecules)``."""
    g, ok = _bond_graph(crystal, tolerance)
    mols = find_molecules(
        crystal.numbers, crystal.frac, g.centers, g.neighbors, g.shifts, g.distances, tolerance
    )
    return g, ok, mols


def _ionic_mask(numbers: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """(p,) pairs ``(i, j)`` kept as cation–anion bonds: at least one non-metal, when ``numbers`` has any.

    Args:
        numbers: (m,) atomic numbers of the atoms that ``i`` and ``j`` index.
        i: (p,) first atom of each pair.
        j: (p,) second atom of each pair.

    Returns:
        (p,) bool; all True when there is no non-metal at all (metals and alloys keep every bond).
    """
    nonmetal = np.isin(np.asarray(numbers), list(NONMETALS))
    if not nonmetal.any():
        return np.ones(len(i), bool)
    return nonmetal[i] | nonmetal[j]


def scene_bonds(
    numbers: np.ndarray, cart: np.ndarray, tolerance: float = BOND_TOLERANCE, *, ionic: bool = False
) -> np.ndarray:
    """Bonded pairs among placed atoms: ``0.1 Å < d ≤ r_i + r_j + tolerance`` (element-pair cutoffs).

    Args:
        numbers: (m,) atomic numbers.
        cart: (m, 3) positions, Å.
        tolerance: Å added to the sum of covalent radii.
        ionic: leave out metal–metal pairs when non-metals are present (extended solids).

    Returns:
        (b, 2) int array of index pairs, i < j.
    """
    from scipy.spatial import cKDTree

    numbers = np.asarray(numbers)
    if len(numbers) < 2:
        return np.zeros((0, 2), np.int64)
    r = covalent_radius(numbers)
    pairs = cKDTree(cart).query_pairs(2 * float(r.max()) + tolerance, output_type="ndarray")
    d = np.linalg.norm(cart[pairs[:, 0]] - cart[pairs[:, 1]], axis=1)
    ok = (d > 0.1) & (d <= r[pairs[:, 0]] + r[pairs[:, 1]] + tolerance)
    if ionic:
        ok &= _ionic_mask(numbers, pairs[:, 0], pairs[:, 1])
    return np.sort(pairs[ok], axis=1).astype(np.int64)


def grow_scene(crystal: Crystal, tolerance: float = BOND_TOLERANCE) -> Scene:
    """The asymmetric unit grown to whole molecules, or with one coordination shell (module docstring)."""
    g, ok, mols = _molecules(crystal, tolerance)
    L = crystal.lattice
    _, reps = np.unique(crystal.asym_index, return_index=True)
    finite = mols.finite_atoms
    index: list[int] = []
    cart: list[np.ndarray] = []
    # whole molecules holding an asymmetric-unit site, placed next to the first one
    whole = mols.frac_whole @ L
    anchor = None
    for mol in dict.fromkeys(int(mols.index[r]) for r in reps if finite[r]):
        atoms = np.flatnonzero(mols.index == mol)
        pos = whole[atoms]
        centre = pos.mean(axis=0)
        if anchor is None:
            anchor = centre
        else:  # the lattice translation that brings this centroid closest to the first
            shift = np.rint((anchor - centre) @ np.linalg.inv(L))
            best = min(
                (shift + np.array(d) for d in np.ndindex(3, 3, 3)),
                key=lambda s: np.linalg.norm(centre + (s - 1) @ L - anchor),
            )
            pos = pos + (best - 1) @ L
        index += atoms.tolist()
        cart += list(pos)
    # extended structures: the asymmetric-unit atoms and their bonded neighbours
    ext = [int(r) for r in reps if not finite[r]]
    ok = ok & _ionic_mask(crystal.numbers, g.centers, g.neighbors)  # cation–anion bonds only
    seen = {tuple(np.round(p, 3)) for p in cart}
    images = np.array(list(np.ndindex(3, 3, 3))) - 1
    for r in ext:
        base = crystal.frac[r] @ L
        if cart:  # the image of this site closest to what is placed: a compact asymmetric unit
            cand = base + images @ L
            placed = np.array(cart)
            base = cand[np.argmin(np.linalg.norm(cand[:, None] - placed[None], axis=-1).min(axis=1))]
        for j, p in [(r, base)] + [(int(g.neighbors[e]), base + g.vectors[e]) for e in
                                   np.flatnonzero(ok & (g.centers == r))]:  # fmt: skip
            key = tuple(np.round(p, 3))
            if key not in seen:
                seen.add(key)
                index.append(j)
                cart.append(p)
    idx = np.array(index, np.int64)
    pos = np.array(cart, float).reshape(-1, 3)
    bonds = scene_bonds(crystal.numbers[idx], pos, tolerance, ionic=bool(ext))
    return Scene(idx, pos, bonds, bool(ext))


def ellipsoid_axes(U: np.ndarray, probability: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Principal radii and axes of the probability ellipsoid of U.

    Args:
        U: (3, 3) Cartesian tensor, Å² (positive definite).
        probability: enclosed probability.

    Returns:
        ``(radii, axes)``: (3,) radii ``c · sqrt(λ)`` in Å (ascending λ) and (3, 3) unit
        eigenvectors as columns.
    """
    lam, vec = np.linalg.eigh(np.asarray(U, float))
    return probability_scale(probability) * np.sqrt(np.clip(lam, 0.0, None)), vec


def view_matrix(lattice: np.ndarray, cart: np.ndarray, view: str = "best") -> np.ndarray:
    """Rotation whose rows are the screen x (right), y (up) and the direction towards the viewer.

    Args:
        lattice: (3, 3) lattice vectors as rows, Å.
        cart: (m, 3) positions of the drawn atoms (for ``"best"``).
        view: ``"a"``, ``"b"``, ``"c"`` (looking down that axis) or ``"best"`` (the line of
            sight with the least overlap, :func:`best_direction`; the largest spread left to right).
    """
    L = np.asarray(lattice, float)
    if view == "best":
        pts = np.asarray(cart, float)
        if len(pts) < 3:
            return view_matrix(L, pts, "c")
        toward = best_direction(pts)
        centred = pts - pts.mean(axis=0)
        flat = centred - np.outer(centred @ toward, toward)  # projected onto the screen
        _, v = np.linalg.eigh(flat.T @ flat)
        x = v[:, 2]  # the longest extent runs left to right
        y = np.cross(toward, x)
    elif view in ("a", "b", "c"):
        k = "abc".index(view)
        toward = L[k] / np.linalg.norm(L[k])
        up_vec = L[2] if k != 2 else L[1]
        y = up_vec - np.dot(up_vec, toward) * toward
        y /= np.linalg.norm(y)
        x = np.cross(y, toward)
    else:
        raise ValueError(f"view must be a, b, c or best, not {view!r}")
    z = np.cross(x, y)
    return np.stack([x, y, z / np.linalg.norm(z)])


def best_direction(cart: np.ndarray, n: int = 400, seed: int = 0) -> np.ndarray:
    """Line of sight with the least overlap of the atoms at ``cart``: (3,) unit vector.

    Candidates: ``n`` directions spread evenly over a hemisphere (Fibonacci lattice)
    plus the smallest principal axis of the positions. Overlap of a direction: the sum
    over atom pairs of ``exp(−(d⊥ / 1 Å)²)``, with d⊥ the pair's distance on the screen.
    """
    pts = np.asarray(cart, float)
    if len(pts) > 400:  # a fixed sample is enough to rank views
        pts = pts[np.random.default_rng(seed).choice(len(pts), 400, replace=False)]
    k = np.arange(n) + 0.5
    z = k / n  # hemisphere: a view and its reverse overlap the same
    phi = np.pi * (1 + 5**0.5) * k
    dirs = np.stack([np.sqrt(1 - z * z) * np.cos(phi), np.sqrt(1 - z * z) * np.sin(phi), z], 1)
    _, v = np.linalg.eigh(np.cov((pts - pts.mean(axis=0)).T))
    dirs = np.vstack([v[:, 0], dirs])
    i, j = np.triu_indices(len(pts), 1)
    d = pts[j] - pts[i]  # (p, 3)
    along = d @ dirs.T  # (p, n + 1)
    perp2 = (d * d).sum(axis=1)[:, None] - along**2
    overlap = np.exp(-np.clip(perp2, 0, None)).sum(axis=0)
    return dirs[int(np.argmin(overlap))]


def projected_ellipse(U: np.ndarray, R: np.ndarray, probability: float = 0.5) -> tuple[float, float, float]:
    """Outline of the ellipsoid on the screen: ``(width, height, angle in degrees)``.

    The outline of an orthographic projection is the ellipse of the projected tensor
    ``(R U Rᵀ)[:2, :2]`` at the same scale c (widths are full diameters, Å).
    """
    M = (R @ np.asarray(U, float) @ R.T)[:2, :2]
    lam, vec = np.linalg.eigh(M)
    c = probability_scale(probability)
    width, height = 2 * c * np.sqrt(np.clip(lam[::-1], 0.0, None))
    angle = float(np.degrees(np.arctan2(vec[1, 1], vec[0, 1])))
    return float(width), float(height), angle


def principal_ellipse_points(U: np.ndarray, probability: float = 0.5, n: int = 48) -> np.ndarray:
    """The three principal ellipses (in the planes of pairs of principal axes): (3, n, 3) offsets, Å.

    Ellipse k lies in the plane of the two axes other than k.
    """
    radii, axes = ellipsoid_axes(U, probability)
    A = axes * radii
    t = np.linspace(0, 2 * np.pi, n)
    out = []
    for i, j in ((1, 2), (0, 2), (0, 1)):
        out.append(np.outer(np.cos(t), A[:, i]) + np.outer(np.sin(t), A[:, j]))
    return np.array(out)


def front_octant(U: np.ndarray, R: np.ndarray, probability: float = 0.5, n: int = 12) -> np.ndarray:
    """The octant facing the viewer: (3, n + 1, 3) offsets of its three quarter-ellipse faces, Å.

    Each face is the centre followed by a quarter of a principal ellipse between two
    principal semi-axes, each axis taken with the sign that points towards the viewer.
    """
    radii, axes = ellipsoid_axes(U, probability)
    A = axes * radii
    A = A * np.where((R @ A)[2] >= 0, 1.0, -1.0)
    t = np.linspace(0, np.pi / 2, n)
    faces = []
    for i, j in ((0, 1), (1, 2), (0, 2)):
        arc = np.outer(np.cos(t), A[:, i]) + np.outer(np.sin(t), A[:, j])
        faces.append(np.vstack([np.zeros(3), arc]))
    return np.array(faces)


def bonds(crystal: Crystal, tolerance: float = BOND_TOLERANCE) -> list[tuple[int, int, np.ndarray]]:
    """Bonded pairs of the periodic crystal ``(i, j, shift)``, i < j or (i == j and shift > 0).

    Bonded: ``d ≤ r_i + r_j + tolerance`` (covalent radii).
    """
    g, ok = _bond_graph(crystal, tolerance)
    out = []
    for i, j, s in zip(g.centers[ok], g.neighbors[ok], g.shifts[ok], strict=True):
        if i < j or (i == j and tuple(s) > (0, 0, 0)):
            out.append((int(i), int(j), np.asarray(s)))
    return out


def whole_molecules(crystal: Crystal, tolerance: float = BOND_TOLERANCE) -> np.ndarray:
    """Cartesian positions (n, 3) of every atom of the cell with each finite molecule whole."""
    return _molecules(crystal, tolerance)[2].frac_whole @ crystal.lattice
