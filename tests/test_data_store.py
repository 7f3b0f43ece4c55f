"""data/store.py: shards written atomically, read back memory-mapped, splits, format checks."""

import json

import numpy as np
import pytest

from xtalkit import read_crystal
from xtalkit.crystal import adp
from xtalkit.data import store
from xtalkit.data.store import FORMAT, VERSION, ADPStore, cell_signature, write_shard
from xtalkit.errors import XtalkitError
from xtalkit.examples import path as example_path


def _dataset(root, shards: dict, splits: dict | None = None):
    """A dataset directory: the shards (name → (crystals, ids)), a manifest, split files."""
    for name, (crystals, ids) in shards.items():
        write_shard(root / "shards" / name, crystals, ids)
    (root / "manifest.json").write_text(
        json.dumps({"format": FORMAT, "version": VERSION, "shards": list(shards)})
    )
    (root / "splits").mkdir(exist_ok=True)
    for split, ids in (splits or {}).items():
        (root / "splits" / f"{split}.txt").write_text("".join(f"{i}\n" for i in ids))
    return root


@pytest.fixture(scope="module")
def crystals():
    return read_crystal(example_path("urea")), read_crystal(example_path("rutile"))


def test_round_trip_keeps_every_array(crystals, tmp_path):
    urea, rutile = crystals
    root = _dataset(tmp_path, {"a": ([urea], ["urea"]), "b": ([rutile, urea], ["rutile", "urea2"])})
    st = ADPStore(root)
    assert len(st) == 3 and st.ids == ["urea", "rutile", "urea2"]
    assert st.n_atoms().tolist() == [len(urea), len(rutile), len(urea)]
    for sample, c in zip(st, (urea, rutile, urea), strict=True):
        np.testing.assert_array_equal(sample.numbers, c.numbers)
        np.testing.assert_array_equal(sample.frac, c.frac)
        np.testing.assert_array_equal(sample.lattice, c.lattice)
        # U_cart is stored as 6 components (11, 22, 33, 12, 13, 23) and read back symmetric, Å²
        np.testing.assert_array_equal(sample.U, c.U_cart)
        assert np.allclose(sample.U, np.swapaxes(sample.U, 1, 2), equal_nan=True)
        np.testing.assert_array_equal(sample.scored, ~c.is_hydrogen & c.has_adp)
        assert sample.temperature == c.temperature
        back = sample.to_crystal()
        assert back.formula == c.formula and back.temperature == c.temperature
    assert st.column("temperature").tolist() == [urea.temperature, rutile.temperature, urea.temperature]
    assert st.column("formula").tolist() == [
        urea.formula_units[0],
        rutile.formula_units[0],
        urea.formula_units[0],
    ]
    # arrays are memory-mapped, not read whole
    assert isinstance(st.shards[0]["frac"], np.memmap)


def test_stored_components_follow_the_documented_order(crystals, tmp_path):
    urea, _ = crystals
    U = np.zeros((len(urea), 3, 3))
    U[:] = [[0.011, 0.004, 0.005], [0.004, 0.022, 0.006], [0.005, 0.006, 0.033]]
    write_shard(tmp_path / "s", [urea.with_adps(U)], ["u"])
    raw = np.load(tmp_path / "s" / "U.npy")
    np.testing.assert_array_equal(raw[0], [0.011, 0.022, 0.033, 0.004, 0.005, 0.006])


def test_splits_select_structures(crystals, tmp_path):
    urea, rutile = crystals
    root = _dataset(tmp_path, {"a": ([urea, rutile], ["u", "r"])}, {"train": ["r"], "val": ["u"], "test": []})
    assert ADPStore(root, "train").ids == ["r"] and ADPStore(root, "val").ids == ["u"]
    assert len(ADPStore(root, "test")) == 0
    assert ADPStore(root, "train")[0].numbers.tolist() == rutile.numbers.tolist()
    with pytest.raises(XtalkitError, match="split must be one of train, val, test, not 'dev'"):
        ADPStore(root, "dev")
    (root / "splits" / "test.txt").unlink()
    with pytest.raises(XtalkitError, match=r"no split file splits/test\.txt"):
        ADPStore(root, "test")


def test_not_a_dataset_or_another_version(tmp_path):
    with pytest.raises(XtalkitError, match="not an xtalkit ADP dataset"):
        ADPStore(tmp_path)
    (tmp_path / "manifest.json").write_text(
        json.dumps({"format": FORMAT, "version": VERSION + 1, "shards": []})
    )
    with pytest.raises(XtalkitError, match=f"this xtalkit reads {FORMAT} v{VERSION}"):
        ADPStore(tmp_path)


def test_an_interrupted_write_leaves_the_old_shard(crystals, tmp_path, monkeypatch):
    urea, rutile = crystals
    write_shard(tmp_path / "s", [urea], ["u"])
    calls, real_save = [], np.save

    def failing_save(path, arr, allow_pickle=False):
        calls.append(path)
        if len(calls) == 3:
            raise OSError("disk full")
        real_save(path, arr, allow_pickle=allow_pickle)

    monkeypatch.setattr(store.np, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        write_shard(tmp_path / "s", [rutile], ["r"])
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]  # no temporary directory left
    assert np.load(tmp_path / "s" / "ids.npy").tolist() == ["u"]  # the old shard, whole


def test_cell_signature_of_rutile(crystals):
    _, rutile = crystals
    a, c = rutile.lattice[0, 0], rutile.lattice[2, 2]  # tetragonal: a = b, c shortest
    np.testing.assert_allclose(cell_signature(rutile), [c, a, a, a * a * c / 6], rtol=1e-9)
    # the signature does not depend on the setting: a cell with b and c swapped has the same one
    swapped = rutile.replace(lattice=rutile.lattice[[0, 2, 1]], frac=rutile.frac[:, [0, 2, 1]])
    np.testing.assert_allclose(cell_signature(swapped), cell_signature(rutile), rtol=1e-9)
    assert adp.u_equiv(rutile.U_cart).shape == (len(rutile),)
