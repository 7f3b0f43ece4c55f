"""ORTEP figures of thermal ellipsoids (matplotlib; PNG, SVG or PDF by the file suffix).

What is drawn comes from :mod:`xtalkit.adp.ortep` (asymmetric unit grown to whole
molecules or one coordination shell, principal axes, the view); this module paints
it as ORTEP does, in an orthographic projection drawn back to front:

* non-H atoms: the ellipsoid's outline at the chosen probability (50 % by default),
  filled with the element colour, with the octant facing the viewer shaded and the
  front halves of the three principal ellipses drawn;
* H atoms: small spheres of fixed radius (0.12 Å);
* atoms without a positive-definite tensor: small open circles (and named in the caption);
* atom labels from the CIF (``labels``), an a/b/c axis triad, a 1 Å scale bar, a
  caption with the model, temperature and probability, the unit cell on request.

Compare mode (``compare=``) draws the reference and the compared tensors side by
side in one view; in the compared panel, atoms that have both are coloured by
their IoU (colour bar), and the worst are named in the caption.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from xtalkit.adp.ortep import (
    bonds,
    front_octant,
    grow_scene,
    principal_ellipse_points,
    probability_scale,
    projected_ellipse,
    view_matrix,
    whole_molecules,
)
from xtalkit.crystal.core import Crystal
from xtalkit.elements import color as element_color
from xtalkit.io import atomic_write

__all__ = ["bonds", "plot_ellipsoids", "probability_scale", "whole_molecules"]

#: Radius of H spheres, Å.
H_RADIUS = 0.12
FORMATS = (".png", ".svg", ".pdf")


def _positive_definite(U: np.ndarray) -> bool:
    return bool(np.isfinite(U).all() and np.linalg.eigvalsh(U)[0] > 0)


def _shade(rgb, factor: float) -> tuple[float, float, float]:
    from matplotlib.colors import to_rgb

    return tuple(float(x) * factor for x in to_rgb(rgb))


def _draw_panel(ax, crystal, scene, U, R, probability, *, colors, labels, hydrogens, lw=0.8):
    """Paint one view of the scene on ``ax``: atoms and bonds back to front."""
    from matplotlib.patches import Circle, Ellipse, Polygon

    xy = scene.cart @ R.T  # screen x, y and depth (towards the viewer)
    is_h = crystal.numbers[scene.index] == 1
    show = np.ones(len(scene), bool) if hydrogens else ~is_h
    items = [(xy[k, 2], "atom", k) for k in np.flatnonzero(show)]
    # a bond sorts by its midpoint, just behind atoms at the same depth (planar molecules)
    items += [
        (0.5 * (xy[i, 2] + xy[j, 2]) - 1e-3, "bond", (i, j)) for i, j in scene.bonds if show[i] and show[j]
    ]
    items.sort(key=lambda t: t[0])
    z = 2.0
    for _, kind, what in items:
        z += 1.0
        if kind == "bond":
            i, j = what
            ax.plot(xy[[i, j], 0], xy[[i, j], 1], color="0.25", lw=2.2 * lw, solid_capstyle="round", zorder=z)
            continue
        k = what
        atom = scene.index[k]
        centre = xy[k, :2]
        col = colors[k]
        if is_h[k]:
            ax.add_patch(Circle(centre, H_RADIUS, facecolor="0.9", edgecolor="k", lw=0.5 * lw, zorder=z))
            continue
        if not _positive_definite(U[atom]):
            ax.add_patch(Circle(centre, 0.2, facecolor="white", edgecolor=col, lw=1.2 * lw, zorder=z))
            continue
        w, h, angle = projected_ellipse(U[atom], R, probability)
        ax.add_patch(Ellipse(centre, w, h, angle=angle, facecolor=col, edgecolor="k", lw=lw, zorder=z))
        for face in front_octant(U[atom], R, probability):
            ax.add_patch(Polygon(face @ R[:2].T + centre, closed=True, facecolor=_shade(col, 0.55),
                                 edgecolor="k", lw=0.4 * lw, zorder=z + 0.1))  # fmt: skip
        for ring in principal_ellipse_points(U[atom], probability):
            front = (ring @ R[2]) >= 0
            pts = ring @ R[:2].T + centre
            seg = np.where(front, pts.T, np.nan).T  # back halves hidden
            ax.plot(seg[:, 0], seg[:, 1], color="k", lw=0.5 * lw, zorder=z + 0.2)
    if labels != "none":  # each CIF label once: the asymmetric-unit atom, not its symmetry images
        first = np.zeros(len(scene), bool)
        first[np.unique(scene.index, return_index=True)[1]] = True
        _, first_label = np.unique(crystal.labels[scene.index].astype(str), return_index=True)
        first &= np.isin(np.arange(len(scene)), first_label)
        for k in np.flatnonzero(show & first & (~is_h | (labels in ("all", "labels")))):
            box = {"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.6}
            label = str(crystal.labels[scene.index[k]])
            ax.text(xy[k, 0] + 0.22, xy[k, 1] + 0.22, label, fontsize=7, zorder=z + 10, bbox=box)
    return xy


def _decorate(ax, xy, crystal, R, *, cell: bool):
    """Equal axes, an a/b/c triad, a 1 Å scale bar and (optionally) the unit cell."""
    L = crystal.lattice
    pts = xy[:, :2]
    if cell:
        corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], float) @ L @ R.T
        for a in range(8):
            for b in range(a + 1, 8):
                if bin(a ^ b).count("1") == 1:
                    ax.plot(*corners[[a, b], :2].T, color="0.6", lw=0.7, zorder=1)
        pts = np.vstack([pts, corners[:, :2]])
    lo, hi = pts.min(axis=0) - 1.0, pts.max(axis=0) + 1.0
    span = max(hi - lo)
    ax.set_xlim(lo[0], lo[0] + max(hi[0] - lo[0], 0.6 * span))
    ax.set_ylim(lo[1] - 0.12 * span, hi[1])
    ax.set_aspect("equal")
    ax.set_axis_off()
    # triad: a, b, c as seen in this view, bottom left
    origin = np.array([lo[0] + 0.06 * span, lo[1] - 0.06 * span])
    placed: list[np.ndarray] = []
    for vec, name, col in zip(L, "abc", ("#c0392b", "#27ae60", "#2e6fd1"), strict=True):
        u = R @ vec / np.linalg.norm(vec)
        d = u[:2] * 0.08 * span
        if np.linalg.norm(u[:2]) < 0.25:  # (nearly) along the line of sight: ⊙ or ⊗
            mark = "•" if u[2] > 0 else "×"  # towards or away from the viewer
            ax.text(*(origin + np.array([0.03, -0.03]) * span), f"{mark} {name}", color=col, fontsize=8,
                    ha="left", va="center", zorder=100)  # fmt: skip
            continue
        ax.annotate("", xy=origin + d, xytext=origin, zorder=100, annotation_clip=False,
                    arrowprops={"arrowstyle": "-|>", "color": col, "lw": 1.2})  # fmt: skip
        at = origin + 1.25 * d
        while any(np.linalg.norm(at - q) < 0.035 * span for q in placed):  # axes seen on top of each other
            at = at + np.array([0.0, -0.035 * span])
        placed.append(at)
        ax.text(*at, name, color=col, fontsize=8, ha="center", va="center", zorder=100, clip_on=False)
    # 1 Å scale bar, bottom right
    x1 = ax.get_xlim()[1] - 0.05 * span
    y0 = lo[1] - 0.08 * span
    ax.plot([x1 - 1.0, x1], [y0, y0], color="k", lw=1.5, zorder=100)
    ax.text(x1 - 0.5, y0 + 0.02 * span, "1 Å", ha="center", va="bottom", fontsize=7, zorder=100)


def _iou_colors(U_ref, U_cmp, atoms, numbers):
    """IoU per scene atom (NaN where either tensor is missing or H) and the colours."""
    import matplotlib

    from xtalkit.adp.metrics import iou

    cmap = matplotlib.colormaps["RdYlGn"]
    values = np.full(len(atoms), np.nan)
    for k, a in enumerate(atoms):
        if numbers[a] != 1 and _positive_definite(U_ref[a]) and _positive_definite(U_cmp[a]):
            values[k] = float(iou(U_ref[a], U_cmp[a])[0])
    colors = [cmap((v - 0.4) / 0.6) if np.isfinite(v) else "0.85" for v in values]
    return values, colors, cmap


def plot_ellipsoids(
    crystal: Crystal,
    path: str | os.PathLike,
    *,
    compare: np.ndarray | None = None,
    probability: float = 0.5,
    hydrogens: bool = True,
    title: str | None = None,
    labels: str = "auto",
    view: str = "best",
    cell: bool = False,
    subtitle: str | None = None,
    highlight: np.ndarray | None = None,
    dpi: int = 200,
) -> Path:
    """Draw an ORTEP figure of the crystal's ellipsoids and write it atomically.

    Args:
        crystal: structure with ADPs (Cartesian ``U_cart``, Å²).
        path: output file; ``.png``, ``.svg`` or ``.pdf``.
        compare: (n, 3, 3) second set of tensors on the same atoms (e.g. a prediction):
            drawn in a second panel, coloured by IoU with the crystal's own.
        probability: enclosed probability of the ellipsoids (0.5: ORTEP's usual 50 %).
        hydrogens: draw H atoms (small spheres).
        title: first caption line (default: the formula).
        labels: ``"auto"`` (labels of non-H atoms), ``"all"`` (H too) or ``"none"``.
        view: ``"a"``, ``"b"``, ``"c"`` or ``"best"`` (least overlap; see :func:`view_matrix`).
        cell: draw the unit cell.
        subtitle: second caption line (e.g. model and temperature); the probability is appended.
        highlight: (n,) atoms drawn in red (e.g. atoms flagged by ``adp check``).
        dpi: resolution of PNG output.

    Returns:
        The path written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fmt = path.suffix.lower()
    if fmt not in FORMATS:
        raise ValueError(f"{path}: figure formats are {', '.join(FORMATS)}")
    scene = grow_scene(crystal)
    R = view_matrix(crystal.lattice, scene.cart[crystal.numbers[scene.index] != 1], view)
    colors = [element_color(z) for z in crystal.numbers[scene.index]]
    if highlight is not None:
        colors = ["#e74c3c" if highlight[a] else "0.8" for a in scene.index]
    npanels = 1 if compare is None else 2
    fig, axes = plt.subplots(1, npanels, figsize=(6.5 * npanels, 6.5), squeeze=False)
    axes = axes[0]
    xy = _draw_panel(axes[0], crystal, scene, crystal.U_cart, R, probability, colors=colors, labels=labels,
                     hydrogens=hydrogens)  # fmt: skip
    _decorate(axes[0], xy, crystal, R, cell=cell)
    caption = title or crystal.formula
    second = (subtitle + ", " if subtitle else "") + f"{100 * probability:.0f} % probability ellipsoids"
    if compare is not None:
        compare = np.asarray(compare, float).reshape(len(crystal), 3, 3)
        values, cmp_colors, cmap = _iou_colors(crystal.U_cart, compare, scene.index, crystal.numbers)
        _draw_panel(axes[1], crystal, scene, compare, R, probability, colors=cmp_colors, labels=labels,
                    hydrogens=hydrogens)  # fmt: skip
        _decorate(axes[1], xy, crystal, R, cell=cell)
        axes[0].set_title("reference", fontsize=9)
        axes[1].set_title("compared (colour: IoU with the reference)", fontsize=9)
        sm = matplotlib.cm.ScalarMappable(cmap=cmap, norm=matplotlib.colors.Normalize(40, 100))
        fig.colorbar(sm, ax=axes[1], orientation="horizontal", fraction=0.04, pad=0.02, label="IoU (%)")
        worst = sorted(
            {
                str(crystal.labels[a]): v for a, v in zip(scene.index, values, strict=True) if np.isfinite(v)
            }.items(),
            key=lambda t: t[1],
        )[:3]
        if worst:
            second += "; lowest IoU: " + ", ".join(f"{lb} {100 * v:.0f} %" for lb, v in worst)
    bad = [str(crystal.labels[a]) for a in dict.fromkeys(scene.index.tolist())
           if crystal.numbers[a] != 1 and not _positive_definite(crystal.U_cart[a])]  # fmt: skip
    if bad:
        second += f"; no positive-definite tensor: {', '.join(bad[:6])}"
    fig.suptitle(f"{caption}\n{second}", fontsize=10, y=1.02)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt[1:], dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return atomic_write(path, buf.getvalue())
