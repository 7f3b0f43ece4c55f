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
    # a = (3, 0, 0), b = (2.9, 0.5, 0): V = 3·0.5·0.4 = 0.6,
    # b×c = (0.5·0.4 − 0·0.3, 0·2.8 − 2.9·0.4, 2.9·0.3 − 0.5·2.8) = (0.2, −1.16, −0.53),
    # |b×c|² = 0.04 + 1.3456 + 0.2809 = 1.6665 → height over bc 0.6 / 1.29093 = 0.46478 Å;
    # a×b = (0, 0, 1.5) → 0.6 / 1.5 = 0.4 Å; c×a = (0, 1.2, −0.9), |c×a| = 1.5 → 0.4 Å
    lat = np.array([[3.0, 0, 0], [2.9, 0.5, 0], [2.8, 0.3, 0.4]])
    np.testing.assert_allclose(np.cross(lat[1], lat[2]), [0.2, -1.16, -0.53], atol=1e-12)
    h = cell_heights(lat)
    np.testing.assert_allclose(h, [0.6 / np.sqrt(1.6665), 0.4, 0.4], rtol=1e-12)
    assert h[0] == pytest.approx(0.46478, abs=1e-5)


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
    with pytest.raises(ValueError, match="min_height"):
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


def test_jarvis_rows_meet_the_same_bounds_as_every_other_input():
    from xtalkit.crystal.convert import jarvis_atoms_to_crystal, structure_to_crystal

    def atoms(lattice, coords, elements, cartesian=False):
        return {"lattice_mat": np.asarray(lattice, float).tolist(), "coords": coords, "elements": elements,
                "cartesian": cartesian}  # fmt: skip

    nacl = atoms(np.diag([5.64] * 3), [[0, 0, 0], [0.5, 0.5, 0.5]], ["Na", "Cl"])
    c = structure_to_crystal(nacl)
    assert c.formula and len(c) == 2 and c.volume == pytest.approx(5.64**3)
    # Cartesian coordinates (Å) are made fractional through the lattice
    cart = jarvis_atoms_to_crystal(
        atoms(np.diag([5.64] * 3), [[0, 0, 0], [2.82, 2.82, 2.82]], ["Na", "Cl"], True)
    )
    np.testing.assert_allclose(cart.frac, [[0, 0, 0], [0.5, 0.5, 0.5]])
    # a 0.3 Å thick cell (non-singular, det 9.5): the readers' height bound, not just "singular"
    with pytest.raises(CrystalError, match=r"^row 7: cell is too thin: .* 0\.3 Å, below 0\.5 Å"):
        jarvis_atoms_to_crystal(atoms(np.diag([5.64, 5.64, 0.3]), [[0, 0, 0]], ["Na"]), source="row 7")
    # 10 atoms in 8 Å³: 0.8 Å³ per atom, denser than any solid (the readers' volume bound)
    dense = atoms(np.eye(3) * 2.0, np.random.default_rng(0).random((10, 3)).tolist(), ["C"] * 10)
    with pytest.raises(CrystalError, match=r"0\.8 Å³ per atom .* denser than any solid"):
        jarvis_atoms_to_crystal(dense)
    with pytest.raises(CrystalError, match="too thin"):  # singular: refused before it is inverted
        jarvis_atoms_to_crystal(atoms([[3, 0, 0], [3, 0, 0], [0, 0, 3]], [[0, 0, 0]], ["C"], True))
    with pytest.raises(CrystalError, match="bad JARVIS atoms: 2 elements for 1 coordinates"):
        jarvis_atoms_to_crystal(atoms(np.eye(3) * 4, [[0, 0, 0]], ["C", "C"]))


def test_too_many_images_before_expansion_names_the_threshold_used():
    # urea: 5 sites × 8 operations = 40 images before merging, 16 atoms in the full cell
    text = example_path("urea").read_text()
    with pytest.raises(
        CifError, match=r"5 sites × 8 operations = 40 images, beyond 36 \(4 × the limit of 9 atoms"
    ):
        read_crystal(text, text=True, limits=CellLimits(max_atoms=9))
    # 40 images pass the 4 × 10 guard; the merged cell (16 atoms) is then above the limit itself
    with pytest.raises(CifError, match="16 atoms in the cell, above the limit of 10"):
        read_crystal(text, text=True, limits=CellLimits(max_atoms=10))
    assert len(read_crystal(text, text=True, limits=CellLimits(max_atoms=16))) == 16


def test_gemmi_errors_name_the_line_and_the_block():
    urea = to_cif_string(read_crystal(example_path("urea")), symmetry="original")
    loop = urea[urea.index("loop_\n_atom_site_label") :]
    twice = urea + "\n" + loop  # a second _atom_site_label in the same block
    lines = twice.splitlines()
    # gemmi names the line of the loop that repeats the tag
    line = [k + 1 for k, ln in enumerate(lines) if ln == "loop_" and lines[k + 1] == "_atom_site_label"][1]
    with pytest.raises(CifError) as err:
        read_crystal(twice, text=True)
    assert (
        str(err.value) == f"<string>: malformed CIF: line {line} (block urea): duplicate tag _atom_site_label"
    )
    # gemmi's other format, "line:column": the line only
    with pytest.raises(CifError, match=r"^<string>: malformed CIF: line 2: Wrong number of values in loop"):
        read_crystal("data_x\nloop_\n_a\n_b\n1\n", text=True)
