"""ORTEP figures and the HTML view: the geometry of what is drawn, not pixels."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from xtalkit.adp.html_view import figure, hover_data, write_html
from xtalkit.adp.ortep import (
    bonds,
    ellipsoid_axes,
    front_octant,
    grow_scene,
    principal_ellipse_points,
    probability_scale,
    projected_ellipse,
    view_matrix,
)
from xtalkit.adp.plot import plot_ellipsoids
from xtalkit.crystal.cif import read_crystal
from xtalkit.examples import path as example_path

from conftest import EXPERIMENTAL, random_spd, shared_or_skip


def _with_adps(crystal, seed=0):
    """Symmetry-consistent random anisotropic tensors on every atom (H isotropic)."""
    U = random_spd(np.random.default_rng(seed), len(crystal), 0.01)
    U[crystal.is_hydrogen] = 0.03 * np.eye(3)
    return crystal.with_adps(U).symmetrized_adps()


def _assert_whole(crystal, scene):
    """Every bonded neighbour of every drawn atom of a finite molecule is drawn where it belongs."""
    L = crystal.lattice
    for i, j, s in bonds(crystal):
        for a, b, sign in ((i, j, 1), (j, i, -1)):
            vec = (crystal.frac[b] + sign * s - crystal.frac[a]) @ L
            for k in np.flatnonzero(scene.index == a):
                want = scene.cart[k] + vec
                d = np.linalg.norm(scene.cart - want, axis=1)
                assert d.min() < 1e-6, (crystal.labels[a], crystal.labels[b])


def test_urea_grows_to_the_whole_molecule():
    c = read_crystal(example_path("urea"))
    scene = grow_scene(c)
    assert not scene.extended
    assert sorted(c.symbols[i] for i in scene.index) == sorted("CONNHHHH")  # one whole molecule
    assert len(scene.bonds) == 7  # C=O, 2 C–N, 4 N–H
    _assert_whole(c, scene)


def test_shared_molecular_structures_are_drawn_whole():
    files = sorted(shared_or_skip(EXPERIMENTAL).glob("*/*.cif"))
    checked = 0
    for f in files:
        c = read_crystal(f)
        scene = grow_scene(c)
        if scene.extended or len(c) > 300:
            continue
        # every asymmetric-unit site is drawn
        assert set(np.unique(c.asym_index)) <= set(c.asym_index[scene.index])
        _assert_whole(c, scene)
        checked += 1
        if checked == 12:
            break
    assert checked == 12


def test_extended_solid_shows_one_coordination_shell_with_cation_anion_bonds():
    c = read_crystal(example_path("rutile"))
    scene = grow_scene(c)
    assert scene.extended
    ti = np.flatnonzero(c.numbers[scene.index] == 22)
    first = ti[np.argmin(np.linalg.norm(scene.cart[ti], axis=1))]  # Ti1 at the origin
    partners = [j for i, j in scene.bonds if i == first] + [i for i, j in scene.bonds if j == first]
    assert len(partners) == 6 and set(c.numbers[scene.index[partners]]) == {8}  # TiO6
    d = np.linalg.norm(scene.cart[partners] - scene.cart[first], axis=1)
    assert (d > 1.9).all() and (d < 2.0).all()
    z = c.numbers[scene.index]
    assert not any(z[i] == z[j] == 22 for i, j in scene.bonds)  # no Ti–Ti "bonds" at 2.96 Å


def test_axes_are_eigenvectors_and_radii_the_probability_quantile():
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    lam = np.array([0.004, 0.01, 0.03])
    U = q @ np.diag(lam) @ q.T
    radii, axes = ellipsoid_axes(U, 0.5)
    np.testing.assert_allclose(radii, 1.5382 * np.sqrt(lam), rtol=1e-4)
    for k in range(3):
        assert abs(abs(np.dot(axes[:, k], q[:, k])) - 1) < 1e-10
    # the points of the principal ellipses lie on the ellipsoid surface xᵀ U⁻¹ x = c²
    pts = principal_ellipse_points(U, 0.9).reshape(-1, 3)
    np.testing.assert_allclose(
        np.einsum("ni,ij,nj->n", pts, np.linalg.inv(U), pts), probability_scale(0.9) ** 2
    )


def test_projected_outline_and_front_octant():
    U = np.diag([0.01, 0.04, 0.09])
    c = probability_scale(0.5)
    w, h, angle = projected_ellipse(U, np.eye(3))  # looking down z: the x-y ellipse
    assert w == pytest.approx(2 * c * 0.2) and h == pytest.approx(2 * c * 0.1)
    assert abs(abs(angle) - 90) < 1e-6  # long axis along y
    R = view_matrix(np.eye(3) * 5, np.zeros((1, 3)), "a")
    assert np.allclose(R @ R.T, np.eye(3)) and np.linalg.det(R) == pytest.approx(1)
    assert np.allclose(R[2], [1, 0, 0])  # looking down a: a points at the viewer
    faces = front_octant(U, R)
    assert (faces @ R[2] >= -1e-12).all()  # the shaded octant faces the viewer


def test_best_view_looks_down_the_thinnest_direction():
    pts = np.array([[x, y, 0.0] for x in range(5) for y in range(3)], float)  # a flat slab in z
    R = view_matrix(np.eye(3) * 10, pts, "best")
    assert abs(R[2, 2]) == pytest.approx(1.0)  # line of sight along z: nothing overlaps
    assert abs(R[0, 0]) == pytest.approx(1.0)  # the longest extent runs left to right


def test_figures_in_every_format_with_labels_and_compare(tmp_path):
    c = _with_adps(read_crystal(example_path("urea")))
    for suffix, head in ((".png", b"\x89PNG"), (".pdf", b"%PDF"), (".svg", b"<?xml")):
        p = plot_ellipsoids(c, tmp_path / f"u{suffix}", subtitle="test, 123 K", view="best")
        assert p.read_bytes()[:5].startswith(head)
    svg = (tmp_path / "u.svg").read_text()
    assert "C1" in svg and "O1" in svg and "50 % probability" in svg
    other = c.U_cart.copy()
    heavy = ~c.is_hydrogen
    other[heavy] = 1.5 * other[heavy]
    other[np.flatnonzero(c.labels == "O1")] *= 3.0  # O1 the worst
    plot_ellipsoids(c, tmp_path / "cmp.svg", compare=other)
    text = (tmp_path / "cmp.svg").read_text()
    assert re.search(r"lowest IoU: O1 \d+ %", text)
    with pytest.raises(ValueError, match="figure formats"):
        plot_ellipsoids(c, tmp_path / "u.jpg")


def test_html_view_is_self_contained_and_hover_matches_the_cif(tmp_path):
    c = read_crystal(example_path("rutile"))
    fig = figure(c)
    atoms = [t for t in fig.data if t.type == "scatter3d" and t.customdata is not None]
    scene = grow_scene(c)
    np.testing.assert_allclose(np.asarray(atoms[0].customdata)[:, 0], c.U_eq[scene.index])
    np.testing.assert_allclose(atoms[0].customdata, hover_data(scene, c.U_cart))
    # rutile Ti1 from the CIF: U11 = U22 = 0.0116336834, U33 = 0.0051207100
    ti = np.flatnonzero(c.numbers[scene.index] == 22)[0]
    assert atoms[0].customdata[ti][0] == pytest.approx((2 * 0.0116336834 + 0.0051207100) / 3, abs=1e-9)
    p = write_html(c, tmp_path / "r.html", compare=c.U_cart * 1.1, names=("file", "model"))
    html = p.read_text()
    assert not re.search(r"<script[^>]+src=", html)  # plotly.js embedded, nothing fetched
    assert "Plotly.newPlot" in html and "U_eq" in html


@pytest.mark.parametrize("shape", [(-1, 3, 3), (-1, 9), (-1,)])
def test_html_view_compare_accepts_flat_tensors_and_hover_gives_their_iou(shape):
    c = read_crystal(example_path("rutile"))
    U = c.U_cart.copy()
    U[c.labels == "O1"] *= 8.0  # O1 compared with 8 U: radii ×√8, volume ×8^1.5 = 22.6: IoU 1/22.6 = 4 %
    fig = figure(c, compare=U.reshape(shape), names=("file", "model"))
    hover = next(t for t in fig.data if t.type == "scatter3d" and t.name == "model atoms")
    scene = grow_scene(c)
    np.testing.assert_allclose(hover.customdata, hover_data(scene, U))  # the compared set, reshaped
    for k, a in enumerate(scene.index):
        expected = "IoU 4 %" if c.labels[a] == "O1" else "IoU 100 %"
        assert expected in hover.hovertext[k], (c.labels[a], hover.hovertext[k])


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian chromium is not installed")
def test_html_view_renders_in_headless_chromium(tmp_path):
    from PIL import Image

    c = read_crystal(example_path("rutile"))
    page = write_html(c, tmp_path / "r.html")
    shot = tmp_path / "shot.png"
    cmd = ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--use-angle=swiftshader",
           "--enable-unsafe-swiftshader", "--window-size=800,600", "--virtual-time-budget=10000",
           "--proxy-server=127.0.0.1:9", f"--screenshot={shot}", page.as_uri()]  # fmt: skip
    subprocess.run(cmd, capture_output=True, timeout=120, check=False, cwd=tmp_path)
    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    plot_area = img[80:, : int(img.shape[1] * 0.8)]  # below the title, left of the legend
    red = (plot_area[..., 0] > 150) & (plot_area[..., 1] < 80) & (plot_area[..., 2] < 80)
    grey = (abs(plot_area - plot_area.mean(axis=-1, keepdims=True)).max(axis=-1) < 12) & (
        plot_area.mean(axis=-1) < 200
    )
    assert red.sum() > 200  # the O ellipsoids were rendered by WebGL (offline: no proxy reachable)
    assert grey.sum() > 200  # bonds and Ti


def test_parity_values_by_hand(tmp_path):
    from xtalkit.adp.analysis_plots import parity_values, plot_parity

    U = np.array([np.diag([0.01, 0.02, 0.04]), np.diag([0.02, 0.02, 0.02])])
    v = parity_values(U, 2 * U)
    np.testing.assert_allclose(v["ueq_true"], [0.07 / 3, 0.02])
    np.testing.assert_allclose(v["ueq_pred"] / v["ueq_true"], 2.0)
    np.testing.assert_allclose(v["aniso_true"], [4.0, 1.0])
    np.testing.assert_allclose(v["aniso_pred"], v["aniso_true"])  # scaling keeps the shape
    npd = np.array([np.diag([-0.01, 0.02, 0.03])])
    assert len(parity_values(npd, npd)["ueq_true"]) == 0  # not positive definite: left out
    svg = plot_parity(U, 2 * U, tmp_path / "p.svg", title="test").read_text()
    assert "median ratio 2.00" in svg


def test_check_plot_marks_the_flagged_atom_and_its_images(tmp_path, capsys, monkeypatch):
    from xtalkit.adp.check import check_adps
    from xtalkit.cli.main import main

    text = example_path("rutile").read_text()
    c = read_crystal(text, text=True)
    U = c.U_cart.copy()
    ti = c.labels == "Ti1"
    U[ti] = U[ti] * np.array([1.0, 1.0, -1.0])  # Ti1 no longer positive definite
    c = c.with_adps(U)
    rep = check_adps(c, None)
    mask = rep.flagged_mask(c)
    assert (mask == ti).all() and mask.sum() == 2  # Ti1 and its symmetry image
    path = tmp_path / "bad.cif"
    from xtalkit.crystal.cif import write_cif

    write_cif(c, path)
    # the command's figure, also written as SVG to read its colours: what it asked to highlight
    import xtalkit.adp.plot as adp_plot

    real, asked = adp_plot.plot_ellipsoids, []

    def also_svg(crystal, out, **kw):
        asked.append(kw.get("highlight"))
        real(crystal, tmp_path / "check.svg", **kw)
        return real(crystal, out, **kw)

    monkeypatch.setattr(adp_plot, "plot_ellipsoids", also_svg)
    assert main(["adp", "check", "--no-model", str(path), "--plot", str(tmp_path / "figs")]) == 0
    assert (tmp_path / "figs" / "bad_check.png").read_bytes()[:4] == b"\x89PNG"
    assert len(asked) == 1 and asked[0] is not None
    back = read_crystal(path)  # written in P 1: Ti1 and its image are Ti1 and Ti1_1
    np.testing.assert_array_equal(asked[0], back.numbers == 22)
    # every drawn image of the non-positive-definite Ti atoms is a circle outlined in red; O is not red
    drawn = grow_scene(back)
    n_ti = int((back.numbers[drawn.index] == 22).sum())
    assert n_ti >= 2 and (back.numbers[drawn.index] == 8).any()
    assert (tmp_path / "check.svg").read_text().count(HIGHLIGHT) == n_ti


HIGHLIGHT = "#e74c3c"


def test_highlighted_atoms_and_only_they_are_red(tmp_path):
    """``plot_ellipsoids(highlight=mask)``: one red ellipse per drawn image of a flagged atom, none else."""
    c = read_crystal(example_path("rutile"))
    drawn = c.labels[grow_scene(c).index]
    assert sorted(drawn.tolist()) == ["O1"] * 6 + ["Ti1"] * 3
    for flagged, n_red in ((["O1"], 6), (["Ti1"], 3), (["O1", "Ti1"], 9), ([], 0)):
        mask = np.isin(c.labels, flagged)
        svg = plot_ellipsoids(c, tmp_path / "h.svg", highlight=mask).read_text()
        assert svg.count(f"fill: {HIGHLIGHT}") == n_red, flagged
        assert svg.count(HIGHLIGHT) == n_red
    assert HIGHLIGHT not in plot_ellipsoids(c, tmp_path / "plain.svg").read_text()  # element colours
