"""AlphaCrystal-II pipeline: dataset, distance-matrix training, lattice model, prediction, baseline, CLI."""

from __future__ import annotations

import csv
import json
import math
import time

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure
from pymatgen.io.cif import CifWriter

from xtalkit.cli.main import main as cli
from xtalkit.csp import data as csp_data
from xtalkit.csp.baseline import random_structures
from xtalkit.csp.data import CRYSTAL_SYSTEMS, DistanceDataset, build_dataset, crystal_system
from xtalkit.csp.encoding import predict_distances
from xtalkit.csp.lattice import (
    ForestArrays,
    LatticeConfig,
    LatticeModel,
    cell_volume,
    fit_lattice_model,
    holds_composition,
)
from xtalkit.csp.pipeline import (
    CSPConfig,
    evaluate_prediction,
    generate_candidates,
    plan_space_groups,
    predict,
    split_quota,
)
from xtalkit.errors import XtalkitError
from xtalkit.models.checkpoint import load_model
from xtalkit.models.distmat import DistMatNet
from xtalkit.training.distmat import evaluate_distmat, make_config, train_distmat
from xtalkit.training.runs import read_metrics

torch.set_num_threads(1)

A_NACL = 5.64


def _sg(symbol, lattice, species, coords, primitive=False) -> Structure:
    s = Structure.from_spacegroup(symbol, lattice, species, coords)
    return s.get_primitive_structure() if primitive else s


def rocksalt(a, cation, anion):
    return _sg("Fm-3m", Lattice.cubic(a), [cation, anion], [[0, 0, 0], [0.5, 0.5, 0.5]], primitive=True)


def cscl_type(a, cation, anion):
    return _sg("Pm-3m", Lattice.cubic(a), [cation, anion], [[0, 0, 0], [0.5, 0.5, 0.5]])


def perovskite(a, A):
    return _sg("Pm-3m", Lattice.cubic(a), [A, "Ti", "O"], [[0, 0, 0], [0.5] * 3, [0.5, 0.5, 0]])


def rutile():
    return _sg("P4_2/mnm", Lattice.tetragonal(4.594, 2.959), ["Ti", "O"], [[0, 0, 0], [0.305, 0.305, 0]])


def heusler():
    """Cu2MnAl: 4 atoms in the primitive cell, 16 in the conventional one (no conventional target)."""
    return _sg("Fm-3m", Lattice.cubic(5.95), ["Cu", "Mn", "Al"], [[0.25] * 3, [0, 0, 0], [0.5] * 3], True)


def big_nacl():
    return _sg("Fm-3m", Lattice.cubic(A_NACL), ["Na", "Cl"], [[0, 0, 0], [0.5] * 3]) * (2, 1, 1)  # 16 atoms


# id, structure builder, formula_fold; folds 0-6 train, 7 validation, 8 test
ROWS = [
    ("t-nacl", lambda: rocksalt(A_NACL, "Na", "Cl"), 0),
    ("t-kcl", lambda: rocksalt(6.29, "K", "Cl"), 1),
    ("t-cscl", lambda: cscl_type(4.12, "Cs", "Cl"), 2),
    ("t-csbr", lambda: cscl_type(4.29, "Cs", "Br"), 3),
    ("t-tio2", rutile, 4),
    ("t-srtio3", lambda: perovskite(3.905, "Sr"), 5),
    ("t-heusler", heusler, 6),
    ("t-big", big_nacl, 0),
    ("t-cu", lambda: _sg("Fm-3m", Lattice.cubic(3.61), ["Cu"], [[0, 0, 0]], True), 0),
    ("t-mgo", lambda: rocksalt(4.21, "Mg", "O"), 7),
    ("t-csi", lambda: cscl_type(4.57, "Cs", "I"), 7),
    ("t-lif", lambda: rocksalt(4.03, "Li", "F"), 8),
    ("t-batio3", lambda: perovskite(4.0, "Ba"), 8),
]


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """A tiny CSV with the columns of mp.csv.gz and P1 CIF strings."""
    path = tmp_path_factory.mktemp("table") / "tiny.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["material_id", "reduced_formula", "nsites", "formation_energy_per_atom", "formula_fold", "cif"])  # fmt: skip
        for ident, build, fold in ROWS:
            s = build()
            w.writerow([ident, s.composition.reduced_formula, len(s), -1.0, fold, str(CifWriter(s))])
    return path


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def dataset(table, cache_dir):
    return build_dataset(table, cache_dir=cache_dir)


@pytest.fixture(scope="module")
def trained(dataset, tmp_path_factory):
    """The cpu network trained for a few epochs on the 6 training cells (batches of 2)."""
    cfg = make_config("cpu", epochs=8, batch_size=2, seed=0)
    return train_distmat(cfg, dataset, tmp_path_factory.mktemp("run") / "dm", progress=False)


@pytest.fixture(scope="module")
def lattice(dataset):
    return fit_lattice_model(dataset, config=LatticeConfig(n_estimators=20, seed=0))


# ---------------------------------------------------------------- dataset


def test_dataset_rows_shapes_and_targets(dataset):
    ids = dataset.ids.tolist()
    assert len(dataset) == 11 and "t-big" not in ids and "t-cu" not in ids
    reasons = {s["id"]: s["reason"] for s in dataset.meta["skipped"]}
    assert "16 atoms in the cell, more than 12" in reasons["t-big"]
    assert "one atom" in reasons["t-cu"]
    assert dataset.features.shape == (11, 12, 11) and dataset.features.dtype == np.float32
    assert dataset.mask.shape == (11, 12) and dataset.distances.shape == (11, 12, 12)
    k = ids.index("t-nacl")
    # the 2-atom primitive cell becomes the 8-atom conventional Fm-3m cell
    assert dataset.file_atoms[k] == 2 and dataset.conventional_atoms[k] == 8 and dataset.mask[k].sum() == 8
    assert dataset.space_group[k] == 225 and CRYSTAL_SYSTEMS[dataset.crystal_system[k]] == "cubic"
    assert dataset.formulas[k] == "Na4Cl4" and dataset.reduced_formulas[k] == "NaCl"
    np.testing.assert_allclose(dataset.lattice[k], [A_NACL] * 3 + [90] * 3, atol=1e-6)
    d = dataset.distances[k][dataset.pair_mask[k]]
    assert d.min() == pytest.approx(A_NACL / 2) and d.max() == pytest.approx(A_NACL * math.sqrt(3) / 2)
    h = ids.index("t-heusler")
    assert not dataset.has_target[h] and dataset.conventional_atoms[h] == 16 and dataset.formulas[h] == ""
    assert dataset.pair_mask[h].sum() == 0
    assert dataset.indices("train").size == 6 and dataset.indices("train", targets_only=False).size == 7
    assert dataset.indices("val").size == 2 and dataset.indices("test").size == 2
    assert dataset.number_of_elements()[ids.index("t-srtio3")] == 3
    assert dataset.element_counts()[k].sum() == 2  # the table's cell
    assert crystal_system(136) == "tetragonal" and crystal_system(166) == "trigonal"


def test_dataset_cache_and_cell_convention(table, cache_dir, dataset, monkeypatch):
    files = sorted(cache_dir.glob("distmat_conventional_*.npz"))
    assert len(files) == 1 and dataset.meta["path"] == str(files[0])

    def boom(_):
        raise AssertionError("structures analysed again instead of read from the cache")

    monkeypatch.setattr(csp_data, "_process_row", boom)
    again = build_dataset(table, cache_dir=cache_dir)
    np.testing.assert_array_equal(again.distances, dataset.distances)
    np.testing.assert_array_equal(again.ids, dataset.ids)
    assert DistanceDataset.load(files[0]).meta["key"] == dataset.meta["key"]
    monkeypatch.undo()
    file_cells = build_dataset(table, cache_dir=cache_dir, cell="file")
    assert len(sorted(cache_dir.glob("distmat_file_*.npz"))) == 1
    ids = file_cells.ids.tolist()
    assert file_cells.mask[ids.index("t-nacl")].sum() == 2 and file_cells.has_target.all()
    with pytest.raises(XtalkitError, match="cell must be one of"):
        build_dataset(table, cell="primitive", use_cache=False)


# ---------------------------------------------------------------- distance-matrix training


def test_training_lowers_loss_and_saves(trained, dataset):
    rows = [r for r in read_metrics(trained.run_dir / "metrics.csv") if r.get("train_loss")]
    losses = [float(r["train_loss"]) for r in rows]
    assert len(losses) == 8
    assert losses[-1] < 0.8 * losses[0]
    model, meta = load_model(trained.run_dir / "model.pt")
    assert isinstance(model, DistMatNet) and meta["cell"] == "conventional"
    tr = dataset.indices("train")
    # eq. 5 over the training pairs: the longest is K-Cl along the body diagonal of the 8-atom KCl cell
    shortest = dataset.distances[tr][dataset.pair_mask[tr]].min()
    assert meta["bins"]["d_min"] == pytest.approx(shortest) and meta["bins"]["n_groups"] == 10
    assert meta["bins"]["d_max"] == pytest.approx(6.29 * math.sqrt(3) / 2)
    assert meta["data"]["sizes"] == {"train": 6, "val": 2, "test": 2}
    f = torch.as_tensor(dataset.features[tr])
    m = torch.as_tensor(dataset.mask[tr])
    assert torch.equal(model(f, m), trained.model(f, m))
    # Table 5 metrics: per-structure RMSE averaged, computed by hand here
    te = dataset.indices("test")
    res = evaluate_distmat(model, dataset.features[te], dataset.mask[te], dataset.distances[te])
    _, pred = model.predict(torch.as_tensor(dataset.features[te]), torch.as_tensor(dataset.mask[te]))
    per = [
        np.sqrt(np.mean((pred[k].numpy()[pm] - dataset.distances[i][pm]) ** 2))
        for k, (i, pm) in enumerate(zip(te, dataset.pair_mask[te], strict=True))
    ]
    assert res["n"] == 2 and res["rmse"] == pytest.approx(np.mean(per), rel=1e-5)
    assert res["mse"] >= res["rmse"] ** 2 - 1e-9  # mean of squares ≥ square of means
    assert meta["test"]["rmse"] == pytest.approx(res["rmse"], rel=1e-5)


def test_training_refuses_overwrite_and_resumes(trained, dataset, tmp_path):
    import shutil

    cfg = make_config("cpu", epochs=8, batch_size=2, seed=0)
    with pytest.raises(XtalkitError, match="already there"):
        train_distmat(cfg, dataset, trained.run_dir, progress=False)
    with pytest.raises(XtalkitError, match="changed: lr"):
        train_distmat(
            make_config("cpu", epochs=9, batch_size=2, lr=0.01), dataset, trained.run_dir, resume=True
        )
    run = shutil.copytree(trained.run_dir, tmp_path / "copy")
    more = train_distmat(
        make_config("cpu", epochs=10, batch_size=2), dataset, run, resume=True, progress=False
    )
    assert more.summary["epochs_run"] == 10
    epochs = [int(r["epoch"]) for r in read_metrics(run / "metrics.csv") if r.get("train_loss")]
    assert epochs == list(range(10))  # the first 8 epochs' rows are kept


# ---------------------------------------------------------------- lattice and space groups


def test_forest_arrays_reproduce_scikit_learn():
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 6))
    y = (X[:, 0] > 0).astype(int) * 3 + (X[:, 1] > 0.5) + 10
    Xt = rng.normal(size=(40, 6))
    c = RandomForestClassifier(15, min_samples_leaf=2, random_state=0).fit(X, y)
    np.testing.assert_allclose(
        ForestArrays.from_sklearn(c).predict_proba(Xt), c.predict_proba(Xt), atol=1e-12
    )
    r = RandomForestRegressor(15, random_state=0).fit(X, X[:, 0] - 2 * X[:, 2])
    np.testing.assert_allclose(ForestArrays.from_sklearn(r).predict(Xt)[:, 0], r.predict(Xt), atol=1e-12)


@pytest.mark.parametrize(
    ("group", "counts", "ok"),
    [(225, [4, 4], True), (225, [1, 1], False), (225, [2, 2], False), (136, [2, 4], True),
     (221, [1, 1, 3], True), (1, [5, 7], True), (166, [3, 6], True), (166, [1, 2], False)],
)  # fmt: skip
def test_holds_composition(group, counts, ok):
    from pyxtal.symmetry import Group

    assert holds_composition(group, counts) is ok
    assert bool(Group(group).list_wyckoff_combinations(counts)[0]) is ok  # pyxtal agrees


def _synthetic(elements_a, elements_b):
    """Stoichiometry decides the group: AB → Pm-3m (221), AB2 → P-3m1 (164); v = 5 + <Z>/4 Å³/atom."""
    from xtalkit.elements import atomic_number

    counts, groups, lattices, natoms, names = [], [], [], [], []
    for a in elements_a:
        for b in elements_b:
            za, zb = atomic_number(a), atomic_number(b)
            for nb, g in ((1, 221), (2, 164)):
                v = 5.0 + (za + nb * zb) / (1 + nb) / 4.0
                c = np.zeros(103)
                c[za - 1], c[zb - 1] = 1, nb
                n = 1 + nb
                if g == 221:
                    p = [(n * v) ** (1 / 3)] * 3 + [90.0] * 3
                else:  # c/a = 1.6 on hexagonal axes
                    aa = (n * v / (1.6 * math.sqrt(3) / 2)) ** (1 / 3)
                    p = [aa, aa, 1.6 * aa, 90.0, 90.0, 120.0]
                counts.append(c)
                groups.append(g)
                lattices.append(p)
                natoms.append(n)
                names.append(f"{a}{b}{nb if nb > 1 else ''}")
    return np.array(counts), np.array(groups), np.array(lattices), np.array(natoms), names


def test_lattice_model_on_a_synthetic_set(tmp_path):
    train = _synthetic(["Li", "Na", "K", "Cs", "Mg", "Sr", "Ba", "Be"], ["F", "Cl", "I", "O", "Se"])
    test = _synthetic(["Rb", "Ca"], ["Br", "S"])
    model = LatticeModel.fit(*train[:4], config=LatticeConfig(n_estimators=30, seed=0))
    hits, vol_err = 0, []
    for c, g, p, n, name in zip(*test, strict=True):
        top = model.top_space_groups(name, k=2)
        assert 1 <= len(top) <= 2 and all(holds_composition(t.number, c[c > 0]) for t in top)
        hits += top[0].number == g
        v = model.volume_per_atom(name)
        vol_err.append(abs(v - cell_volume(p) / n) / (cell_volume(p) / n))
        lat = model.lattice(name, g)
        assert cell_volume(lat) == pytest.approx(n * v, rel=1e-9)  # V = N · v̂ exactly
        if g == 164:
            assert lat[0] == lat[1] and lat[5] == 120.0 and lat[2] / lat[0] == pytest.approx(1.6, rel=0.02)
        else:
            assert lat[0] == lat[1] == lat[2] and tuple(lat[3:]) == (90.0, 90.0, 90.0)
    assert hits == len(test[1])  # the best group is the true one for every held-out composition
    assert max(vol_err) < 0.08
    probs = model.crystal_system_proba("RbBr")
    assert sum(probs.values()) == pytest.approx(1.0) and set(probs) == set(CRYSTAL_SYSTEMS)
    model.save(tmp_path / "lat.npz")
    back = LatticeModel.load(tmp_path / "lat.npz")
    np.testing.assert_array_equal(back.lattice("CaS2", 164), model.lattice("CaS2", 164))
    with np.load(tmp_path / "lat.npz", allow_pickle=False) as z:  # plain arrays, no pickle
        assert "space_group/threshold" in z.files
    (tmp_path / "bad.npz").write_bytes(b"not a model")
    with pytest.raises(XtalkitError, match="not a lattice model"):
        LatticeModel.load(tmp_path / "bad.npz")


def test_p1_fallback_when_no_predicted_group_holds_the_cell():
    c = np.zeros((6, 103))
    for i, (za, zb) in enumerate([(11, 17), (19, 17), (11, 35), (19, 35), (3, 9), (12, 8)]):
        c[i, za - 1], c[i, zb - 1] = 4, 4
    model = LatticeModel.fit(c, np.full(6, 225), np.tile([5.0] * 3 + [90.0] * 3, (6, 1)), np.full(6, 8.0),
                             config=LatticeConfig(n_estimators=5))  # fmt: skip
    assert [g.number for g in model.top_space_groups("Na4Cl4", 3)] == [225, 1]
    assert [g.number for g in model.top_space_groups("NaCl", 3)] == [1]  # Fm-3m cannot hold 1 + 1 atoms


# ---------------------------------------------------------------- pipeline and baseline

FAST = {"population": 12, "generations": 5, "relax_steps": 10, "n_space_groups": 2}


def test_split_quota():
    assert split_quota(50, 3) == [17, 17, 16] and split_quota(4, 2) == [2, 2] and sum(split_quota(7, 5)) == 7


def test_pipeline_end_to_end_and_resume(trained, lattice, tmp_path):
    cfg = CSPConfig(top_k=3, n_candidates=4, **FAST)
    out = predict(["Na4Cl4"], tmp_path, model=trained.run_dir / "model.pt", lattice_model=lattice, config=cfg)
    assert [o.status for o in out] == ["done"]
    d = tmp_path / "Na4Cl4"
    s = json.loads((d / "summary.json").read_text())
    assert s["n_generated"] == 4 and sum(g["quota"] for g in s["space_groups"]) == 4
    assert len(s["space_groups"]) == 2 and all(
        holds_composition(g["space_group"], [4, 4]) for g in s["space_groups"]
    )
    assert s["model"].endswith("model.pt") and s["model_cell"] == "conventional" and s["charge_balanced"]
    assert np.array(s["predicted_distances"]["Na4Cl4"]).shape == (8, 8)
    assert s["cells"] == ["Na4Cl4"] and not s["reduced"]
    energies = [t["energy_per_atom"] for t in s["top"]]
    assert 1 <= len(energies) <= 3 and energies == sorted(energies)
    assert all(-5.0 < e < -2.0 for e in energies)  # CHGNet: rock salt ≈ -3.4 eV/atom
    for t in s["top"]:
        st = Structure.from_file(d / t["file"])
        assert st.composition.reduced_formula == "NaCl" and len(st) == 8
    with open(d / "candidates.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4 and sorted(int(r["rank"]) for r in rows if r["rank"]) == list(
        range(1, len(energies) + 1)
    )
    assert (tmp_path / "summary.csv").read_text().splitlines()[1].startswith("Na4Cl4,alphacrystal,8,True,4,")
    mtime = (d / "summary.json").stat().st_mtime_ns
    again = predict(["Na4Cl4"], tmp_path, config=cfg)  # resumed: nothing to do, so no model is needed
    assert again[0].status == "skipped" and (d / "summary.json").stat().st_mtime_ns == mtime
    assert again[0].summary["n_generated"] == 4
    # evaluation against the rank-1 structure itself: a match at rank 1 with RMS 0
    ev = evaluate_prediction(d, d / "rank_01.cif", energy=False)
    assert ev["match_rank"] == 1 and ev["best_rms"] == pytest.approx(0.0, abs=1e-6)
    assert ev["candidates"][0]["distance_map_overlap"] == 1.0


def test_baseline_same_number_of_candidates(lattice):
    cfg = CSPConfig(n_candidates=5, n_space_groups=2, population=8, generations=2)
    plan = plan_space_groups("Na4Cl4", lattice, cfg)
    net = DistMatNet(num_groups=5, filters_1d=4, blocks_1d=1, filters_2d=4, blocks_2d=1)
    dist, mask = predict_distances(net.eval(), "Na4Cl4")
    ga, _ = generate_candidates("Na4Cl4", plan, cfg, "alphacrystal", dist, mask)
    rnd, notes = generate_candidates("Na4Cl4", plan, cfg, "random")
    assert len(ga) == len(rnd) == 5 and notes == []
    assert [r.space_group for r in ga] == [r.space_group for r in rnd]
    for r in rnd:
        assert r.structure.composition.formula.replace(" ", "") == "Na4Cl4"
        lat = next(g["lattice"] for g in plan if g["space_group"] == r.space_group)
        np.testing.assert_allclose(r.structure.lattice.parameters, lat, rtol=1e-6)
    a, _ = random_structures("Ti2O4", 136, (4.6, 4.6, 2.96, 90, 90, 90), 3, seed=5)
    b, used = random_structures("Ti2O4", 136, (4.6, 4.6, 2.96, 90, 90, 90), 3, seed=5)
    assert len(a) == 3 and used >= 3
    np.testing.assert_allclose(a[2][0].frac_coords, b[2][0].frac_coords)  # seeded


def test_generation_time_limit_is_reported_and_quota_carried(lattice):
    # past deadline: one pyxtal draw per call, so the first group yields 1 of its 3 and
    # the rest moves on (here to the second group, which also stops after one draw)
    past = time.monotonic() - 1.0
    got, used = random_structures("Ti2O4", 136, (4.6, 4.6, 2.96, 90, 90, 90), 3, seed=5, deadline=past)
    assert len(got) == 1 and used == 1
    cfg = CSPConfig(n_candidates=6, n_space_groups=2, group_seconds=1e-9)
    plan = plan_space_groups("Na4Cl4", lattice, cfg)
    records, notes = generate_candidates("Na4Cl4", plan, cfg, "random")
    first, second = (g["space_group"] for g in plan)
    assert [r.space_group for r in records] == [first, second, first, second]  # 2 passes × 1 draw
    assert sum("time limit (1e-09 s) reached" in n for n in notes) == 4
    assert notes[-1] == "2 of 6 candidates could not be generated"
    with pytest.raises(XtalkitError, match="time per space group"):
        CSPConfig(group_seconds=-1).check()


# ---------------------------------------------------------------- command line


@pytest.mark.parametrize(
    ("formula", "message"),
    [("Na13Cl13", "'Na13Cl13' has 26 atoms per cell; AlphaCrystal-II handles at most 12"),
     ("XxO", "unknown element 'Xx'")],
)  # fmt: skip
def test_cli_bad_formula_one_line(formula, message, tmp_path, capsys):
    assert cli(["csp", "predict", formula, "-o", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and err[0].startswith("xtalkit csp predict:")
    assert not any(tmp_path.iterdir())


def test_cli_unbalanced_formula(trained, lattice, tmp_path, capsys):
    assert cli(["csp", "predict", "TiIn", "--require-balanced", "-o", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "TiIn: no charge-balanced assignment" in err[0]
    lattice.save(tmp_path / "lattice.npz")
    args = ["csp", "predict", "TiIn", "XxO", "--model", str(trained.run_dir / "model.pt"), "--lattice-model",
            str(tmp_path / "lattice.npz"), "--candidates", "1", "--space-groups", "1", "--relax-steps", "3",
            "--population", "4", "--generations", "1", "-o", str(tmp_path / "out")]  # fmt: skip
    assert cli(args) == 1  # XxO failed, TiIn was predicted with a warning
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert any("warning: TiIn: no charge-balanced" in e and "predicting anyway" in e for e in err)
    assert any("unknown element 'Xx'" in e for e in err)
    s = json.loads((tmp_path / "out" / "TiIn" / "summary.json").read_text())
    assert s["charge_balanced"] is False and s["n_generated"] == 1
    assert "TiIn: reduced formula; cells tried: TiIn, Ti2In2, Ti3In3, Ti4In4, Ti5In5, Ti6In6" in captured.out
    assert "TiIn: 1 candidates, 1 relaxed in" in captured.out and ", 1 written; best" in captured.out
    # evaluate through the command line: the prediction against its own rank-1 file
    assert cli(["csp", "evaluate", str(tmp_path / "out" / "TiIn"), str(tmp_path / "out" / "TiIn" / "rank_01.cif"),
                "--no-energy"]) == 0  # fmt: skip
    assert "matched at rank 1 of 1" in capsys.readouterr().out
    assert cli(["csp", "evaluate", str(tmp_path / "out"), str(tmp_path / "missing.cif")]) == 1
    assert "missing.cif: no such file" in capsys.readouterr().err


def test_cli_train_and_train_lattice(table, cache_dir, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "distmat", "--data", str(table), "--preset", "cpu", "--epochs", "2", "--batch-size", "4",
            "--groups", "5", "--cache", str(cache_dir), "-o", str(run), "--quiet"]  # fmt: skip
    assert cli(args) == 0  # the one front door, `xtalkit train`
    shown = json.loads(capsys.readouterr().out)
    assert shown["data"]["sizes"] == {"train": 6, "val": 2, "test": 2} and shown["bins"]["n_groups"] == 5
    assert shown["epochs_run"] == 2 and shown["cell"] == "conventional"
    from xtalkit.pretrained import load

    loaded = load(run, task="distmat")  # a run directory loads through the one loader
    model, meta = loaded.model, loaded.metadata
    assert meta["xtalkit"] and meta["torch"]
    assert model.num_groups == 5 and meta["config"]["architecture"] == "cpu"
    assert LatticeModel.load(run / "lattice.npz").meta["n_train"] == 9  # folds 0-7 incl. the Heusler row
    assert (  # the task's own spelling stays an alias
        cli(["csp", "train", "--data", str(table), "--cache", str(cache_dir), "-o", str(run), "--quiet"]) == 1
    )
    assert "a run is already there" in capsys.readouterr().err
    resumed = ["train", "distmat", "--data", str(table), "--preset", "cpu", "--epochs", "3", "--batch-size", "4",
               "--groups", "5", "--cache", str(cache_dir), "-o", str(run), "--quiet", "--resume", "--no-lattice"]  # fmt: skip
    assert cli(resumed) == 0
    assert json.loads(capsys.readouterr().out)["epochs_run"] == 3
    assert cli(["train", "lattice", "--data", str(table), "--trees", "5", "--cache", str(cache_dir),
                "-o", str(tmp_path / "lat.npz")]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["n_train"] == 9
    assert load(tmp_path / "lat.npz", task="lattice").model.meta["n_train"] == 9
    # scored by the library function the benchmark uses, through the CLI
    argv = ["csp", "evaluate-lattice", "--data", str(table), "--model", str(tmp_path / "lat.npz"),
            "--cache", str(cache_dir)]  # fmt: skip
    assert cli([*argv, "--json"]) == 0
    res = json.loads(capsys.readouterr().out)["results"]
    assert res["n_test"] == 2 and res["n_train"] == 9 and 0 <= res["model"]["space_group_top10"] <= 1
    assert cli(argv) == 0
    assert "| space group within the first 5 |" in capsys.readouterr().out


def test_plan_over_several_cells_uses_each_group_once_in_its_smallest_cell(lattice):
    cells = ["NaCl", "Na2Cl2", "Na3Cl3", "Na4Cl4"]
    cfg = CSPConfig(n_candidates=10, n_space_groups=4)
    plan = plan_space_groups(cells, lattice, cfg)
    groups = [g["space_group"] for g in plan]
    assert len(groups) == len(set(groups)) and sum(g["quota"] for g in plan) == 10
    for g in plan:
        k = cells.index(g["cell"])
        assert holds_composition(g["space_group"], [k + 1, k + 1])
        assert not any(holds_composition(g["space_group"], [j + 1, j + 1]) for j in range(k))
        assert g["n_atoms"] == 2 * (k + 1)
    fixed = plan_space_groups(cells, lattice, cfg, space_groups=[225])
    assert [(g["space_group"], g["cell"]) for g in fixed] == [(225, "Na4Cl4")]
    with pytest.raises(XtalkitError, match="space group 229"):
        plan_space_groups(["NaCl"], lattice, cfg, space_groups=[229])


def test_distmat_stops_resumes_and_trains_on_two_processes(table, cache_dir, tmp_path, capsys):
    """The engine's stop-after and DDP reach the distance-matrix trainer through `xtalkit train`."""
    import os
    import subprocess
    import sys

    common = ["train", "distmat", "--data", str(table), "--preset", "cpu", "--epochs", "2", "--batch-size", "2",
              "--groups", "5", "--cache", str(cache_dir), "--quiet", "--no-lattice"]  # fmt: skip
    base = [*common, "-o", str(tmp_path / "run")]
    assert cli([*base, "--stop-after", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["epochs_run"] == 1
    assert cli([*base, "--resume"]) == 0
    assert json.loads(capsys.readouterr().out)["epochs_run"] == 2
    ddp = [sys.executable, "-m", "xtalkit.cli.main", *common, "-o", str(tmp_path / "ddp"), "--devices", "2",
           "--strategy", "ddp"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PL_DISABLE_FORK": "1"}
    r = subprocess.run(ddp, capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    meta = load_model(tmp_path / "ddp" / "model.pt")[1]
    assert meta["devices"] == 2 and meta["strategy"] == "ddp" and meta["epochs_run"] == 2


# ---------------------------------------------------------------- scoring: lattice report, prediction files
def _load_benchmark(name: str):
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _lattice_results(n_train: int, n_test: int) -> dict:
    scores = {"crystal_system_accuracy": 0.5, "space_group_top1": 0.25, "space_group_top5": 0.5,
              "space_group_top10": 0.75, "volume_per_atom_mare": 0.125, "length_mare_true_group": 0.0625,
              "free_angle_mae_deg": None, "n_free_angles": 0}  # fmt: skip
    return {"model": scores, "baseline": dict(scores), "n_test": n_test, "n_train": n_train, "v_base": 20.0}


def test_lattice_report_says_which_table_model_and_rows_it_scored():
    from xtalkit.csp.lattice_eval import lattice_markdown

    doc = {"lattice_model": "my_forests.npz", "data": "/data/tiny.csv", "results": _lattice_results(9, 2)}
    text = lattice_markdown(doc)
    head, provenance = text.splitlines()[0], text.splitlines()[2]
    assert head == "# Space group and lattice from the composition (tiny.csv: 2 test rows)"
    assert provenance.startswith(
        "Lattice model `my_forests.npz`, scored on the 2 test rows of `/data/tiny.csv` (conventional cells, "
        "pyxtal setting); the baselines are fitted on its 9 training and validation rows. Baseline: "
    )
    assert "mp.csv.gz" not in text and "fold" not in text and "unseen" not in text
    assert "| space group within the first 5 | 50.0% | 50.0% |" in text
    assert "| free angles given the true group, MAE (°) | – | – |" in text
    assert "Wall time" not in text  # no "seconds" in the CLI's document
    # a caller's own wording replaces the default heading and provenance, not the table
    own = lattice_markdown({**doc, "seconds": 3.2}, title="T", provenance="P.")
    assert own.startswith("# T\n\nP. Baseline: most frequent system") and "Wall time 3 s." in own


def test_lattice_benchmark_keeps_its_published_text():
    """benchmarks/lattice.py passes its own wording (folds 0-7, fold 8): the stored report is reproduced."""
    from pathlib import Path

    bench = _load_benchmark("lattice")
    results = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
    doc = json.loads((results / "lattice.json").read_text())
    assert bench.markdown(doc) == (results / "lattice.md").read_text()
    assert bench.markdown(doc).startswith("# Space group and lattice from the composition (mp.csv.gz fold 8)")


def test_evaluate_lattice_needs_training_and_test_rows(dataset):
    from xtalkit.csp.lattice_eval import evaluate_lattice

    rows = np.arange(len(dataset))
    with pytest.raises(XtalkitError, match="no training rows to fit the baselines"):
        evaluate_lattice(None, dataset, rows[:0], rows)
    with pytest.raises(XtalkitError, match="no test rows to score"):
        evaluate_lattice(None, dataset, rows, rows[:0])


THIN_NACL = """data_thin
_cell_length_a 5.64
_cell_length_b 5.64
_cell_length_c 0.1
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
Na1 Na 0 0 0
Cl1 Cl 0.5 0.5 0.5
"""


def test_evaluate_prediction_gives_the_readers_reason_and_lets_bugs_through(tmp_path, monkeypatch):
    from xtalkit.csp import evaluate as csp_evaluate
    from xtalkit.errors import CrystalError

    d = tmp_path / "NaCl"
    d.mkdir()
    (d / "summary.json").write_text(json.dumps({"top": [{"rank": 1, "file": "rank_01.cif"}]}))
    (d / "rank_01.cif").write_text(THIN_NACL)  # a 0.1 Å thick cell: refused by the reader
    true = rocksalt(A_NACL, "Na", "Cl")
    with pytest.raises(CrystalError) as err:
        evaluate_prediction(d, true, energy=False)
    message = str(err.value)
    assert message.startswith(str(d / "rank_01.cif")) and "\n" not in message
    assert "cell is too thin: the distance between opposite faces is 0.1 Å" in message
    assert "unreadable" not in message

    def bug(path):
        raise KeyError("a bug in xtalkit, not in the file")

    monkeypatch.setattr(csp_evaluate, "read_structure", bug)
    with pytest.raises(KeyError, match="a bug in xtalkit"):  # not disguised as an unreadable file
        evaluate_prediction(d, true, energy=False)
