"""ADP prediction mechanics with a small untrained model (no shipped weights needed)."""

import json

import gemmi
import numpy as np
import pytest
import torch

from xtalkit import CrystalError, read_crystal
from xtalkit.adp.predict import ADPPredictor, riding_hydrogens
from xtalkit.cli.main import main
from xtalkit.crystal import adp
from xtalkit.examples import path as example_path
from xtalkit.models.cartnet import CartNet
from xtalkit.models.checkpoint import save_model


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    torch.manual_seed(0)
    m = CartNet(dim=16, num_layers=1, num_rbf=8, temperature_mean=200, temperature_std=80, initial_uiso=0.0)
    path = tmp_path_factory.mktemp("m") / "tiny.pt"
    save_model(
        path,
        m,
        metadata={
            "task": "adp",
            "train_element_counts": {"6": 10, "7": 5, "8": 5, "1": 20},
            "train_temperature_range": [90, 300],
        },
    )
    return path


def test_prediction_is_positive_definite_and_symmetric(model_file):
    urea = read_crystal(example_path("urea"))
    pred = ADPPredictor(str(model_file)).predict(urea)
    c = pred.crystal
    heavy = ~c.is_hydrogen
    assert (np.linalg.eigvalsh(c.U_cart[heavy])[:, 0] > 0).all()
    assert set(pred.source[heavy]) == {"predicted"} and set(pred.source[~heavy]) == {"riding"}
    # the untrained test model predicts sizes outside the physical range: flagged, never silent
    from xtalkit.crystal.adp import implausible

    assert (pred.implausible == implausible(c.U_cart) & heavy).all()
    assert pred.temperature == 123.0 and len(pred.warnings) == int(pred.implausible.any())
    assert all("physical range" in w for w in pred.warnings)
    # symmetry-equivalent atoms carry tensors related by the operations: one value per asymmetric site
    from xtalkit.crystal.symmetrize import symmetrize_adps

    np.testing.assert_allclose(symmetrize_adps(c).U_cart, c.U_cart, atol=1e-12)


def test_riding_convention_by_hand():
    urea = read_crystal(example_path("urea"))
    U = np.full((len(urea), 3, 3), np.nan)
    U[~urea.is_hydrogen] = np.diag([0.01, 0.02, 0.03])  # U_eq 0.02 for every heavy atom
    out, filled = riding_hydrogens(urea, U, urea.is_hydrogen)
    assert filled[urea.is_hydrogen].all()
    # urea's H atoms sit on N (not O, not methyl C): 1.2 U_eq(N)
    np.testing.assert_allclose(adp.u_equiv(out[urea.is_hydrogen]), 1.2 * 0.02)


def test_temperature_rules_and_warnings(model_file):
    p = ADPPredictor(str(model_file))
    rutile = read_crystal(example_path("rutile"))
    no_t = rutile.replace(temperature=None)
    with pytest.raises(CrystalError, match="no temperature"):
        p.predict(no_t)
    pred = p.predict(no_t, 500.0)
    assert pred.temperature == 500.0
    assert any("not in the training data (Ti: Ti1)" in w for w in pred.warnings)
    assert any("outside the training range" in w for w in pred.warnings)
    with pytest.raises(CrystalError, match="cell too large"):
        ADPPredictor(str(model_file), max_edges=100).predict(rutile)


def adp_predict(model_file, *args) -> int:
    """``xtalkit adp predict --model MODEL ARGS…``: the exit code."""
    return main(["adp", "predict", "--model", str(model_file), *map(str, args)])


def test_predict_command_writes_cif_json_csv_and_png(model_file, tmp_path, capsys):
    out = tmp_path / "urea_pred.cif"
    assert adp_predict(model_file, example_path("urea"), "-o", out, "--plot") == 0
    assert out.is_file() and out.with_suffix(".png").stat().st_size > 10_000
    back = read_crystal(out)
    assert back.adp_status == "anisotropic" and back.temperature == 123.0
    small = gemmi.read_small_structure(str(out))
    assert len(small.sites) == 5  # asymmetric unit: C, O, N, H1, H2
    doc = gemmi.cif.read(str(out)).sole_block()
    assert doc.find_value("_xtalkit_adp_model") is not None
    # read back identically: our reader and gemmi agree on the aniso values
    U_cif = adp.ucart_to_ucif(back.U_cart, back.lattice)
    for site in small.sites:
        if site.aniso.nonzero():
            i = list(back.labels).index(site.label)
            a = site.aniso
            np.testing.assert_allclose(
                [a.u11, a.u22, a.u33, a.u12, a.u13, a.u23], adp.to_components(U_cif[i]), atol=1e-9
            )
    assert (np.linalg.eigvalsh(back.U_cart[back.has_adp])[:, 0] > 0).all()
    for fmt in ("json", "csv"):
        f = tmp_path / f"u.{fmt}"
        assert adp_predict(model_file, example_path("urea"), "-o", f, "--format", fmt) == 0
    rows = json.loads((tmp_path / "u.json").read_text())["atoms"]
    assert len(rows) == 16 and rows[0]["U_cif"] is not None
    assert (tmp_path / "u.csv").read_text().count("\n") == 17


def test_predict_batch_reports_bad_files(model_file, tmp_path, capsys):
    bad = tmp_path / "bad.cif"
    bad.write_text("data_bad\n_cell_length_a 5\n")
    notemp = tmp_path / "notemp.cif"
    notemp.write_text(example_path("rutile").read_text().replace("_diffrn_ambient_temperature 295", ""))
    code = adp_predict(model_file, example_path("urea"), bad, notemp, "-o", tmp_path / "out")
    err = capsys.readouterr().err
    assert code == 1
    assert (tmp_path / "out" / "urea_adp.cif").is_file()
    assert (
        "2 of 3 inputs failed" in err
        and "no temperature in the file" in err
        and "missing _cell_length_b" in err
    )


def test_prediction_rotates_exactly_with_the_input(model_file):
    from scipy.spatial.transform import Rotation

    urea = read_crystal(example_path("urea"))
    p = ADPPredictor(str(model_file))
    R = Rotation.random(random_state=3).as_matrix()
    a = p.predict(urea).crystal.U_cart
    b = p.predict(urea.rotated(R)).crystal.U_cart
    heavy = ~urea.is_hydrogen
    np.testing.assert_allclose(b[heavy], adp.rotate(a[heavy], R), atol=1e-12)


def test_scale_to_input_matches_the_inputs_displacement_level(model_file):
    from xtalkit.adp.predict import overall_scale

    U = np.stack([np.eye(3) * u for u in (0.01, 0.04)])
    assert overall_scale(U, 2 * U) == pytest.approx(2.0)
    assert overall_scale(U, U[::-1]) == pytest.approx(1.0)  # ×4 and ×¼: geometric mean 1
    with pytest.raises(ValueError):
        overall_scale(U, 0 * U)

    rutile = read_crystal(example_path("rutile"))  # phonon ADPs in the file
    p = ADPPredictor(str(model_file))
    plain = p.predict(rutile)
    scaled = p.predict(rutile, scale_to_input=True)
    heavy = ~rutile.is_hydrogen
    factor = np.exp(np.mean(np.log(rutile.U_eq[heavy] / plain.crystal.U_eq[heavy])))
    np.testing.assert_allclose(
        scaled.crystal.U_cart[heavy], factor * plain.crystal.U_cart[heavy], rtol=1e-9, atol=1e-15
    )
    # geometric-mean U_eq now equals the input's
    np.testing.assert_allclose(
        np.exp(np.mean(np.log(scaled.crystal.U_eq[heavy]))), np.exp(np.mean(np.log(rutile.U_eq[heavy])))
    )
    assert any("factor" in w for w in scaled.warnings)
    urea = read_crystal(example_path("urea"))  # no ADPs: nothing to scale to, said so
    assert any("not scaled" in w for w in p.predict(urea, scale_to_input=True).warnings)


def test_scale_to_input_on_the_command_line(model_file, tmp_path, capsys):
    out = tmp_path / "rutile.cif"
    argv = ["adp", "predict", str(example_path("rutile")), "--model", str(model_file), "-o", str(out)]
    assert main([*argv, "--scale-to-input"]) == 0
    assert "scaled to the input's displacement level" in capsys.readouterr().err
    rutile, scaled = read_crystal(example_path("rutile")), read_crystal(out)
    heavy = ~rutile.is_hydrogen
    np.testing.assert_allclose(
        np.exp(np.log(scaled.U_eq[heavy]).mean()), np.exp(np.log(rutile.U_eq[heavy]).mean()), rtol=1e-6
    )


def test_the_checks_graph_is_the_networks_graph():
    """``crystal_graph`` given the checks' graph gives exactly what it builds from scratch."""
    from scipy.spatial.transform import Rotation

    from xtalkit.adp.predict import input_checks
    from xtalkit.data.graphs import crystal_graph

    urea = read_crystal(example_path("urea"))
    R = Rotation.random(random_state=5).as_matrix()
    lattice = urea.lattice @ R.T  # a frame other than the crystal's own
    warnings, isolated, graph = input_checks(urea, 5.0, 10**6, lattice=lattice)
    assert warnings == [] and not isolated.any() and graph.n_atoms == len(urea)
    for molecules in (False, True):
        kw = {"temperature": 123.0, "cutoff": 5.0, "ident": urea.source, "molecules": molecules}
        mine = crystal_graph(urea.numbers, urea.frac, lattice, graph=graph, **kw)
        ref = crystal_graph(urea.numbers, urea.frac, lattice, **kw)
        assert mine.keys() == ref.keys()
        for key, value in ref.items():
            np.testing.assert_array_equal(mine[key], value, err_msg=key)
    with pytest.raises(ValueError, match="not a graph of these atoms"):
        crystal_graph(urea.numbers[:4], urea.frac[:4], lattice, graph=graph, **kw)


def _count_searches(monkeypatch) -> list[float]:
    """Cutoffs of every radius-graph search from here on (in the checks and in ``crystal_graph``)."""
    import xtalkit.data.graphs as graphs
    import xtalkit.geometry.neighbors as neighbors

    real, cutoffs = neighbors.radius_graph, []

    def counted(*args, **kwargs):
        cutoffs.append(float(kwargs.get("cutoff", args[2] if len(args) > 2 else neighbors.DEFAULT_CUTOFF)))
        return real(*args, **kwargs)

    monkeypatch.setattr(neighbors, "radius_graph", counted)
    monkeypatch.setattr(graphs, "radius_graph", counted)
    return cutoffs


def test_one_neighbour_search_at_the_model_cutoff(model_file, monkeypatch):
    urea = read_crystal(example_path("urea"))
    p = ADPPredictor(str(model_file))
    before = p.predict(urea).crystal.U_cart
    cutoffs = _count_searches(monkeypatch)
    after = p.predict(urea).crystal.U_cart
    assert cutoffs.count(p.model.cutoff) == 1  # the checks' graph, reused by the network
    np.testing.assert_array_equal(after, before)


def test_model_without_hydrogen_nodes_gets_its_own_graph(tmp_path, monkeypatch):
    torch.manual_seed(0)
    m = CartNet(dim=16, num_layers=1, num_rbf=8, temperature_mean=200, temperature_std=80, initial_uiso=0.0,
                hydrogens=False)  # fmt: skip
    save_model(tmp_path / "noh.pt", m, metadata={"task": "adp"})
    urea = read_crystal(example_path("urea"))
    cutoffs = _count_searches(monkeypatch)
    pred = ADPPredictor(str(tmp_path / "noh.pt")).predict(urea)
    assert cutoffs.count(m.cutoff) == 2  # all atoms for the checks, the 8 heavy atoms for the network
    assert np.isfinite(pred.crystal.U_cart[~urea.is_hydrogen]).all()


@pytest.mark.parametrize("centre", [0.5, 0.0])
def test_a_molecule_alone_in_a_large_cell_is_refused_wherever_it_sits(model_file, centre):
    from xtalkit.crystal.core import Crystal

    frac = np.full((3, 3), centre)
    frac[1:, 0] += np.array([1.16, -1.16]) / 30.0  # O=C=O along a; at the origin the boundary cuts it
    co2 = Crystal(lattice=np.eye(3) * 30.0, numbers=[6, 8, 8], frac=np.mod(frac, 1.0), temperature=150.0)
    with pytest.raises(CrystalError, match="not a crystal packing"):
        ADPPredictor(str(model_file)).predict(co2)
