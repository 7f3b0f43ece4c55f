"""The shipped ADP model end to end: the README's main job, read-back, and `adp check` on a real refinement."""

import json

import gemmi
import numpy as np
import pytest

from xtalkit import pretrained, read_crystal
from xtalkit.cli.main import main
from xtalkit.crystal import adp
from xtalkit.models.checkpoint import load_model

from conftest import EXPERIMENTAL, shared_or_skip

# Dolomite CaMg(CO3)2 (COD 9001004, 297 K): a held-out test-split structure of the shipped model
DOLOMITE = "crystals/9001004__9001004__e13655.cif"


def test_shipped_model_is_listed_and_self_describing(capsys):
    assert "cartnet-adp" in pretrained.names()
    model, meta = load_model(pretrained.path("cartnet-adp"))
    assert type(model).__name__ == "CartNet" and meta["task"] == "adp"
    assert set(meta["test_metrics"]) == {"amcsd", "cod"}
    assert "## Test metrics" in pretrained.card("cartnet-adp")
    assert main(["models", "list"]) == 0
    assert "cartnet-adp" in capsys.readouterr().out


def test_main_job_output_reads_back_through_our_reader_and_gemmi(tmp_path):
    """The README's main command: predicted CIF + PNG; the CIF reads back identically, all U positive definite."""
    assert main(["adp", "predict", "--example", "urea", "-o", str(tmp_path), "--plot"]) == 0
    cif, png = tmp_path / "urea_adp.cif", tmp_path / "urea_adp.png"
    assert png.stat().st_size > 20_000
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
