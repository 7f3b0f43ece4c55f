"""adp check (model-free parts), plot, temperature scan, models list."""

import numpy as np
import pytest

from xtalkit import read_crystal
from xtalkit.adp.check import CheckThresholds, check_adps, format_report, hirshfeld, principal_log_ratios
from xtalkit.adp.plot import bonds, probability_scale, whole_molecules
from xtalkit.cli.main import main
from xtalkit.crystal import adp
from xtalkit.examples import path as example_path

from conftest import colour_fraction


def test_probability_scale():
    assert probability_scale(0.5) == pytest.approx(1.5382, abs=1e-4)
    assert probability_scale(0.9) == pytest.approx(2.5003, abs=1e-4)


def test_hirshfeld_by_hand():
    urea = read_crystal(example_path("urea"))
    U = np.array([np.diag([0.01, 0.02, 0.03])] * len(urea))
    c = urea.with_adps(U)
    # identical tensors: every bond passes with Δ = 0
    assert all(b.delta < 1e-15 for b in hirshfeld(c))
    # stretch O along the C=O bond (along z in urea): Δ(C–O) = 0.01 Å² exactly
    o = np.flatnonzero(c.labels == "O1")
    U2 = U.copy()
    U2[o] = np.diag([0.01, 0.02, 0.04])
    rows = {(b.label_a, b.label_b): b for b in hirshfeld(c.with_adps(U2), threshold=0.001)}
    co = rows.get(("C1", "O1")) or rows.get(("O1", "C1"))
    assert co.delta == pytest.approx(0.01, abs=1e-6) and co.flagged
    assert not any(b.flagged for k, b in rows.items() if "O1" not in k)


def test_model_free_check_flags_non_positive_definite():
    rutile = read_crystal(example_path("rutile"))
    U = rutile.U_cart.copy()
    ti = rutile.labels == "Ti1"
    U[ti] = adp.rotate(np.diag([0.01, 0.01, -0.001]), np.eye(3))
    bad = rutile.with_adps(U)
    rep = check_adps(bad, None)
    flagged = {a.label: a.flags for a in rep.flagged_atoms}
    assert flagged == {"Ti1": ["non_positive_definite"]}
    assert "1 flagged atom(s): Ti1" in format_report(rep)


def test_principal_log_ratios_by_hand():
    rng = np.random.default_rng(3)
    A = rng.normal(size=(3, 3))
    U = A @ A.T + 0.01 * np.eye(3)
    np.testing.assert_allclose(principal_log_ratios(U, U), 0.0, atol=1e-12)
    np.testing.assert_allclose(principal_log_ratios(2.0 * U, U), np.log(2.0), atol=1e-12)
    # a stretch by 3 along one principal axis of the model tensor: ratios (1, 1, 3)
    lam, vec = np.linalg.eigh(U)
    np.testing.assert_allclose(
        principal_log_ratios(vec @ np.diag(lam * [1, 3, 1]) @ vec.T, U), [0, 0, np.log(3)], atol=1e-12
    )
    # invariant under a common rotation
    R = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    np.testing.assert_allclose(principal_log_ratios(R @ (2 * U) @ R.T, R @ U @ R.T), np.log(2.0), atol=1e-12)


def test_model_comparison_flags_the_stretched_atom_only():
    rutile = read_crystal(example_path("rutile"))
    # a "prediction" equal to the file, except O whose file ellipsoid is 3× along its longest axis
    U = rutile.U_cart.copy()
    o = np.flatnonzero(rutile.labels == "O1")
    for i in o:
        lam, vec = np.linalg.eigh(U[i])
        U[i] = vec @ np.diag(lam * [1, 1, 3]) @ vec.T
    file = rutile.with_adps(U)
    rep = check_adps(file, rutile)
    rows = {a.label: a for a in rep.atoms}
    assert rows["O1"].flags == ["anomalous:larger"] and rows["Ti1"].flags == []
    # the scale m is the other atoms' median (Ti: 0), so the deviation is exactly ln 3
    assert rows["O1"].deviation == pytest.approx(np.log(3), abs=1e-9)
    assert rows["Ti1"].deviation == pytest.approx(
        np.log(3) / 3, abs=1e-9
    )  # O's mean ln-ratio sets Ti's scale
    # a uniform rescaling of every ellipsoid (e.g. a wrong temperature) flags nothing
    assert check_adps(rutile.with_adps(rutile.U_cart * 2.5), rutile).flagged_atoms == []
    # below the threshold nothing is flagged
    assert check_adps(file, rutile, thresholds=CheckThresholds(axis_log_tolerance=1.2)).flagged_atoms == []


def test_whole_molecules_keep_every_bond():
    urea = read_crystal(example_path("urea"))
    U = np.full((len(urea), 3, 3), np.nan)
    U[~urea.is_hydrogen] = np.diag([0.01, 0.015, 0.02])
    c = urea.with_adps(U)
    # (what the figures draw is tested as geometry in test_ortep.py)
    # molecules are made whole: urea molecules are trees, so every bond is intact in the placed coordinates
    pos = whole_molecules(c)
    lens = [np.linalg.norm(pos[j] - pos[i]) for i, j, _ in bonds(c)]
    assert len(lens) == 14 and max(lens) < 1.45  # 2 molecules × 7 bonds (C=O, 2 C–N, 4 N–H)


def test_plot_command(tmp_path, capsys):
    """Rutile's O ellipsoids are drawn in O's colour; compared with itself, every IoU is 1 (dark green)."""
    import matplotlib.image
    from matplotlib import colormaps

    one, two = tmp_path / "r.png", tmp_path / "c.png"
    rutile = str(example_path("rutile"))
    assert main(["adp", "plot", rutile, "-o", str(one)]) == 0
    assert main(["adp", "plot", rutile, "-o", str(two), "--compare", rutile]) == 0
    assert colour_fraction(one, "#ff0d0d") > 0.002  # O, Jmol colours
    iou_one = colormaps["RdYlGn"](1.0)[:3]  # (IoU − 0.4) / 0.6 = 1
    assert colour_fraction(one, iou_one) < 1e-4 < 5e-4 < colour_fraction(two, iou_one)
    h1, w1 = matplotlib.image.imread(str(one)).shape[:2]
    h2, w2 = matplotlib.image.imread(str(two)).shape[:2]
    assert w2 / h2 > 1.5 * w1 / h1  # two panels side by side


def test_temperature_scan_plot(tmp_path):
    from xtalkit.adp.temperature import plot_temperature_scan

    p = plot_temperature_scan(
        np.array([100.0, 200, 300]),
        np.array([0.01, 0.02, 0.03]),
        tmp_path / "t.png",
        geometry_temperature=150,
    )
    assert colour_fraction(p, "tab:orange") > 0.001  # the predicted curve is drawn


def test_models_list(capsys):
    from xtalkit.pretrained import DEFAULT_ADP_MODEL, names

    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    shipped = names()
    assert {"harmonic-adp", "cartnet-adp", "band-gap", "formation-energy"} <= set(shipped)
    for name in shipped:  # every shipped model is listed, one line each
        assert sum(line.split()[0] == name for line in out.splitlines() if line.strip()) == 1, name
    assert DEFAULT_ADP_MODEL == "harmonic-adp"
