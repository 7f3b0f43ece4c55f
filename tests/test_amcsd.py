"""AMCSD entries from the larixite wheel go through the same CIF reader."""

import collections
import itertools

import numpy as np
import pytest

from xtalkit import CifError, Flag
from xtalkit.crystal import adp

amcsd = pytest.importorskip("xtalkit.data.amcsd")


@pytest.fixture(scope="module")
def first_1500():
    try:
        amcsd.default_database()
    except Exception as exc:
        pytest.skip(str(exc))
    return list(itertools.islice(amcsd.iter_amcsd(), 1500))


def test_at_least_1000_entries_parse(first_1500):
    ok = [c for _, c in first_1500 if not isinstance(c, CifError)]
    failed = [str(c) for _, c in first_1500 if isinstance(c, CifError)]
    assert len(ok) >= 1000
    assert len(failed) <= 5, failed
    for msg in failed:
        assert msg.startswith("amcsd:") and "\n" not in msg
    kinds = collections.Counter(f for c in ok for f in c.flags)
    assert kinds[Flag.NO_TEMPERATURE] == len(ok)  # AMCSD records no temperature


def test_anisotropic_entries_are_consistent(first_1500):
    n = 0
    for _, c in first_1500:
        if isinstance(c, CifError) or c.adp_status != "anisotropic":
            continue
        bad = c.has_adp & ~c.adp_positive_definite
        assert bad.any() == (Flag.NON_POSITIVE_DEFINITE_ADP in c.flags)
        assert np.isfinite(c.U_cart[c.adp_type == "Uani"]).all()
        assert not np.isfinite(c.U_cart[c.adp_type == ""]).any()
        n += 1
    assert n > 100


def test_decoding_matches_hand_encoded_values():
    import base64

    values = np.array([0.25, -0.125, 2.0, 3.0])  # 2 and 3 are the codes for '?' and '.'
    blob = base64.b64encode((values * 4e6).astype(np.int32).tobytes()).decode()
    assert amcsd._decode(blob) == ["0.2500000", "-0.1250000", "?", "."]


def test_entry_to_cif_round_trip():
    row = (
        7,
        "Na Cl",
        "Halite at room temperature",
        "5.64",
        "5.64",
        "5.64",
        "90",
        "90",
        "90",
        '["Na", "Cl"]',
        *(amcsd_blob(v) for v in ([0, 0.5], [0, 0.5], [0, 0.5], [1, 1], [0.015, 0.012])),
        '["Na", "Cl"]',
        *(amcsd_blob(v) for v in ([0.015, 0.012], [0.015, 0.012], [0.015, 0.012], [0, 0], [0, 0], [0, 0])),
        "F m -3 m",
        '["x,y,z", "-x,-y,-z"]',
        "Halite",
    )
    from xtalkit import read_crystal

    c = read_crystal(amcsd.entry_to_cif(row), text=True)
    # only the two listed operations are given; they close into the group {1, -1}
    assert len(c) == 2 and c.formula == "Cl Na"
    np.testing.assert_allclose(adp.u_equiv(c.U_cart), [0.015, 0.012])


def amcsd_blob(values):
    import base64

    return base64.b64encode((np.asarray(values, float) * 4e6).round().astype(np.int32).tobytes()).decode()


@pytest.mark.slow  # ~80 s
def test_whole_database():
    results = list(amcsd.iter_amcsd())
    failed = [str(c) for _, c in results if isinstance(c, CifError)]
    assert len(results) == 9275
    # the two failures write a decimal comma in a cell length ("3,2518")
    assert len(failed) <= 2 and all("not a number" in f for f in failed), failed
