"""data/tables.py: table formats, bad rows, split conventions (fold, random, Matformer, Matbench)."""

import gzip
import json
import random

import numpy as np
import pytest

from property_data import write_csv
from xtalkit.data.property_cache import (
    FeatureCache,
    GraphFeaturizer,
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
from xtalkit.property import PropertyPredictor
from xtalkit.training.property import make_config


def test_csv_table_targets_bad_rows_and_fold_split(binaries_csv, binaries):
    ids, _structures, y = binaries
    t = load_table(binaries_csv, "formation_energy_per_atom")
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
    g = load_table(binaries_csv, "band_gap")
    assert g.units == "eV" and len(g) == 27 and [s.id for s in g.skipped] == ["bad-empty"]


def test_csv_with_cif_paths_and_split_files(binaries, tmp_path):
    ids, structures, y = binaries
    (tmp_path / "cifs").mkdir()
    rows = []
    for i, s, t in zip(ids[:12], structures[:12], y[:12], strict=True):
        (tmp_path / "cifs" / f"{i}.cif").write_text(s.to(fmt="cif"))
        rows.append([i, f"cifs/{i}.cif", repr(float(t))])
    rows.append(["gone", "cifs/nothere.cif", "1.0"])
    t = load_table(write_csv(tmp_path / "t.csv", ["id", "cif_file", "e_form"], rows), "e_form")
    assert len(t) == 12 and t.units == "eV/atom"
    assert [s.reason for s in t.skipped] == ["CIF file not found: cifs/nothere.cif"]
    c = structure_to_crystal(t.structures[3])
    lat = structures[3].lattice
    np.testing.assert_allclose(c.cell_parameters, (*lat.abc, *lat.angles), atol=1e-4)
    # a directory of train/val/test tables is split by file
    d = tmp_path / "aflow_like"
    d.mkdir()
    for name, sl in (("train", slice(0, 8)), ("val", slice(8, 10)), ("test", slice(10, 12))):
        write_csv(d / f"{name}.csv", ["", "cif", "bulk_modulus"],
                   [[k, s.to(fmt="cif"), 10.0 * k] for k, s in enumerate(structures[sl])])  # fmt: skip
    s = load_splits(d, "bulk_modulus")
    assert s.units == "GPa" and s.split_sizes() == {"train": 8, "val": 2, "test": 2}
    assert list(s.split) == ["train"] * 8 + ["val"] * 2 + ["test"] * 2


def test_json_records_and_random_split(binaries, tmp_path):
    ids, structures, y = binaries
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


def test_jarvis_json_matformer_split(binaries, tmp_path):
    _ids, structures, y = binaries
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


def test_matbench_json_gz_kfold(binaries, tmp_path):
    from sklearn.model_selection import KFold

    _ids, structures, y = binaries
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


def test_bad_input_errors_are_one_line(binaries_csv, tmp_path):
    with pytest.raises(XtalkitError, match="no such file"):
        load_table(tmp_path / "missing.csv", "x")
    with pytest.raises(XtalkitError, match=r"no target column 'e_hull' \(columns: material_id"):
        load_table(binaries_csv, "e_hull")
    (tmp_path / "x.json").write_text('{"a": 1}')
    with pytest.raises(XtalkitError, match="not a table of structures"):
        load_table(tmp_path / "x.json", "a")
    with pytest.raises(XtalkitError, match="unknown preset"):
        make_config("cartnet", "gpu")
    with pytest.raises(XtalkitError, match="unknown split method"):
        load_table(binaries_csv, "band_gap", split="sideways")
    with pytest.raises(XtalkitError, match="a model of task 'adp', not 'property'"):
        PropertyPredictor("cartnet-adp")
