"""csp/data.py: distance-matrix targets, symmetry and the cache of a table."""

from __future__ import annotations

import math

import numpy as np
import pytest

from csp_rows import A_NACL
from xtalkit.csp import data as csp_data
from xtalkit.csp.data import CRYSTAL_SYSTEMS, DistanceDataset, build_dataset, crystal_system
from xtalkit.errors import XtalkitError


def test_dataset_rows_shapes_and_targets(csp_dataset):
    ids = csp_dataset.ids.tolist()
    assert len(csp_dataset) == 11 and "t-big" not in ids and "t-cu" not in ids
    reasons = {s["id"]: s["reason"] for s in csp_dataset.meta["skipped"]}
    assert "16 atoms in the cell, more than 12" in reasons["t-big"]
    assert "one atom" in reasons["t-cu"]
    assert csp_dataset.features.shape == (11, 12, 11) and csp_dataset.features.dtype == np.float32
    assert csp_dataset.mask.shape == (11, 12) and csp_dataset.distances.shape == (11, 12, 12)
    k = ids.index("t-nacl")
    # the 2-atom primitive cell becomes the 8-atom conventional Fm-3m cell
    assert (
        csp_dataset.file_atoms[k] == 2
        and csp_dataset.conventional_atoms[k] == 8
        and csp_dataset.mask[k].sum() == 8
    )
    assert csp_dataset.space_group[k] == 225 and CRYSTAL_SYSTEMS[csp_dataset.crystal_system[k]] == "cubic"
    assert csp_dataset.formulas[k] == "Na4Cl4" and csp_dataset.reduced_formulas[k] == "NaCl"
    np.testing.assert_allclose(csp_dataset.lattice[k], [A_NACL] * 3 + [90] * 3, atol=1e-6)
    d = csp_dataset.distances[k][csp_dataset.pair_mask[k]]
    assert d.min() == pytest.approx(A_NACL / 2) and d.max() == pytest.approx(A_NACL * math.sqrt(3) / 2)
    h = ids.index("t-heusler")
    assert (
        not csp_dataset.has_target[h]
        and csp_dataset.conventional_atoms[h] == 16
        and csp_dataset.formulas[h] == ""
    )
    assert csp_dataset.pair_mask[h].sum() == 0
    assert (
        csp_dataset.indices("train").size == 6 and csp_dataset.indices("train", targets_only=False).size == 7
    )
    assert csp_dataset.indices("val").size == 2 and csp_dataset.indices("test").size == 2
    assert csp_dataset.number_of_elements()[ids.index("t-srtio3")] == 3
    assert csp_dataset.element_counts()[k].sum() == 2  # the table's cell
    assert crystal_system(136) == "tetragonal" and crystal_system(166) == "trigonal"


def test_dataset_cache_and_cell_convention(csp_table, csp_cache, csp_dataset, monkeypatch):
    files = sorted(csp_cache.glob("distmat_conventional_*.npz"))
    assert len(files) == 1 and csp_dataset.meta["path"] == str(files[0])

    def boom(_):
        raise AssertionError("structures analysed again instead of read from the cache")

    monkeypatch.setattr(csp_data, "_process_row", boom)
    again = build_dataset(csp_table, cache_dir=csp_cache)
    np.testing.assert_array_equal(again.distances, csp_dataset.distances)
    np.testing.assert_array_equal(again.ids, csp_dataset.ids)
    assert DistanceDataset.load(files[0]).meta["key"] == csp_dataset.meta["key"]
    monkeypatch.undo()
    file_cells = build_dataset(csp_table, cache_dir=csp_cache, cell="file")
    assert len(sorted(csp_cache.glob("distmat_file_*.npz"))) == 1
    ids = file_cells.ids.tolist()
    assert file_cells.mask[ids.index("t-nacl")].sum() == 2 and file_cells.has_target.all()
    with pytest.raises(XtalkitError, match="cell must be one of"):
        build_dataset(csp_table, cell="primitive", use_cache=False)
