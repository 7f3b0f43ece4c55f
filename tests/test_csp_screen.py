"""Formulas as users write them, and screening candidates before relaxation."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from xtalkit.csp.encoding import distance_target
from xtalkit.csp.formulas import cell_multiples
from xtalkit.csp.pipeline import CandidateRecord, CSPConfig, check_formula, screen_candidates
from xtalkit.csp.screen import distance_loss, group_duplicates, screen
from xtalkit.errors import XtalkitError


def cscl(a: float = 4.0) -> Structure:
    return Structure(Lattice.cubic(a), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def rocksalt(a: float = 5.64) -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


# ---------------------------------------------------------------- formulas
def test_reduced_formula_tries_every_cell_up_to_12_atoms():
    r = cell_multiples("LiGaSi")
    assert r.reduced and r.name == "LiGaSi"
    assert r.cells == ("LiGaSi", "Li2Ga2Si2", "Li3Ga3Si3", "Li4Ga4Si4")
    assert cell_multiples("SrTiO3").cells == ("SrTiO3", "Sr2Ti2O6")
    assert len(cell_multiples("NaCl").cells) == 6  # 2, 4, ..., 12 atoms


def test_cell_contents_are_one_cell():
    r = cell_multiples("Li2Ga2Si2")
    assert not r.reduced and r.cells == ("Li2Ga2Si2",) and r.name == "Li2Ga2Si2"
    assert cell_multiples("Cl4Na4").cells == ("Na4Cl4",)  # encoding order


@pytest.mark.parametrize(
    ("formula", "message"),
    [("XxO", "unknown element 'Xx'"), ("Fe0.5O", "not a positive whole number"),
     ("Na13Cl13", "26 atoms per cell"), ("CaTi2O13", "16 atoms per cell")],
)  # fmt: skip
def test_bad_formulas_keep_one_line_errors(formula, message):
    with pytest.raises(XtalkitError, match=message) as err:
        cell_multiples(formula)
    assert "\n" not in str(err.value)


def test_check_formula_reports_cells_and_can_take_the_formula_as_the_cell():
    info = check_formula("LiGaSi")
    assert info["reduced"] and info["cells"][-1] == "Li4Ga4Si4" and info["n_atoms"] == 12
    fixed = check_formula("LiGaSi", CSPConfig(search_z=False))
    assert not fixed["reduced"] and fixed["cells"] == ["LiGaSi"] and fixed["n_atoms"] == 3


# ---------------------------------------------------------------- distance loss
def test_distance_loss_is_zero_for_the_structures_own_matrix_in_any_atom_order():
    s = rocksalt()
    t = distance_target(s)
    assert distance_loss(s, t.distances, t.encoding.mask) == pytest.approx(0.0, abs=1e-12)
    shuffled = Structure(s.lattice, list(reversed(s.species)), s.frac_coords[::-1])
    assert distance_loss(shuffled, t.distances, t.encoding.mask) == pytest.approx(0.0, abs=1e-12)


def test_distance_loss_hand_computed_for_cscl():
    # two atoms, one distance d = a√3/2 (d² = 12 Å² at a = 4 Å); a target 10 % longer differs by
    # 0.1 d in one entry of each atom's profile: loss = 2 (0.1 d)² / n² = 0.5 · 0.01 · 12 = 0.06 Å²
    s = cscl(4.0)
    t = distance_target(s)
    assert distance_loss(s, 1.1 * t.distances, t.encoding.mask) == pytest.approx(0.06, rel=1e-9)


def test_distance_loss_refuses_a_target_of_another_size():
    t = distance_target(rocksalt())
    with pytest.raises(XtalkitError, match="mask marks 8 atoms"):
        distance_loss(cscl(), t.distances, t.encoding.mask)


# ---------------------------------------------------------------- screening
def test_duplicates_found_through_origin_shift_and_atom_order():
    a = rocksalt()
    shifted = a.copy()
    shifted.translate_sites(list(range(len(a))), [0.25, 0.25, 0.25])
    expanded = rocksalt(6.5)  # StructureMatcher scales volumes: the same structure before relaxation
    cs = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert group_duplicates([a, shifted, cs, expanded]) == [0, 0, 2, 0]


def test_screen_keeps_the_best_scoring_distinct_candidates():
    a = rocksalt()
    shifted = a.copy()
    shifted.translate_sites(list(range(len(a))), [0.5, 0.0, 0.0])
    cs = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    zb = Structure.from_spacegroup("F-43m", Lattice.cubic(6.0), ["Na", "Cl"], [[0, 0, 0], [0.25, 0.25, 0.25]])
    structures = [a, shifted, cs, zb]
    kept, rep = screen(structures, [3.0, 1.0, np.nan, 2.0], keep=2)
    assert kept.tolist() == [1, 3]  # the shifted copy scores better than the original it duplicates
    assert rep.tolist() == [1, 1, 2, 3]
    kept_all, _ = screen(structures, [3.0, 1.0, np.nan, 2.0], keep=10)
    assert kept_all.tolist() == [1, 3, 2]  # NaN last; three distinct structures
    with pytest.raises(XtalkitError, match="4 candidates but 3 scores"):
        screen(structures, [1, 2, 3], keep=1)


def test_screen_candidates_marks_what_is_not_relaxed():
    a = rocksalt()
    t = distance_target(a)
    zb = Structure.from_spacegroup(
        "F-43m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.25, 0.25, 0.25]]
    )
    shifted = a.copy()
    shifted.translate_sites(list(range(len(a))), [0.5, 0.0, 0.0])
    recs = [
        CandidateRecord(i, 225, (), s, cell="Na4Cl4", source="pyxtal", status="pending")
        for i, s in enumerate([zb, a, shifted])
    ]
    screen_candidates(recs, CSPConfig(n_relax=1), {"Na4Cl4": (t.distances, t.encoding.mask)}, "Na4Cl4")
    assert [r.status for r in recs] == ["screened out", "pending", "duplicate"]
    assert recs[1].screen_score == pytest.approx(0.0, abs=1e-12) and recs[0].screen_score > 0.1
    assert recs[2].duplicate_of == 1
    untouched = [CandidateRecord(0, 225, (), a, cell="Na4Cl4", source="pyxtal", status="pending")]
    screen_candidates(untouched, CSPConfig(n_relax=0), None, "Na4Cl4")
    assert untouched[0].status == "pending"
    with pytest.raises(XtalkitError, match="needs the predicted distance matrix"):
        screen_candidates(recs, CSPConfig(n_relax=1), None, "Na4Cl4")
