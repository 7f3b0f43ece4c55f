"""Reading CIFs: conventions, symmetry expansion of sites and ADPs, flags and errors."""

import numpy as np
import pytest

from xtalkit import CifError, Flag, read_cif, read_crystal
from xtalkit.crystal import adp
from xtalkit.crystal.cif import parse_number, parse_temperature
from xtalkit.crystal.symmetry import ops_to_arrays, site_symmetry_ops

from conftest import EXPERIMENTAL, shared_or_skip

MONO = """data_mono
_cell_length_a 7.0
_cell_length_b 5.0
_cell_length_c 9.0
_cell_angle_alpha 90
_cell_angle_beta 104.0
_cell_angle_gamma 90
_symmetry_space_group_name_H-M 'P 1 21/c 1'
{temperature}
loop_
_symmetry_equiv_pos_as_xyz
'x, y, z'
'-x, y+1/2, -z+1/2'
'-x, -y, -z'
'x, -y+1/2, z+1/2'
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
_atom_site_U_iso_or_equiv
Fe1 Fe 0.5 0.5 0.5 1 0.01
O1 O 0.1234(5) 0.2345(6) 0.3456(7) 1 0.02
H1 H 0.2 0.3 0.4 1 0.05
{aniso}
"""

ANISO_U = """loop_
_atom_site_aniso_label
_atom_site_aniso_U_11
_atom_site_aniso_U_22
_atom_site_aniso_U_33
_atom_site_aniso_U_12
_atom_site_aniso_U_13
_atom_site_aniso_U_23
Fe1 0.011 0.009 0.010 0.001 0.002 -0.0005
O1 0.021 0.018 0.025 -0.003 0.004 0.002
"""


def mono(temperature="_diffrn_ambient_temperature 100(2)", aniso=ANISO_U):
    return MONO.format(temperature=temperature, aniso=aniso)


def test_expansion_counts_and_special_position():
    c = read_crystal(mono(), text=True)
    # Fe1 on an inversion centre: 2 images; O1 and H1 general: 4 each
    assert len(c) == 10
    assert (c.labels == "Fe1").sum() == 2
    assert c.space_group == "P 1 21/c 1" and c.space_group_number == 14
    assert c.temperature == 100.0
    assert c.adp_status == "anisotropic"


def test_screw_axis_relates_positions_and_adps():
    c = read_crystal(mono(), text=True)
    o = np.flatnonzero(c.labels == "O1")
    x, y, z = c.frac[o[0]]
    screw = np.mod([-x, y + 0.5, -z + 0.5], 1.0)
    k = o[np.argmin([np.abs(((c.frac[i] - screw) + 0.5) % 1 - 0.5).max() for i in o])]
    np.testing.assert_allclose(c.frac[k], screw, atol=1e-12)
    U0 = adp.ucart_to_ucif(c.U_cart[o[0]], c.lattice)
    U1 = adp.ucart_to_ucif(c.U_cart[k], c.lattice)
    # 2-fold along b: U12 and U23 change sign, the rest is unchanged
    sign = np.array([[1, -1, 1], [-1, 1, -1], [1, -1, 1]])
    np.testing.assert_allclose(U1, sign * U0, atol=1e-12)
    np.testing.assert_allclose(
        U0, [[0.021, -0.003, 0.004], [-0.003, 0.018, 0.002], [0.004, 0.002, 0.025]], atol=1e-12
    )


def test_site_on_inversion_centre_keeps_its_tensor():
    c = read_crystal(mono(), text=True)
    fe = np.flatnonzero(c.labels == "Fe1")
    given = np.array([0.011, 0.009, 0.010, 0.001, 0.002, -0.0005])
    # the first atom merges x,y,z with the inversion -x,-y,-z: the mean leaves the tensor as given
    U = adp.ucart_to_ucif(c.U_cart[fe[0]], c.lattice)
    np.testing.assert_allclose(adp.to_components(U), given, atol=1e-12)
    # the second is the 2_1 image (merged with the c glide): U12 and U23 flip sign
    U = adp.ucart_to_ucif(c.U_cart[fe[1]], c.lattice)
    np.testing.assert_allclose(adp.to_components(U), given * [1, 1, 1, -1, 1, -1], atol=1e-12)
    np.testing.assert_allclose(c.frac[fe], [[0.5, 0.5, 0.5], [0.5, 0.0, 0.0]], atol=1e-12)


@pytest.mark.parametrize("kind", ["B", "beta"])
def test_b_and_beta_loops_give_the_same_cartesian_tensors(kind):
    ref = read_crystal(mono(), text=True)
    U_cif = np.array(
        [[0.011, 0.009, 0.010, 0.001, 0.002, -0.0005], [0.021, 0.018, 0.025, -0.003, 0.004, 0.002]]
    )
    L = ref.lattice
    if kind == "B":
        vals = adp.u_to_b(U_cif)
    else:
        vals = adp.to_components(adp.ustar_to_beta(adp.ucif_to_ustar(adp.from_components(U_cif), L)))
    rows = "\n".join(
        f"{lab} " + " ".join(f"{v:.12f}" for v in row) for lab, row in zip(["Fe1", "O1"], vals, strict=True)
    )
    loop = "loop_\n_atom_site_aniso_label\n" + "\n".join(
        f"_atom_site_aniso_{kind}_{ij}" for ij in ("11", "22", "33", "12", "13", "23")
    )
    other = read_crystal(mono(aniso=loop + "\n" + rows + "\n"), text=True)
    np.testing.assert_allclose(other.U_cart, ref.U_cart, atol=1e-12)


def test_isotropic_u_and_b():
    c = read_crystal(mono(aniso=""), text=True)
    assert c.adp_status == "isotropic"
    np.testing.assert_allclose(c.U_cart[c.labels == "O1"], np.broadcast_to(0.02 * np.eye(3), (4, 3, 3)))
    b_text = mono(aniso="").replace("_atom_site_U_iso_or_equiv", "_atom_site_B_iso_or_equiv")
    cb = read_crystal(b_text, text=True)
    np.testing.assert_allclose(cb.U_eq[cb.labels == "O1"], 0.02 / (8 * np.pi**2))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100(2)", 100.0),
        ("293 K", 293.0),
        ("293(2) K", 293.0),
        ("150.0K", 150.0),
        ("-173 C", 100.15),
        ("?", None),
        ("room temperature", None),
    ],
)
def test_temperature_values(text, expected):
    assert parse_temperature(text) == (pytest.approx(expected) if expected else None)


def test_cell_measurement_temperature_is_the_fallback():
    c = read_crystal(mono(temperature="_cell_measurement_temperature '295(1) K'"), text=True)
    assert c.temperature == 295.0
    c = read_crystal(mono(temperature=""), text=True)
    assert c.temperature is None and Flag.NO_TEMPERATURE in c.flags


def test_numbers():
    assert parse_number("0.123(4)") == 0.123
    assert parse_number("3/4") == 0.75
    assert parse_number("-1/3") == pytest.approx(-1 / 3)
    assert parse_number("0.08*") == 0.08
    assert np.isnan(parse_number("?"))
    with pytest.raises(ValueError):
        parse_number("3,25")


def test_r1_and_flags():
    text = mono() + "_refine_ls_R_factor_gt 0.0345\n"
    c = read_crystal(text, text=True)
    assert c.r1 == pytest.approx(0.0345)
    assert c.flags == frozenset()  # an isotropic H atom is normal and raises no flag


def test_partial_occupancy_and_disorder_are_flags():
    text = mono().replace("O1 O 0.1234(5) 0.2345(6) 0.3456(7) 1", "O1 O 0.1234(5) 0.2345(6) 0.3456(7) 0.5")
    c = read_crystal(text, text=True)
    assert Flag.PARTIAL_OCCUPANCY in c.flags
    text = mono().replace(
        "_atom_site_U_iso_or_equiv\n", "_atom_site_U_iso_or_equiv\n_atom_site_disorder_group\n"
    )
    text = (
        text.replace(" 1 0.01\n", " 1 0.01 .\n")
        .replace(" 1 0.02\n", " 1 0.02 1\n")
        .replace(" 1 0.05\n", " 1 0.05 .\n")
    )
    c = read_crystal(text, text=True)
    assert Flag.DISORDER in c.flags
    assert set(c.disorder_group[c.labels == "O1"]) == {"1"}


def test_non_positive_definite_adp_is_flagged_not_fixed():
    bad = ANISO_U.replace("0.021 0.018 0.025", "0.021 0.018 -0.005")
    c = read_crystal(mono(aniso=bad), text=True)
    assert Flag.NON_POSITIVE_DEFINITE_ADP in c.flags
    o = c.labels == "O1"
    assert not c.adp_positive_definite[o].any()
    assert adp.ucart_to_ucif(c.U_cart[o][0], c.lattice)[2, 2] == pytest.approx(-0.005)


def test_multi_block_file():
    two = mono() + "\n" + mono().replace("data_mono", "data_second")
    crystals = read_cif(two, text=True)
    assert [c.block for c in crystals] == ["mono", "second"]
    with pytest.raises(CifError, match="2 structure blocks"):
        read_crystal(two, text=True)
    assert read_crystal(two, "second", text=True).block == "second"


def test_publication_block_without_structure_is_skipped():
    text = "data_global\n_journal_name_full 'Acta'\n" + mono()
    assert [c.block for c in read_cif(text, text=True)] == ["mono"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda t: t.replace("_cell_length_b 5.0", "_cell_length_b 0"),
            "cell lengths must be positive",
        ),
        (lambda t: t.replace("_cell_angle_beta 104.0", "_cell_angle_beta 180"), "cell angles"),
        (
            lambda t: t.replace("Fe1 Fe 0.5 0.5 0.5", "Fe1 Xq 0.5 0.5 0.5"),
            "site Fe1: unknown element symbol 'Xq'",
        ),
        (
            lambda t: t.replace("Fe1 Fe 0.5 0.5 0.5", "Fe1 Fe 0.5 ? 0.5"),
            "site Fe1: missing or NaN coordinate",
        ),
        (
            lambda t: t.replace("Fe1 Fe 0.5 0.5 0.5", "Fe1 Fe 0.5 abc 0.5"),
            "site Fe1: bad coordinate 'abc'",
        ),
        (lambda t: t.replace("_cell_length_c 9.0\n", ""), "missing _cell_length_c"),
        (
            lambda t: t.replace("Fe1 Fe 0.5 0.5 0.5 1", "Fe1 Fe 0.5 0.5 0.5 2.0"),
            "occupancy 2.0 outside",
        ),
    ],
)
def test_bad_input_gives_one_line_error_naming_block_and_problem(edit, message):
    with pytest.raises(CifError) as info:
        read_crystal(edit(mono()), text=True)
    text = str(info.value)
    assert "\n" not in text
    assert "[block mono]" in text and message in text


def test_zero_volume_cell():
    text = (
        mono()
        .replace("_cell_angle_alpha 90", "_cell_angle_alpha 60")
        .replace("_cell_angle_beta 104.0", "_cell_angle_beta 30")
        .replace("_cell_angle_gamma 90", "_cell_angle_gamma 30")
    )
    with pytest.raises(CifError, match="zero volume"):
        read_crystal(text, text=True)


def test_block_without_atoms_and_malformed_file(tmp_path):
    with pytest.raises(CifError, match=r"\[block empty\]: no atom sites"):
        read_crystal(
            "data_empty\n_cell_length_a 5\n_cell_length_b 5\n_cell_length_c 5\n"
            "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n",
            text=True,
        )
    bad = tmp_path / "broken.cif"
    bad.write_text("data_x\nloop_\n_a\n_b\n1\n")
    with pytest.raises(CifError) as info:
        read_crystal(bad)
    assert str(info.value).startswith(str(bad)) and "malformed CIF" in str(info.value)
    with pytest.raises(CifError, match="no such file"):
        read_crystal(tmp_path / "missing.cif")


def test_labels_without_type_symbols():
    text = """data_nacl
_cell_length_a 5.64
_cell_length_b 5.64
_cell_length_c 5.64
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_space_group_name_H-M_alt 'F m -3 m'
loop_
_atom_site_label
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_U_iso_or_equiv
Na1 0 0 0 0.015
Cl1 0.5 0.5 0.5 0.012
"""
    c = read_crystal(text, text=True)
    assert len(c) == 8 and c.formula == "Cl4 Na4" and c.formula_units == ("Cl Na", 4)
    assert c.space_group_number == 225 and len(c.symops) == 192
    assert "H-M symbol" in c.metadata["symmetry_from"]


def test_no_symmetry_information_is_p1_with_a_flag():
    text = (
        mono()
        .split("loop_\n_symmetry_equiv_pos_as_xyz")[0]
        .replace("_symmetry_space_group_name_H-M 'P 1 21/c 1'\n", "")
        + "loop_"
        + mono().split("loop_", 2)[2]
    )
    c = read_crystal(text, text=True)
    assert len(c) == 3 and Flag.ASSUMED_P1 in c.flags


def test_special_position_images_are_merged_and_symmetrized():
    # a site written with rounded coordinates next to a 3-fold axis of P -3
    text = """data_trig
_cell_length_a 6.0
_cell_length_b 6.0
_cell_length_c 5.0
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 120
_space_group_name_H-M_alt 'P -3'
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
Si1 Si 0.3333 0.6667 0.25
loop_
_atom_site_aniso_label
_atom_site_aniso_U_11
_atom_site_aniso_U_22
_atom_site_aniso_U_33
_atom_site_aniso_U_12
_atom_site_aniso_U_13
_atom_site_aniso_U_23
Si1 0.0102 0.0099 0.0150 0.0049 0.0003 0.0
"""
    c = read_crystal(text, text=True)
    assert len(c) == 2  # 2d Wyckoff position of P -3
    np.testing.assert_allclose(c.frac[0], [1 / 3, 2 / 3, 0.25], atol=2e-5)
    W, t = ops_to_arrays(c.symops)
    R = adp.cartesian_rotation(W, c.lattice)
    for i in range(len(c)):
        ks = site_symmetry_ops(c.frac[i], W, t, c.lattice, tol=1e-3)
        assert len(ks) == 3
        for k in ks:
            np.testing.assert_allclose(adp.rotate(c.U_cart[i], R[k]), c.U_cart[i], atol=1e-12)
    # the 3-fold axis forces U11 = U22 = 2 U12 and U13 = U23 = 0 in the CIF convention
    U = adp.ucart_to_ucif(c.U_cart[0], c.lattice)
    assert U[0, 0] == pytest.approx(U[1, 1]) and U[0, 0] == pytest.approx(2 * U[0, 1])
    assert U[0, 2] == pytest.approx(0, abs=1e-12) and U[1, 2] == pytest.approx(0, abs=1e-12)
    # averaging keeps the trace: U_eq unchanged by symmetrization
    assert c.U_eq[0] == pytest.approx(
        adp.u_equiv(
            adp.ucif_to_ucart(adp.from_components([0.0102, 0.0099, 0.0150, 0.0049, 0.0003, 0.0]), c.lattice)
        ),
        rel=1e-12,
    )


def test_real_monoclinic_cif_screw_relation():
    path = shared_or_skip(EXPERIMENTAL / "codtools" / "2003136__2003136__f79627.cif")
    c = read_crystal(path)
    assert c.space_group == "P 1 21/c 1"
    W, t = ops_to_arrays(c.symops)
    k_screw = next(
        k
        for k in range(len(W))
        if np.allclose(W[k], np.diag([-1, 1, -1])) and np.allclose(t[k], [0, 0.5, 0.5])
    )
    sign = np.array([[1, -1, 1], [-1, 1, -1], [1, -1, 1]])
    checked = 0
    for i in np.flatnonzero(c.adp_type == "Uani")[:: max(1, len(c) // 40)]:
        target = W[k_screw] @ c.frac[i] + t[k_screw]
        d = (c.frac - target + 0.5) % 1 - 0.5
        j = int(np.argmin(np.linalg.norm(d @ c.lattice, axis=1)))
        assert np.linalg.norm(d[j] @ c.lattice) < 1e-6
        Ui = adp.ucart_to_ucif(c.U_cart[i], c.lattice)
        Uj = adp.ucart_to_ucif(c.U_cart[j], c.lattice)
        np.testing.assert_allclose(Uj, sign * Ui, atol=1e-12)
        checked += 1
    assert checked >= 10


def test_symmetrize_adps_is_identity_on_consistent_data_and_repairs_noise():
    path = shared_or_skip(
        EXPERIMENTAL / "codtools" / "2003120__2003120__4e5dd6.cif"
    )  # R -3, special positions
    c = read_crystal(path)
    same = c.symmetrized_adps()
    np.testing.assert_allclose(same.U_cart, c.U_cart, atol=1e-12)
    rng = np.random.default_rng(0)
    noise = rng.normal(scale=1e-3, size=c.U_cart.shape)
    noisy = c.replace(U_cart=c.U_cart + 0.5 * (noise + np.swapaxes(noise, 1, 2)))
    fixed = noisy.symmetrized_adps()
    W, t = ops_to_arrays(c.symops)
    R = adp.cartesian_rotation(W, c.lattice)
    for i in range(len(c)):
        for k in site_symmetry_ops(c.frac[i], W, t, c.lattice):
            np.testing.assert_allclose(adp.rotate(fixed.U_cart[i], R[k]), fixed.U_cart[i], atol=1e-12)
    # closer to the true tensors than the noisy input
    assert np.abs(fixed.U_cart - c.U_cart).mean() < np.abs(noisy.U_cart - c.U_cart).mean()
