"""Interactive 3D view of thermal ellipsoids in one self-contained HTML file (plotly).

plotly ships its JavaScript in its wheel; :func:`write_html` embeds it, so the
file opens in any browser without a network. The user rotates and zooms the
structure, hovers an atom to read its label, U_eq and principal values (Å²),
and toggles each set of ellipsoids (experiment, prediction) in the legend.

The atoms are those of the ORTEP figure (:func:`xtalkit.adp.ortep.grow_scene`);
each ellipsoid is the probability surface at ``probability`` (principal radii
``c·sqrt(λ)``, :func:`xtalkit.adp.ortep.ellipsoid_axes`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from xtalkit.adp.ortep import Scene, ellipsoid_axes, grow_scene
from xtalkit.crystal.core import Crystal
from xtalkit.elements import color as element_color
from xtalkit.io import atomic_write


def _unit_sphere(n_theta: int = 10, n_phi: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (v, 3) and triangles (f, 3) of a latitude-longitude unit sphere."""
    theta = np.linspace(0, np.pi, n_theta)
    phi = np.linspace(0, 2 * np.pi, n_phi, endpoint=False)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    verts = np.stack([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], -1).reshape(-1, 3)
    faces = []
    for i in range(n_theta - 1):
        for j in range(n_phi):
            a, b = i * n_phi + j, i * n_phi + (j + 1) % n_phi
            c, d = a + n_phi, b + n_phi
            faces += [(a, b, d), (a, d, c)]
    return verts, np.array(faces)


def hover_data(scene: Scene, U: np.ndarray) -> np.ndarray:
    """What hovering a drawn atom shows: its U_eq and principal values.

    Args:
        scene: the drawn atoms (:func:`~xtalkit.adp.ortep.grow_scene`).
        U: (n, 3, 3) Cartesian tensors of the crystal's atoms, Å² (NaN where unknown).

    Returns:
        (m, 4) per drawn atom ``[U_eq, λ1, λ2, λ3]`` in Å² (ascending eigenvalues; NaN when unknown).
    """
    out = np.full((len(scene), 4), np.nan)
    for k, a in enumerate(scene.index):
        if np.isfinite(U[a]).all():
            out[k, 0] = np.trace(U[a]) / 3
            out[k, 1:] = np.linalg.eigvalsh(U[a])
    return out


def _ellipsoid_trace(crystal, scene, U, probability, name, colour=None):
    """One plotly mesh of the non-H ellipsoids with a positive-definite U (None when there is none)."""
    import plotly.graph_objects as go

    sphere, tri = _unit_sphere()
    xs, fs, cols = [], [], []
    for k, a in enumerate(scene.index):
        if crystal.numbers[a] == 1 or not np.isfinite(U[a]).all() or np.linalg.eigvalsh(U[a])[0] <= 0:
            continue
        radii, axes = ellipsoid_axes(U[a], probability)
        xs.append(sphere @ (axes * radii).T + scene.cart[k])
        fs.append(tri + len(sphere) * len(fs))
        cols += [colour or element_color(crystal.numbers[a])] * len(tri)
    if not xs:
        return None
    v, f = np.concatenate(xs), np.concatenate(fs)
    return go.Mesh3d(x=v[:, 0], y=v[:, 1], z=v[:, 2], i=f[:, 0], j=f[:, 1], k=f[:, 2], facecolor=cols,
                     flatshading=False, opacity=1.0 if colour is None else 0.55, name=name, hoverinfo="skip",
                     showlegend=True, legendgroup=name,
                     lighting={"ambient": 0.5, "diffuse": 0.8, "specular": 0.2})  # fmt: skip


def figure(crystal: Crystal, *, compare: np.ndarray | None = None, probability: float = 0.5,
           names: tuple[str, str | None] = ("experiment", "prediction")):  # fmt: skip
    """The plotly figure (see the module docstring); ``compare`` adds a second, toggleable set.

    Args:
        crystal: the structure; its own ``U_cart`` (n, 3, 3) Å² is the first set of ellipsoids.
        compare: a second set of Cartesian tensors on the same atoms, Å²: (n, 3, 3), or any
            array of n·9 numbers in that order ((n, 9) or flat); drawn in red, and the hover
            text gives its IoU with the crystal's own tensor.
        probability: enclosed probability of the ellipsoid surfaces, in (0, 1).
        names: legend names of the two sets.

    Returns:
        A ``plotly.graph_objects.Figure``.
    """
    import plotly.graph_objects as go

    from xtalkit.adp.metrics import iou

    if compare is not None:
        compare = np.asarray(compare, float).reshape(len(crystal), 3, 3)
    scene = grow_scene(crystal)
    sets = [(names[0] or "file", crystal.U_cart, None)]
    if compare is not None:
        sets.append((names[1] or "compared", compare, "#d62728"))
    traces = []
    bx, by, bz = [], [], []
    for i, j in scene.bonds:
        for axis, out in zip(range(3), (bx, by, bz), strict=True):
            out += [scene.cart[i, axis], scene.cart[j, axis], None]
    traces.append(go.Scatter3d(x=bx, y=by, z=bz, mode="lines", line={"color": "#444", "width": 5},
                               hoverinfo="skip", name="bonds"))  # fmt: skip
    for name, U, colour in sets:
        mesh = _ellipsoid_trace(crystal, scene, U, probability, name, colour)
        if mesh is not None:
            traces.append(mesh)
        data = hover_data(scene, U)
        text = []
        for k, a in enumerate(scene.index):
            label = f"{crystal.labels[a]} ({crystal.symbols[a]}), {name}"
            if np.isfinite(data[k, 0]):
                label += (f"<br>U_eq {data[k, 0]:.4f} Å²<br>principal {data[k, 1]:.4f}, {data[k, 2]:.4f}, "
                          f"{data[k, 3]:.4f} Å²")  # fmt: skip
                if (
                    compare is not None
                    and np.isfinite(compare[a]).all()
                    and np.isfinite(crystal.U_cart[a]).all()
                ):
                    label += f"<br>IoU {100 * iou(crystal.U_cart[a], compare[a])[0]:.0f} %"
            text.append(label)
        is_h = crystal.numbers[scene.index] == 1
        traces.append(go.Scatter3d(
            x=scene.cart[:, 0], y=scene.cart[:, 1], z=scene.cart[:, 2], mode="markers", name=f"{name} atoms",
            legendgroup=name, showlegend=False, customdata=data, hovertext=text, hoverinfo="text",
            marker={"size": np.where(is_h, 4, 2), "color": ["#ddd" if h else "#000" for h in is_h],
                    "line": {"width": 0}},
        ))  # fmt: skip
    fig = go.Figure(traces)
    T = "" if crystal.temperature is None else f", {crystal.temperature:g} K"
    fig.update_layout(
        title={"text": f"{crystal.formula}{T}: {100 * probability:.0f} % probability ellipsoids<br><sup>"
               "drag: rotate · scroll: zoom · hover an atom: U values · click the legend: show or hide</sup>",
               "font": {"size": 15}},
        scene={"aspectmode": "data", "xaxis": {"visible": False}, "yaxis": {"visible": False},
               "zaxis": {"visible": False}},
        margin={"l": 0, "r": 0, "t": 40, "b": 0}, paper_bgcolor="white",
    )  # fmt: skip
    return fig


def write_html(crystal: Crystal, path: str | os.PathLike, **kwargs) -> Path:
    """Write :func:`figure` as one self-contained HTML file (plotly.js embedded), atomically.

    Args:
        crystal: the structure, with Cartesian ``U_cart`` (n, 3, 3) in Å².
        path: the ``.html`` file.
        **kwargs: :func:`figure`'s ``compare`` ((n, 3, 3) Å²), ``probability`` (in (0, 1)) and ``names``.

    Returns:
        The path written.
    """
    config = {"displaylogo": False}
    html = figure(crystal, **kwargs).to_html(include_plotlyjs=True, full_html=True, config=config,
                                             default_height="96vh")  # fmt: skip
    return atomic_write(path, html)
