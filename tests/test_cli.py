"""The xtalkit command line (run in-process through main())."""

import json

import pytest

from xtalkit.cli.main import main
from xtalkit.examples import path as example_path

from conftest import EXPERIMENTAL


def test_info_example(capsys):
    assert main(["info", "--example"]) == 0
    out = capsys.readouterr().out
    assert "rutile" in out and "P 42/m n m (No. 136)" in out and "O2 Ti (Z = 2)" in out
    assert "temperature  295 K" in out and "anisotropic" in out


def test_info_json_has_per_site_tensors(capsys):
    assert main(["info", "--json", str(example_path("rutile"))]) == 0
    doc = json.loads(capsys.readouterr().out)
    (c,) = doc["crystals"]
    assert c["n_sites"] == 6 and c["space_group_number"] == 136 and doc["errors"] == []
    site = c["sites"][0]
    assert set(site) >= {"label", "element", "cart", "U_cart", "U_eq"}
    assert abs(site["U_eq"] - sum(site["U_cart"][i][i] for i in range(3)) / 3) < 1e-12


def test_info_batch_reports_bad_files_and_finishes_the_rest(tmp_path, capsys):
    bad = tmp_path / "bad.cif"
    bad.write_text("data_bad\n_cell_length_a 5\n")
    broken = tmp_path / "broken.cif"
    broken.write_text("data_x\nloop_\n_a\n_b\n1\n")
    code = main(
        [
            "info",
            str(example_path("rutile")),
            str(bad),
            str(tmp_path / "nope.cif"),
            str(broken),
            str(example_path("urea")),
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert "rutile" in captured.out and "urea" in captured.out
    err = captured.err.strip().splitlines()
    assert "3 of 5 inputs failed:" in err[0]
    assert any("bad.cif [block bad]: missing _cell_length_b" in line for line in err)
    assert any("nope.cif: no such file or directory" in line for line in err)
    assert any("broken.cif: malformed CIF" in line for line in err)
    assert "Traceback" not in captured.err


def test_info_directory(capsys):
    if not EXPERIMENTAL.exists():
        pytest.skip("shared data not available")
    code = main(["info", "--json", str(EXPERIMENTAL / "crystals")])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and len(doc["crystals"]) == 7


def test_no_input_is_a_usage_error(capsys):
    assert main(["info"]) == 2
    assert "give CIF files" in capsys.readouterr().err
