"""Writing CIFs: round trips through our reader and gemmi, atomic writes."""

import os

import gemmi
import numpy as np
import pytest

from xtalkit import read_crystal, write_cif
from xtalkit.crystal import adp
from xtalkit.crystal.cif import to_cif_string
from xtalkit.examples import path as example_path

from conftest import EXPERIMENTAL, shared_or_skip

REAL = [
    "codtools/2003136__2003136__f79627.cif",  # P 21/c, organic with H
    "codtools/2003120__2003120__4e5dd6.cif",  # R -3 (hexagonal axes)
    "codtools/0000055__0000055__46d465.cif",  # superspace operations
]


def same_structure(a, b, tol=1e-6):
    assert len(a) == len(b)
    np.testing.assert_allclose(a.lattice, b.lattice, atol=tol)
    d = (a.frac - b.frac + 0.5) % 1 - 0.5
    assert np.abs(d).max() < tol
    np.testing.assert_array_equal(a.numbers, b.numbers)
    known = a.has_adp
    np.testing.assert_array_equal(known, b.has_adp)
    np.testing.assert_allclose(a.U_cart[known], b.U_cart[known], atol=tol)


@pytest.mark.parametrize("name", REAL)
@pytest.mark.parametrize("symmetry", ["P1", "original"])
def test_read_write_read_preserves_coordinates_and_u(tmp_path, name, symmetry):
    c = read_crystal(shared_or_skip(EXPERIMENTAL / name))
    out = write_cif(c, tmp_path / "out.cif", symmetry=symmetry)
    back = read_crystal(out)
    same_structure(c, back)
    assert back.temperature == c.temperature and back.r1 == pytest.approx(c.r1)
    if symmetry == "original":
        assert len(back.symops) == len(c.symops) and back.space_group_number == c.space_group_number


def test_written_u_iso_or_equiv_is_one_third_of_the_trace(tmp_path):
    c = read_crystal(example_path("rutile"))
    text = write_cif(c, tmp_path / "r.cif").read_text()
    block = gemmi.cif.read_string(text).sole_block()
    ueq = [float(v) for v in block.find_values("_atom_site_U_iso_or_equiv")]
    np.testing.assert_allclose(ueq, np.trace(c.U_cart, axis1=1, axis2=2) / 3, atol=1e-8)


def test_gemmi_reads_the_same_aniso_values(tmp_path):
    c = read_crystal(shared_or_skip(EXPERIMENTAL / REAL[0]))
    path = write_cif(c, tmp_path / "p1.cif")
    small = gemmi.read_small_structure(str(path))
    assert len(small.sites) == len(c)
    U_cif = adp.ucart_to_ucif(c.U_cart, c.lattice)
    for k, site in enumerate(small.sites):
        if c.adp_type[k] != "Uani":
            continue
        a = site.aniso
        np.testing.assert_allclose(
            [a.u11, a.u22, a.u33, a.u12, a.u13, a.u23], adp.to_components(U_cif[k]), atol=1e-9
        )
        np.testing.assert_allclose(site.fract.tolist(), c.frac[k], atol=1e-9)


def test_write_is_atomic_and_keeps_the_old_file_on_failure(tmp_path, monkeypatch):
    c = read_crystal(example_path("rutile"))
    target = tmp_path / "x.cif"
    target.write_text("old content")

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        write_cif(c, target)
    assert target.read_text() == "old content"
    assert os.listdir(tmp_path) == ["x.cif"]  # no temporary file left behind


def test_labels_are_unique_in_p1_output():
    c = read_crystal(example_path("urea"))
    block = gemmi.cif.read_string(to_cif_string(c)).sole_block()
    labels = list(block.find_values("_atom_site_label"))
    assert len(labels) == len(set(labels)) == len(c)
