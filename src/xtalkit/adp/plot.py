"""ORTEP-style pictures of thermal ellipsoids (CartNet Figs. 2, 11, 17).

An ellipsoid is the probability surface of the atom's Gaussian displacement:
``xᵀ U⁻¹ x = c²`` with ``c² = χ²₃⁻¹(p)``, e.g. c = 1.5382 at the usual 50 %
level. It is drawn with its three principal axes; H atoms are small spheres
(or their isotropic ellipsoids when known). Bonds join atoms closer than the
sum of their covalent radii plus 0.45 Å. Molecules are kept whole across the
cell boundary by placing every bonded neighbour next to its partner;
extended frameworks are drawn as the atoms of one cell. The unit cell is
drawn as a box with the a, b and c axes in red, green and blue.

Compare mode draws a reference (green) and a second set of tensors (red)
on the same atoms, labelled with their IoU in %.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from xtalkit.crystal.core import Crystal
from xtalkit.elements import color as element_color
from xtalkit.elements import covalent_radius
from xtalkit.geometry.molecules import BOND_TOLERANCE, bonded_edges, find_molecules
from xtalkit.io import atomic_write


def probability_scale(p: float = 0.5) -> float:
    """C such that a 3D Gaussian lies inside ``xᵀ U⁻¹ x ≤ c²`` with probability p (c = 1.5382 at 50 %)."""
    from scipy.stats import chi2

    if not 0 < p < 1:
        raise ValueError("probability must be in (0, 1)")
    return float(np.sqrt(chi2.ppf(p, 3)))


def _bond_graph(crystal: Crystal, tolerance: float):
    from xtalkit.geometry.neighbors import radius_graph

    cutoff = 2 * float(covalent_radius(crystal.numbers).max()) + tolerance
    return radius_graph(crystal, cutoff=cutoff)


def bonds(crystal: Crystal, tolerance: float = BOND_TOLERANCE) -> list[tuple[int, int, np.ndarray]]:
    """Bonded pairs ``(i, j, shift)`` with i < j or (i == j and shift > 0), d ≤ r_i + r_j + tolerance."""
    g = _bond_graph(crystal, tolerance)
    ok = bonded_edges(crystal.numbers, g.centers, g.neighbors, g.distances, tolerance)
    out = []
    for i, j, s in zip(g.centers[ok], g.neighbors[ok], g.shifts[ok], strict=True):
        if i < j or (i == j and tuple(s) > (0, 0, 0)):
            out.append((int(i), int(j), np.asarray(s)))
    return out


def whole_molecules(crystal: Crystal, tolerance: float = BOND_TOLERANCE) -> np.ndarray:
    """Cartesian positions (n, 3) with each finite molecule drawn whole.

    Extended frameworks (a bond path that reaches a periodic image) keep their
    in-cell positions (:func:`xtalkit.geometry.molecules.find_molecules`).
    """
    g = _bond_graph(crystal, tolerance)
    mols = find_molecules(
        crystal.numbers, crystal.frac, g.centers, g.neighbors, g.shifts, g.distances, tolerance
    )
    return mols.frac_whole @ crystal.lattice


def _ellipsoid_mesh(center, U, c, n=18):
    u = np.linspace(0, 2 * np.pi, n)
    v = np.linspace(0, np.pi, n // 2 + 1)
    sphere = np.stack(
        [np.outer(np.cos(u), np.sin(v)), np.outer(np.sin(u), np.sin(v)), np.outer(np.ones_like(u), np.cos(v))]
    )
    lam, vec = np.linalg.eigh(U)
    A = vec * (c * np.sqrt(np.clip(lam, 0, None)))
    pts = np.einsum("ij,jab->iab", A, sphere)
    return pts + np.asarray(center)[:, None, None], A


def plot_ellipsoids(
    crystal: Crystal,
    path: str | os.PathLike,
    *,
    compare: np.ndarray | None = None,
    probability: float = 0.5,
    hydrogens: bool = True,
    title: str | None = None,
    labels: str = "auto",
    view: tuple[float, float] = (20.0, -60.0),
    dpi: int = 150,
) -> Path:
    """Draw the crystal's ellipsoids and write a PNG (atomically).

    Args:
        crystal: structure with ADPs (atoms without a finite tensor are drawn as small spheres).
        path: output PNG.
        compare: (n, 3, 3) second set of tensors (e.g. predictions) on the same atoms; drawn
            red over the crystal's own (green), with per-atom IoU labels.
        probability: probability level of the surfaces.
        hydrogens: draw H atoms.
        title: figure title.
        labels: ``"auto"`` (IoU in compare mode, else none), ``"labels"`` (site labels) or ``"none"``.
        view: matplotlib 3D elevation and azimuth, degrees.
        dpi: resolution.

    Returns:
        The path written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from xtalkit.adp.metrics import iou

    c = probability_scale(probability)
    bond_list = bonds(crystal)
    pos = whole_molecules(crystal)
    show = np.ones(len(crystal), bool) if hydrogens else ~crystal.is_hydrogen
    fig = plt.figure(figsize=(8, 8))
    ax = fig.add_subplot(111, projection="3d")
    ax.view_init(*view)

    # unit cell and axes
    L = crystal.lattice
    corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], float) @ L
    for a in range(8):
        for b in range(a + 1, 8):
            if bin(a ^ b).count("1") == 1:
                ax.plot(*corners[[a, b]].T, color="0.6", lw=0.8)
    for vec, col in zip(L, ("red", "green", "blue"), strict=True):
        ax.plot(*np.stack([np.zeros(3), vec]).T, color=col, lw=2.0)

    # bonds between drawn atoms that are bonded as placed (no dangling half-bonds)
    for i, j, s in bond_list:
        if not (show[i] and show[j]):
            continue
        bond = (crystal.frac[j] + s - crystal.frac[i]) @ L
        if np.linalg.norm(pos[i] + bond - pos[j]) < 1e-3:
            ax.plot(*np.stack([pos[i], pos[j]]).T, color="0.35", lw=1.5)

    sets = [(crystal.U_cart, None)]
    if compare is not None:
        compare = np.asarray(compare, float).reshape(len(crystal), 3, 3)
        sets = [(crystal.U_cart, "#2ca02c"), (compare, "#d62728")]
    for k in np.flatnonzero(show):
        for U, override in sets:
            if not np.isfinite(U[k]).all() or np.linalg.eigvalsh(U[k])[0] <= 0:
                if override is None:
                    ax.scatter(
                        *pos[k], color=element_color(crystal.numbers[k]), s=15, edgecolors="k", linewidths=0.3
                    )
                continue
            mesh, A = _ellipsoid_mesh(pos[k], U[k], c)
            col = override or element_color(crystal.numbers[k])
            alpha = 0.45 if override else 0.9
            ax.plot_surface(*mesh, color=col, alpha=alpha, linewidth=0, shade=True)
            if override is None:
                for axis in A.T:
                    ax.plot(*np.stack([pos[k] - axis, pos[k] + axis]).T, color="k", lw=0.6)
        text = None
        if labels == "labels":
            text = str(crystal.labels[k])
        elif (
            compare is not None
            and labels == "auto"
            and np.isfinite(crystal.U_cart[k]).all()
            and np.isfinite(compare[k]).all()
        ):
            text = f"{100 * iou(crystal.U_cart[k], compare[k])[0]:.0f}"
        if text:
            ax.text(*(pos[k] + 0.25), text, fontsize=6)

    pts = np.concatenate([pos[show], corners])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_zlim(lo[2], hi[2])
    ax.set_box_aspect(hi - lo)
    ax.set_axis_off()
    caption = title or f"{crystal.formula}, {100 * probability:.0f} % probability"
    if compare is not None:
        caption += "  (green: reference, red: compared; labels: IoU %)"
    ax.set_title(caption, fontsize=9)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return atomic_write(path, buf.getvalue())
