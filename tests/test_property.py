"""Property prediction: table formats, splits, feature cache, CartNet/Site-Net training, predictor, CLI, baseline."""

import csv
import gzip
import json
import random

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

from xtalkit.cli.main import main
from xtalkit.data.property_cache import (
    FeatureCache,
    GraphFeaturizer,
    SitenetFeaturizer,
    cache_key,
    featurize_table,
)
from xtalkit.data.tables import (
    SplitSpec,
    load_splits,
    load_table,
    matbench_folds,
    matformer_split,
    random_split,
    structure_to_crystal,
)
from xtalkit.errors import XtalkitError
from xtalkit.property import PropertyPredictor, evaluate_table
from xtalkit.property.baselines import CompositionBaseline, MeanPredictor, mean_absolute_error
from xtalkit.training.property import make_config, train

torch.set_num_threads(1)

CATIONS = {"Li": -1.0, "Na": -0.6, "K": -0.3, "Mg": -1.4, "Ca": -1.2}
ANIONS = {"F": -2.0, "Cl": -1.1, "O": -1.6, "S": -0.7}
RADIUS = {"Li": 0.9, "Na": 1.2, "K": 1.5, "Mg": 0.9, "Ca": 1.1, "F": 1.2, "Cl": 1.7, "O": 1.3, "S": 1.7}


def _structure(kind: str, a_el: str, b_el: str) -> Structure:
    d = RADIUS[a_el] + RADIUS[b_el]
    if kind == "rocksalt":
        a = 2 * d
        lat = Lattice(np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]]) * a / 2)
        return Structure(lat, [a_el, b_el], [[0, 0, 0], [0.5, 0.5, 0.5]])
    if kind == "cscl":
        return Structure(Lattice.cubic(2 * d / np.sqrt(3)), [a_el, b_el], [[0, 0, 0], [0.5, 0.5, 0.5]])
    a = 4 * d / np.sqrt(3)  # zincblende
    lat = Lattice(np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]]) * a / 2)
    return Structure(lat, [a_el, b_el], [[0, 0, 0], [0.25, 0.25, 0.25]])


def _target(kind: str, a_el: str, b_el: str) -> float:
    """Synthetic formation energy (eV/atom): composition part plus a structure-type offset."""
    return 0.5 * (CATIONS[a_el] + ANIONS[b_el]) + {"rocksalt": 0.0, "cscl": 0.4, "zincblende": 0.8}[kind]


@pytest.fixture(scope="module")
def dataset():
    """(ids, pymatgen structures, targets): 5 cations × 4 anions × 3 structure types = 60 binaries."""
    ids, structures, y = [], [], []
    for kind in ("rocksalt", "cscl", "zincblende"):
        for a_el in CATIONS:
            for b_el in ANIONS:
                ids.append(f"{kind}-{a_el}{b_el}")
                structures.append(_structure(kind, a_el, b_el))
                y.append(_target(kind, a_el, b_el))
    return ids, structures, np.array(y)


def _write_csv(path, header, rows):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


BROKEN_CIF = "data_broken\n_cell_length_a 3.0\nloop_\n_atom_site_label\n_atom_site_fract_x\nNa1 0.0\n"


@pytest.fixture(scope="module")
def csv_table(dataset, tmp_path_factory):
    """mp-style CSV: material_id, cif, formation_energy_per_atom, band_gap, formula_fold + 4 bad rows."""
    ids, structures, y = dataset
    root = tmp_path_factory.mktemp("tables")
    rows = []
    for k, (i, s, t) in enumerate(zip(ids[:24], structures[:24], y[:24], strict=True)):
        rows.append([i, s.to(fmt="cif"), repr(float(t)), repr(abs(float(t))), k % 9])
    rows.append(["bad-nan", structures[0].to(fmt="cif"), "", "1.0", 0])  # row 24: missing target
    rows.append(["bad-text", structures[0].to(fmt="cif"), "abc", "1.0", 0])  # row 25: not a number
    rows.append(["bad-empty", "", "-1.0", "1.0", 0])  # row 26: no structure
    rows.append(["bad-cif", BROKEN_CIF, "-1.0", "1.0", 0])  # row 27: unreadable (found when featurizing)
    header = ["material_id", "cif", "formation_energy_per_atom", "band_gap", "formula_fold"]
    return _write_csv(root / "mp_like.csv", header, rows)


# ------------------------------------------------------------------------------------------- tables
def test_csv_table_targets_bad_rows_and_fold_split(csv_table, dataset):
    ids, _structures, y = dataset
    t = load_table(csv_table, "formation_energy_per_atom")
    assert t.format == "csv" and t.units == "eV/atom"
    assert len(t) == 25  # 24 good rows + the unreadable CIF, which is only found when featurized
    assert t.ids[:24] == ids[:24]
    np.testing.assert_array_equal(t.y[:24], y[:24])  # repr() round-trips exactly
    reasons = {(s.row, s.id): s.reason for s in t.skipped}
    assert reasons == {
        (24, "bad-nan"): "missing target",
        (25, "bad-text"): "target 'abc' is not a number",
        (26, "bad-empty"): "no structure",
    }
    # fold split: folds 0-6 train, 7 val, 8 test
    assert t.split_spec["method"] == "fold"
    folds = t.columns["formula_fold"]
    expected = np.where(folds == 7, "val", np.where(folds == 8, "test", "train"))
    assert list(t.split) == list(expected)
    assert t.split_sizes() == {"train": 21, "val": 2, "test": 2}
    # the unreadable CIF is reported when featurized, with its row and a reason; the others pass
    ft = featurize_table(t, GraphFeaturizer(), FeatureCache(None))
    assert len(ft.items) == 24
    assert [(f.row, f.id) for f in ft.failures] == [(27, "bad-cif")]
    assert "_cell_length_b" in ft.failures[0].reason
    # band gap table: same rows, other target and units
    g = load_table(csv_table, "band_gap")
    assert g.units == "eV" and len(g) == 27 and [s.id for s in g.skipped] == ["bad-empty"]


def test_csv_with_cif_paths_and_split_files(dataset, tmp_path):
    ids, structures, y = dataset
    (tmp_path / "cifs").mkdir()
    rows = []
    for i, s, t in zip(ids[:12], structures[:12], y[:12], strict=True):
        (tmp_path / "cifs" / f"{i}.cif").write_text(s.to(fmt="cif"))
        rows.append([i, f"cifs/{i}.cif", repr(float(t))])
    rows.append(["gone", "cifs/nothere.cif", "1.0"])
    t = load_table(_write_csv(tmp_path / "t.csv", ["id", "cif_file", "e_form"], rows), "e_form")
    assert len(t) == 12 and t.units == "eV/atom"
    assert [s.reason for s in t.skipped] == ["CIF file not found: cifs/nothere.cif"]
    c = structure_to_crystal(t.structures[3])
    lat = structures[3].lattice
    np.testing.assert_allclose(c.cell_parameters, (*lat.abc, *lat.angles), atol=1e-4)
    # a directory of train/val/test tables is split by file
    d = tmp_path / "aflow_like"
    d.mkdir()
    for name, sl in (("train", slice(0, 8)), ("val", slice(8, 10)), ("test", slice(10, 12))):
        _write_csv(d / f"{name}.csv", ["", "cif", "bulk_modulus"],
                   [[k, s.to(fmt="cif"), 10.0 * k] for k, s in enumerate(structures[sl])])  # fmt: skip
    s = load_splits(d, "bulk_modulus")
    assert s.units == "GPa" and s.split_sizes() == {"train": 8, "val": 2, "test": 2}
    assert list(s.split) == ["train"] * 8 + ["val"] * 2 + ["test"] * 2


def test_json_records_and_random_split(dataset, tmp_path):
    ids, structures, y = dataset
    records = [{"id": i, "structure": s.to(fmt="cif"), "band_gap": float(t)} for i, s, t in zip(ids, structures, y, strict=True)]  # fmt: skip
    records[5]["band_gap"] = None
    path = tmp_path / "t.json.gz"
    path.write_bytes(gzip.compress(json.dumps(records).encode()))
    t = load_table(path, "band_gap")
    assert t.format == "json" and len(t) == 59 and t.skipped[0].row == 5
    assert t.split_spec["method"] == "random" and t.split_spec["seed"] == 0
    assert t.split_sizes() == {"train": 47, "val": 6, "test": 6}  # 59 - round(5.9) - round(5.9)
    again = load_table(path, "band_gap")
    assert list(again.split) == list(t.split)
    other = load_table(path, "band_gap", split=SplitSpec("random", seed=1))
    assert list(other.split) != list(t.split)
    labels = random_split(103, (0.7, 0.2, 0.1), seed=3)
    assert [int((labels == s).sum()) for s in ("train", "val", "test")] == [72, 21, 10]


def _alignn_reference(n, n_train, n_val, n_test, seed=123):
    """ALIGNN's get_id_train_val_test, written out as there."""
    ids = list(np.arange(n))
    random.seed(seed)
    random.shuffle(ids)
    return ids[:n_train], ids[-(n_val + n_test) : -n_test], ids[-n_test:]


def test_jarvis_json_matformer_split(dataset, tmp_path):
    _ids, structures, y = dataset
    records = []
    for k, (s, t) in enumerate(zip(structures, y, strict=True)):
        cart = k % 2 == 1
        atoms = {"lattice_mat": s.lattice.matrix.tolist(),
                 "coords": (s.cart_coords if cart else s.frac_coords).tolist(),
                 "elements": [str(sp) for sp in s.species], "cartesian": cart, "props": ["", ""]}  # fmt: skip
        records.append({"jid": f"JVASP-{k}", "atoms": atoms, "formation_energy_peratom": float(t),
                        "optb88vdw_bandgap": "na" if k % 7 == 0 else abs(float(t))})  # fmt: skip
    path = tmp_path / "dft_3d.json"
    path.write_text(json.dumps(records))
    t = load_table(path, "optb88vdw_bandgap")
    assert t.format == "jarvis" and t.units == "eV"
    assert len(t) == 51 and {s.reason for s in t.skipped} == {"missing target"} and len(t.skipped) == 9
    c = structure_to_crystal(t.structures[0])  # JVASP-1: Cartesian coordinates
    np.testing.assert_allclose(c.frac, structures[1].frac_coords % 1.0, atol=1e-9)
    # Matformer/ALIGNN: rows with a target, shuffled with random.seed(123), int(0.8 n)/int(0.1 n)/int(0.1 n)
    n = len(t)
    tr, va, te = _alignn_reference(n, int(0.8 * n), int(0.1 * n), int(0.1 * n))
    assert t.split_spec["method"] == "matformer" and t.split_spec["seed"] == 123
    assert sorted(np.flatnonzero(t.split == "train").tolist()) == sorted(int(i) for i in tr)
    assert sorted(np.flatnonzero(t.split == "val").tolist()) == sorted(int(i) for i in va)
    assert sorted(np.flatnonzero(t.split == "test").tolist()) == sorted(int(i) for i in te)
    assert t.split_sizes() == {"train": 40, "val": 5, "test": 5}  # one row unused, as in ALIGNN
    # explicit sizes (Matformer's Materials Project convention is 60000/5000/4239)
    labels = matformer_split(51, n_train=30, n_val=11, n_test=10)
    tr, va, te = _alignn_reference(51, 30, 11, 10)
    assert set(np.flatnonzero(labels == "val").tolist()) == {int(i) for i in va}
    assert [int((labels == s).sum()) for s in ("train", "val", "test")] == [30, 11, 10]
    with pytest.raises(XtalkitError, match="asked"):
        matformer_split(10, n_train=8, n_val=2, n_test=1)


def test_matbench_json_gz_kfold(dataset, tmp_path):
    from sklearn.model_selection import KFold

    _ids, structures, y = dataset
    doc = {"index": [f"mb-e-form-{k:04d}" for k in range(len(y))], "columns": ["structure", "e_form"],
           "data": [[s.as_dict(), float(t)] for s, t in zip(structures, y, strict=True)]}  # fmt: skip
    path = tmp_path / "matbench_mp_e_form.json.gz"
    path.write_bytes(gzip.compress(json.dumps(doc).encode()))
    t = load_table(path, None, split=SplitSpec("auto", matbench_fold=2))
    assert t.format == "matbench" and t.target == "e_form" and t.units == "eV/atom" and len(t) == 60
    folds = list(KFold(n_splits=5, shuffle=True, random_state=18012019).split(np.zeros(60)))
    np.testing.assert_array_equal(np.flatnonzero(t.split == "test"), np.sort(folds[2][1]))
    assert t.split_sizes() == {"train": 38, "val": 10, "test": 12}  # round(0.2 * 48) = 10
    c = structure_to_crystal(t.structures[7])
    np.testing.assert_allclose(c.lattice, structures[7].lattice.matrix)
    for n in (23, 50, 101):
        k = matbench_folds(n)
        for fold, (_, test) in enumerate(KFold(5, shuffle=True, random_state=18012019).split(np.zeros(n))):
            np.testing.assert_array_equal(np.flatnonzero(k == fold), np.sort(test))


def test_bad_input_errors_are_one_line(csv_table, tmp_path):
    with pytest.raises(XtalkitError, match="no such file"):
        load_table(tmp_path / "missing.csv", "x")
    with pytest.raises(XtalkitError, match=r"no target column 'e_hull' \(columns: material_id"):
        load_table(csv_table, "e_hull")
    (tmp_path / "x.json").write_text('{"a": 1}')
    with pytest.raises(XtalkitError, match="not a table of structures"):
        load_table(tmp_path / "x.json", "a")
    with pytest.raises(XtalkitError, match="unknown preset"):
        make_config("cartnet", "gpu")
    with pytest.raises(XtalkitError, match="unknown split method"):
        load_table(csv_table, "band_gap", split="sideways")
    with pytest.raises(XtalkitError, match="not a property model"):
        PropertyPredictor("cartnet-adp")


# -------------------------------------------------------------------------------------------- cache
def test_feature_cache_second_run_reads_disk(csv_table, tmp_path):
    t = load_table(csv_table, "formation_energy_per_atom")
    sources = [*t.structures[:6], t.structures[-1]]  # the last one cannot be read
    for featurizer in (GraphFeaturizer(cutoff=4.0), SitenetFeaturizer(max_atoms=16)):
        first = FeatureCache(tmp_path / "cache")
        a = first.featurize(sources, featurizer, in_memory=True)
        assert (first.hits, first.misses) == (0, 7)
        files = sorted((tmp_path / "cache" / featurizer.name).rglob("*.*"))
        assert len(files) == 7 and sum(f.suffix == ".err" for f in files) == 1
        mtimes = [f.stat().st_mtime_ns for f in files]
        second = FeatureCache(tmp_path / "cache")
        b = second.featurize(sources, featurizer, in_memory=True)
        assert (second.hits, second.misses) == (7, 0)
        assert [f.stat().st_mtime_ns for f in files] == mtimes  # nothing rewritten
        assert str(a[-1]) == str(b[-1]) and "_cell_length_b" in str(b[-1])
        fresh = featurizer(structure_to_crystal(sources[2]))
        for x, z in zip(a[:6], b[:6], strict=True):
            assert x.keys() == z.keys()
            for k in x:
                np.testing.assert_array_equal(x[k], z[k])
        for k in fresh:
            np.testing.assert_array_equal(fresh[k], b[2][k])
            assert fresh[k].dtype == b[2][k].dtype
        paths = second.featurize(sources[:2], featurizer)  # lazily read files by default
        assert all(p.suffix == ".npz" and p.is_file() for p in paths)
    # the key follows content and parameters: a CIF file with the same text shares it, a new cutoff does not
    cif_file = tmp_path / "same.cif"
    cif_file.write_text(t.structures[0])
    assert cache_key(cif_file, GraphFeaturizer()) == cache_key(t.structures[0], GraphFeaturizer())
    assert cache_key(t.structures[0], GraphFeaturizer(cutoff=4.0)) != cache_key(
        t.structures[0], GraphFeaturizer()
    )
    assert cache_key(t.structures[0], GraphFeaturizer()) != cache_key(t.structures[1], GraphFeaturizer())


# ----------------------------------------------------------------------------------------- training
def _epoch_losses(run) -> list[float]:
    with open(run / "metrics.csv") as fh:
        return [float(r["train_loss"]) for r in csv.DictReader(fh) if r.get("train_loss")]


def _in_memory(model, featurizer, crystals) -> np.ndarray:
    out = []
    model.eval()
    with torch.no_grad():
        for c in crystals:
            inputs, _ = featurizer.collate([featurizer.sample(featurizer(c))])
            out.append(float(model(inputs)[0]))
    return np.array(out)


@pytest.fixture(scope="module")
def cartnet_run(csv_table, tmp_path_factory):
    run = tmp_path_factory.mktemp("cartnet") / "run"
    t = load_splits(csv_table, "formation_energy_per_atom")
    cfg = make_config("cartnet", "cpu", dim=32, num_layers=2, epochs=20, batch_size=5, lr=5e-3, pct_start=0.2)
    result = train(cfg, t, run, cache=FeatureCache(run.parent / "cache"), progress=False)
    return t, result


def test_cartnet_training_and_predictor(cartnet_run):
    t, result = cartnet_run
    losses = _epoch_losses(result.run_dir)
    assert len(losses) == 20
    assert np.mean(losses[-3:]) < 0.7 * losses[0], losses  # seeds 0-2 give 0.44-0.56
    s = result.summary
    assert s["target"] == "formation_energy_per_atom" and s["units"] == "eV/atom" and s["model"] == "cartnet"
    assert s["split"]["sizes"] == {"train": 20, "val": 2, "test": 2} and s["skipped_rows"] == 4
    assert s["val_mae"] == pytest.approx(s["best_val_mae"], rel=1e-5)  # the saved epoch is the best one
    assert s["train_seconds"] > 0 and s["test_mae"] is not None
    train_y = [v for v, i, lab in zip(t.y, t.ids, t.split, strict=True) if lab == "train" and i != "bad-cif"]
    assert s["target_mean"] == pytest.approx(float(np.mean(train_y)))
    skipped = (result.run_dir / "skipped.csv").read_text()
    assert "bad-cif" in skipped and "missing target" in skipped
    # the model file predicts what the in-memory network predicts
    predictor = PropertyPredictor(result.run_dir / "model.pt", batch_size=4)
    assert predictor.target == "formation_energy_per_atom" and predictor.units == "eV/atom"
    crystals = [structure_to_crystal(src) for src in t.structures[:24]]
    got = predictor.predict(crystals)
    want = _in_memory(result.model, predictor.featurizer, crystals)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.ptp(got) > 1e-3  # not a constant
    # evaluation on the test split reproduces the stored test MAE
    ev = evaluate_table(predictor, t, "test")
    assert ev["n"] == 2 and ev["mae"] == pytest.approx(s["test_mae"], rel=1e-5)
    # a run directory is not overwritten; --resume continues it
    with pytest.raises(XtalkitError, match="already there"):
        train(make_config("cartnet", "cpu", epochs=1), t, result.run_dir, progress=False)


def test_sitenet_band_gap_training_and_predictor(csv_table, tmp_path):
    t = load_splits(csv_table, "band_gap")
    cfg = make_config(
        "sitenet", "cpu", max_atoms=16, embedding_dim=8, site_dim_per_head=8, interaction_dim_per_head=4,
        attention_hidden=(16,), pre_pool=(16,), post_pool=(16,), epochs=16, lr=2e-3, max_sites=8,
    )  # fmt: skip
    result = train(cfg, t, tmp_path / "run", cache=FeatureCache(tmp_path / "cache"), progress=False)
    losses = _epoch_losses(tmp_path / "run")
    assert len(losses) == 16 and np.mean(losses[-3:]) < 0.65 * losses[0], losses  # seeds 0-2: 0.39-0.40
    s = result.summary
    assert s["clamp_output"] is True and s["units"] == "eV" and s["model"] == "sitenet"
    assert s["featurizer"]["max_atoms"] == 16
    predictor = PropertyPredictor(tmp_path / "run" / "model.pt")
    crystals = [structure_to_crystal(src) for src in t.structures[:24]]
    got = predictor.predict(crystals)
    np.testing.assert_allclose(got, _in_memory(result.model, predictor.featurizer, crystals), atol=1e-5)
    assert (got >= 0).all()
    # resume: two more epochs from the last checkpoint (history kept in metrics.csv)
    cfg2 = make_config("sitenet", **{**cfg.as_dict(), "epochs": 18})
    resumed = train(
        cfg2, t, tmp_path / "run", cache=FeatureCache(tmp_path / "cache"), progress=False, resume=True
    )
    after = _epoch_losses(tmp_path / "run")
    assert len(after) == 18 and after[:16] == losses and resumed.summary["epochs_run"] == 18


# ---------------------------------------------------------------------------------------------- CLI
def test_cli_predict_directory_with_corrupt_file(cartnet_run, dataset, tmp_path, capsys):
    _t, result = cartnet_run
    ids, structures, _y = dataset
    d = tmp_path / "cifs"
    d.mkdir()
    for i, s in zip(ids[30:35], structures[30:35], strict=True):
        (d / f"{i}.cif").write_text(s.to(fmt="cif"))
    (d / "corrupt.cif").write_text("data_x\n_cell_length_a 'oops\n")
    out = tmp_path / "results.csv"
    code = main(["property", "predict", "--model", str(result.run_dir / "model.pt"), str(d), "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and "1 of 6 inputs failed" in err and "corrupt.cif" in err
    with open(out) as fh:
        rows = list(csv.DictReader(fh))
    assert [r["file"].split("/")[-1] for r in rows] == sorted(f"{i}.cif" for i in ids[30:35])
    assert all(r["units"] == "eV/atom" for r in rows)
    want = PropertyPredictor(result.run_dir / "model.pt").predict(sorted(d.glob("*-*.cif")))
    np.testing.assert_allclose([float(r["formation_energy_per_atom"]) for r in rows], want, rtol=1e-5)


def test_cli_train_and_evaluate(csv_table, cartnet_run, tmp_path, capsys):
    _t, result = cartnet_run
    code = main(["property", "evaluate", "--model", str(result.run_dir / "model.pt"), "--data", str(csv_table),
                 "--no-cache", "--json"])  # fmt: skip
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["n"] == 2 and doc["mae"] == pytest.approx(result.summary["test_mae"], rel=1e-5)
    assert doc["target"] == "formation_energy_per_atom" and doc["units"] == "eV/atom"
    run = tmp_path / "run"
    argv = ["train", "property", "cartnet", "--data", str(csv_table), "--target", "band_gap",
            "--preset", "cpu", "--epochs", "1", "--dim", "8", "--num-layers", "1", "--no-cache",
            "--quiet", "-o", str(run)]  # fmt: skip
    code = main(argv)  # the one front door, `xtalkit train`
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and (run / "model.pt").is_file()
    from xtalkit.pretrained import load

    assert load(run, task="property").metadata["xtalkit"]
    assert main([*argv, "--resume"]) == 0  # resumes the finished run with its own settings
    capsys.readouterr()
    assert summary["units"] == "eV" and summary["split"] == {
        "method": "fold",
        "train": 22,
        "val": 2,
        "test": 2,
    }
    code = main(["property", "train", "sitenet", "--data", str(csv_table), "--target", "band_gap", "--dim", "8",
                 "-o", str(tmp_path / "x")])  # fmt: skip
    assert code == 1 and "does not apply to sitenet" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------- baseline
def test_composition_baseline_beats_mean_on_linear_target():
    rng = np.random.default_rng(0)
    elements = ["Li", "Na", "Mg", "Al", "Si", "O", "F", "S", "Cl", "Fe"]
    weights = rng.normal(size=len(elements))
    comps, y = [], []
    for _ in range(400):
        k = rng.integers(2, 4)
        pick = rng.choice(len(elements), size=k, replace=False)
        amounts = rng.integers(1, 5, size=k)
        comps.append({elements[p]: int(a) for p, a in zip(pick, amounts, strict=True)})
        x = amounts / amounts.sum()
        y.append(float(x @ weights[pick]))
    y = np.array(y)
    gbm = CompositionBaseline(n_threads=1, max_iter=300).fit(comps[:320], y[:320])
    mean = MeanPredictor().fit(comps[:320], y[:320])
    mae_gbm = mean_absolute_error(y[320:], gbm.predict(comps[320:]))
    mae_mean = mean_absolute_error(y[320:], mean.predict(comps[320:]))
    assert mae_gbm < 0.3 * mae_mean, (mae_gbm, mae_mean)
    # structures work as inputs too (NaCl in two cells: one composition, one prediction)
    nacl = _structure("rocksalt", "Na", "Cl")
    assert gbm.predict([nacl, nacl * (2, 1, 1)])[0] == pytest.approx(gbm.predict([{"Na": 1, "Cl": 1}])[0])
