"""Validation at the door (xtalkit.crystal.validate): hand-computed bounds, one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

from xtalkit.crystal.cif import read_crystal, to_cif_string
from xtalkit.crystal.core import Crystal, Flag
from xtalkit.crystal.validate import CellLimits, cell_heights, check_cell, check_crystal, check_symops
from xtalkit.errors import CifError, CrystalError
from xtalkit.examples import path as example_path
from xtalkit.geometry.neighbors import radius_graph


def test_cell_heights_by_hand():
    # orthorhombic: heights are the edges
    np.testing.assert_allclose(cell_heights(np.diag([3.0, 4.0, 5.0])), [3, 4, 5])
    # a sheared cell: c = (2.8, 0.3, 0.4) above the ab plane z = 0 → height 0.4 Å;
    # a = (3, 0, 0), b = (2.9, 0.5, 0): V = 3·0.5·0.4 = 0.6, |b×c| = |(0.2, -1.16, 0.03)|
    lat = np.array([[3.0, 0, 0], [2.9, 0.5, 0], [2.8, 0.3, 0.4]])
    h = cell_heights(lat)
    assert h[2] == pytest.approx(0.4)
    assert h[0] == pytest.approx(0.6 / np.linalg.norm(np.cross(lat[1], lat[2])))


@pytest.mark.parametrize(
    "lattice, message",
    [
        (np.diag([3.0, 3.0, 1e-300]), "too thin"),
        (np.diag([3.0, 3.0, 1e-4]), "too thin"),
        (np.diag([1000.0, 3.0, 22827.0]), "above the limit of 500"),
        (np.diag([3.0, np.nan, 3.0]), "finite"),
        (np.array([[3.0, 0, 0], [3.0, 0, 0], [0, 0, 3.0]]), "too thin"),  # two equal vectors
    ],
)
def test_check_cell_refuses(lattice, message):
    with pytest.raises(CrystalError, match=message):
        check_cell(lattice)


def test_limits_are_configurable():
    check_cell(np.diag([3.0, 3.0, 0.3]), CellLimits(min_height=0.2))
    with pytest.raises(ValueError):
        CellLimits(min_height=-1)


def test_symmetry_operations_must_be_isometries_of_the_cell():
    cubic = np.eye(3) * 4.0
    W = np.array([np.eye(3), [[0, 1, 0], [1, 0, 0], [0, 0, 1]]], float)  # x,y,z and y,x,z
    t = np.zeros((2, 3))
    check_symops(W, t, cubic)  # y,x,z maps a cubic cell onto itself
    with pytest.raises(CrystalError, match="preserve the cell metric"):
        check_symops(W, t, np.diag([4.0, 5.0, 6.0]), ["x,y,z", "y,x,z"])  # but not an orthorhombic one
    singular = np.array([[[1, 0, 0], [1, 0, 0], [1, 0, 0]]], float)  # x,x,x
    with pytest.raises(CrystalError, match=r"'x,x,x' is not invertible"):
        check_symops(singular, np.zeros((1, 3)), cubic, ["x,x,x"])


def test_volume_per_atom_bounds():
    c = Crystal(lattice=np.eye(3) * 2.0, numbers=[6] * 10, frac=np.random.default_rng(0).random((10, 3)))
    with pytest.raises(CrystalError, match="denser than any solid"):  # 0.8 Å³ per atom
        check_crystal(c)
    lone = Crystal(lattice=np.eye(3) * 30.0, numbers=[6], frac=[[0, 0, 0]], source="x.cif")
    with pytest.raises(CrystalError, match=r"^x.cif: 2.7e\+04 Å³ per atom"):
        check_crystal(lone)


def test_reader_reports_bad_symmetry_and_cells_in_one_line():
    urea = read_crystal(example_path("urea"))
    text = to_cif_string(urea, symmetry="original")
    for bad, message in (
        (text.replace("-x,-y,z", "x,x,x", 1), "not invertible"),
        (text.replace("-x,-y,z", "0,0,0", 1), "not invertible"),
        (text.replace("_cell_length_c", "_cell_length_c 1e-4\n_old", 1), "too thin"),
        (text.replace("_cell_length_a", "_cell_length_a 1000\n_old", 1), "above the limit"),
    ):
        with pytest.raises(CifError, match=message) as err:
            read_crystal(bad, text=True)
        assert str(err.value).startswith("<string> [block urea]: ") and "\n" not in str(err.value)


def test_non_utf8_text_field_is_read_with_a_note_and_nul_bytes_refused(tmp_path):
    text = example_path("urea").read_text().replace("data_urea", "data_urea\n_publ_section_title 'caf\xe9'")
    p = tmp_path / "cp1252.cif"
    p.write_bytes(text.encode("cp1252"))
    c = read_crystal(p)
    assert "not UTF-8 (byte 0xe9 on line" in c.metadata["encoding_note"]
    assert c.metadata["title"] == "café"
    p.write_bytes(text.encode() + b"\x00\x01")
    with pytest.raises(CifError, match="NUL byte"):
        read_crystal(p)


def test_implausible_input_adps_are_flagged_not_refused():
    text = example_path("rutile").read_text()
    huge = text.replace("Ti1 0.0116336834", "Ti1 3.0116336834", 1)
    assert huge != text
    c = read_crystal(huge, text=True)
    assert Flag.IMPLAUSIBLE_ADP in c.flags
    assert Flag.IMPLAUSIBLE_ADP not in read_crystal(text, text=True).flags
    with pytest.raises(CifError, match="not finite"):
        read_crystal(text.replace("Ti1 0.0116336834", "Ti1 1e400", 1), text=True)


def test_neighbour_search_never_sees_a_cell_it_could_hang_on():
    with pytest.raises(CrystalError, match="too thin"):
        radius_graph(np.diag([4.0, 4.0, 1e-4]), np.zeros((1, 3)), 5.0)
