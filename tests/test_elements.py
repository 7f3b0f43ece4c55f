"""Element symbols and the packaged element table."""

import subprocess
import sys

import numpy as np
import pytest

from xtalkit.elements import (
    ALPHACRYSTAL_FEATURES,
    SITENET_FEATURES,
    alphacrystal_features,
    atomic_number,
    element_table,
    parse_element,
    sitenet_features,
    symbol,
)

from conftest import REPO


@pytest.mark.parametrize(
    ("text", "is_label", "upper", "z"),
    [
        ("Fe3+", False, False, 26),
        ("O2-", False, False, 8),
        ("OH-", False, False, 8),
        ("Cl", False, False, 17),
        ("CL", False, False, 17),
        ("D", False, False, 1),
        ("C12", True, False, 6),
        ("Cl1", True, False, 17),
        ("H1A", True, False, 1),
        ("CA1", True, False, 6),
        ("CA1", True, True, 20),
        ("ZN1", True, False, 30),
        ("O-H", True, False, 8),
        ("Si1", True, False, 14),
    ],
)
def test_parse_element(text, is_label, upper, z):
    assert parse_element(text, is_label=is_label, uppercase_labels=upper) == z


def test_unknown_symbols():
    for bad in ("Xx", "Q1", "123", ""):
        with pytest.raises(ValueError):
            parse_element(bad, is_label=True)
    with pytest.raises(ValueError):
        atomic_number("Og")  # Z = 118, beyond the supported 1-103
    assert symbol(103) == "Lr" and atomic_number("lr") == 103


def test_table_is_complete_for_z_1_to_103():
    t = element_table()
    for name in set(ALPHACRYSTAL_FEATURES) | set(SITENET_FEATURES):
        assert np.isfinite(t[name][1:]).all(), name
        assert np.isnan(t[name][0])
    np.testing.assert_array_equal(t["Z"][1:], np.arange(1, 104))


def test_hand_checked_values():
    f = dict(zip(ALPHACRYSTAL_FEATURES, alphacrystal_features([8, 26])[0], strict=True))
    assert f["Z"] == 8 and f["row"] == 2 and f["group"] == 16
    assert f["en_pauling"] == pytest.approx(3.44)
    assert f["ionization_energy"] == pytest.approx(13.618, abs=1e-3)
    assert f["unpaired_electrons"] == 2
    fe = dict(zip(ALPHACRYSTAL_FEATURES, alphacrystal_features([26])[0], strict=True))
    assert fe["unpaired_electrons"] == 4 and fe["group"] == 8 and fe["row"] == 4
    s = dict(zip(SITENET_FEATURES, sitenet_features([14])[0], strict=True))
    assert s["atomic_weight"] == pytest.approx(28.0855, abs=1e-3)
    assert s["density"] == pytest.approx(2.33, abs=0.01)  # g/cm³


def test_missing_value_rule_is_recorded():
    t = element_table()
    # noble gases: heat of formation of the gaseous atom is 0 by definition, not filled
    assert t["heat_of_formation"][2] == 0.0 and "heat_of_formation" not in t["filled"][2]
    # Lr's average ionic radius is missing in pymatgen: copied from Lu, its column partner
    assert "average_ionic_radius=column:Lu" in t["filled"][103]
    assert t["average_ionic_radius"][103] == t["average_ionic_radius"][71]


def test_features_reject_out_of_range():
    with pytest.raises(ValueError):
        sitenet_features([0])
    with pytest.raises(ValueError):
        alphacrystal_features([104])


@pytest.mark.slow  # ~30 s: mendeleev builds every element object
def test_packaged_table_is_what_the_script_generates():
    pytest.importorskip("mendeleev")
    r = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "build_element_table.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
