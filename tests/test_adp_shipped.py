"""The shipped ADP model end to end: the README's main job, read-back, and `adp check` on a real refinement."""

import json

import gemmi
import numpy as np
import pytest

from xtalkit import pretrained, read_crystal
from xtalkit.cli.main import main
from xtalkit.crystal import adp
from xtalkit.models.checkpoint import load_model

from conftest import EXPERIMENTAL, colour_fraction, shared_or_skip

# Dolomite CaMg(CO3)2 (COD 9001004, 297 K): a held-out test-split structure of the shipped model
DOLOMITE = "crystals/9001004__9001004__e13655.cif"


def test_shipped_models_are_listed_and_self_describing(capsys):
    assert pretrained.DEFAULT_ADP_MODEL == "harmonic-adp"
    model, meta = load_model(pretrained.path("cartnet-adp"))  # the paper's head, kept for comparison
    assert type(model).__name__ == "CartNet" and meta["task"] == "adp" and model.head_kind == "cholesky"
    assert set(meta["test_metrics"]) == {"amcsd", "cod"}
    model, meta = load_model(pretrained.path("harmonic-adp"))
    assert model.head_kind == "harmonic" and model.equivariant and meta["shipped_as"] == "harmonic-adp"
    assert set(meta["test_metrics"]) == {"molecular_val", "molecular", "amcsd"}
    for name in ("cartnet-adp", "harmonic-adp"):
        assert "## Test metrics" in pretrained.card(name)
    assert main(["models", "list"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert {"cartnet-adp", "harmonic-adp"} <= set(listed)


def _all_shared_structures() -> list:
    from xtalkit import CifError, read_cif

    crystals = []
    for root in (EXPERIMENTAL, EXPERIMENTAL.parent / "experimental_more"):
        for path in sorted(shared_or_skip(root).glob("*/*.cif")):
            try:
                crystals += [c for c in read_cif(path) if len(c) and c.temperature]
            except CifError:
                continue
    return crystals


def test_shipped_harmonic_model_is_positive_definite_and_equivariant_on_all_data():
    """Every shared experimental structure: all U positive definite; exact equivariance on a quarter."""
    import torch

    from xtalkit.data.graphs import collate, crystal_graph
    from xtalkit.geometry.rotations import random_rotations

    model, _ = load_model(pretrained.path("harmonic-adp"))
    crystals = [c for c in _all_shared_structures() if len(c) <= 1000]
    assert len(crystals) > 200
    gen = torch.Generator().manual_seed(0)
    worst = 0.0
    for k in range(0, len(crystals), 8):
        graphs = [
            crystal_graph(c.numbers, c.frac, c.lattice, temperature=c.temperature)
            for c in crystals[k : k + 8]
        ]
        batch = collate(graphs)
        with torch.no_grad():
            U = model(batch)
        assert torch.isfinite(U).all()
        assert (torch.linalg.eigvalsh(U.double())[:, 0] > 0).all()
        if k % 32:
            continue  # equivariance on every fourth batch (a quarter of the structures)
        R = random_rotations(batch.n_graphs, generator=gen)
        with torch.no_grad():
            V = model(batch.rotated(R))
        Ra = R[batch.batch[batch.scored]]
        worst = max(worst, float((V - Ra @ U @ Ra.transpose(1, 2)).abs().max()))
    assert worst <= 1e-5, worst


def test_predictor_uses_the_equivariant_head_without_a_frame():
    """`ADPPredictor()` is harmonic-adp; a rotated input gives exactly the rotated output, no averaging."""
    from scipy.spatial.transform import Rotation

    from xtalkit.adp.predict import ADPPredictor
    from xtalkit.examples import path as example_path

    p = ADPPredictor()
    assert p.name == "harmonic-adp"
    urea = read_crystal(example_path("urea"))
    R = Rotation.random(random_state=7).as_matrix()
    a = p.predict(urea, symmetrize=False).crystal.U_cart
    b = p.predict(urea.rotated(R), symmetrize=False).crystal.U_cart
    heavy = ~urea.is_hydrogen
    np.testing.assert_allclose(b[heavy], adp.rotate(a[heavy], R), atol=1e-6)
    # the ellipsoids of urea are not spheres (the paper head's nearly are)
    lam = np.linalg.eigvalsh(a[heavy])
    assert np.median(lam[:, 2] / lam[:, 0]) > 1.3


def test_main_job_output_reads_back_through_our_reader_and_gemmi(tmp_path):
    """The README's main command: predicted CIF + PNG; the CIF reads back identically, all U positive definite."""
    assert main(["adp", "predict", "--example", "urea", "-o", str(tmp_path), "--plot"]) == 0
    cif, png = tmp_path / "urea_adp.cif", tmp_path / "urea_adp.png"
    assert colour_fraction(png, "#ff0d0d") > 0.001 and colour_fraction(png, "#3050f8") > 0.001  # O and N
    ours = read_crystal(cif)
    heavy = ~ours.is_hydrogen
    assert (np.linalg.eigvalsh(ours.U_cart[heavy])[:, 0] > 0).all()
    assert ours.temperature == 123.0
    # gemmi reads the same cell and, for every asymmetric-unit site, the same position and tensor
    st = gemmi.read_small_structure(str(cif))
    np.testing.assert_allclose(
        [st.cell.a, st.cell.b, st.cell.c, st.cell.alpha, st.cell.beta, st.cell.gamma],
        ours.cell_parameters,
        atol=1e-6,
    )
    assert len(st.sites) == len(np.unique(ours.asym_index))
    for site in st.sites:
        i = np.flatnonzero(ours.labels == site.label)[0]  # first image = identity operation
        np.testing.assert_allclose(site.fract.tolist(), ours.frac[i] % 1.0, atol=1e-8)
        assert site.u_iso == pytest.approx(ours.U_eq[i], abs=1e-8)
        if ours.is_hydrogen[i]:
            continue
        a = site.aniso
        u_cif = np.array([[a.u11, a.u12, a.u13], [a.u12, a.u22, a.u23], [a.u13, a.u23, a.u33]])
        np.testing.assert_allclose(adp.ucif_to_ucart(u_cif, ours.lattice), ours.U_cart[i], atol=1e-9)


@pytest.mark.parametrize("label", ["Ca", "Mg", "C", "O"])
def test_check_flags_the_one_corrupted_atom(label, tmp_path, capsys):
    """Stretch one atom's ellipsoid ×3 along its longest principal axis; `adp check` flags it and no other."""
    path = shared_or_skip(EXPERIMENTAL / DOLOMITE)
    honest = read_crystal(path)
    assert main(["adp", "check", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["reports"][0]
    assert [a["label"] for a in report["atoms"] if a["flags"]] == []

    # the same corruption on every symmetry image (each along its own longest axis, which the
    # operations map onto each other), written back as an asymmetric unit with the file's symmetry
    U = honest.U_cart.copy()
    for i in np.flatnonzero(honest.labels == label):
        lam, vec = np.linalg.eigh(U[i])
        assert lam[2] - lam[1] > 1e-5  # the longest axis is well defined
        U[i] = vec @ np.diag(lam * [1.0, 1.0, 3.0]) @ vec.T
    corrupted = honest.with_adps(U, honest.adp_type)
    out = tmp_path / "corrupted.cif"
    corrupted.to_cif(out, symmetry="original")
    assert read_crystal(out).symmetrized_adps().U_cart == pytest.approx(U, abs=1e-8)
    assert main(["adp", "check", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["reports"][0]
    flagged = {a["label"] for a in report["atoms"] if any(f.startswith("anomalous") for f in a["flags"])}
    assert flagged == {label}
