"""Batches that never die, options checked at parse time, refusals and flags instead of nonsense.

The batch tests run the real command line in a subprocess, as a user would, so
that a native crash or a hang would show as a failed test rather than take
pytest down.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from xtalkit.cli.main import main
from xtalkit.crystal.cif import read_crystal, to_cif_string
from xtalkit.examples import path as example_path

CLI = [sys.executable, "-m", "xtalkit.cli.main"]


def _run(args: list[str], timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(CLI + args, capture_output=True, text=True, timeout=timeout, env=env, **kw)


def _corpus(directory: Path, n_good: int, bad: dict[str, str | bytes]) -> list[str]:
    """``n_good`` copies of urea (distinct names) and the ``bad`` files; returns the good stems."""
    directory.mkdir(parents=True, exist_ok=True)
    urea = example_path("urea").read_text()
    stems = []
    for k in range(n_good):
        stem = f"good_{k:04d}"
        (directory / f"{stem}.cif").write_text(urea.replace("data_urea", f"data_{stem}"))
        stems.append(stem)
    for name, text in bad.items():
        (directory / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    # a Windows-1252 byte in a text field is read (with a note), as old programs write them
    (directory / "good_cp1252.cif").write_bytes(
        urea.replace("data_urea", "data_cp1252\n_publ_section_title 'caf\xe9 \x93'").encode("latin-1")
    )
    return [*stems, "good_cp1252"]


def _bad_files() -> dict[str, str | bytes]:
    """Files that used to raise, crash or hang (issue 13), each named for its damage."""
    urea = example_path("urea").read_text()
    c = read_crystal(example_path("urea"))
    sym = to_cif_string(c, symmetry="original")
    a = f"{c.cell_parameters[0]:.8f}"
    c1 = next(line for line in sym.splitlines() if line.startswith("C1 C "))  # a row of the atom loop
    return {
        "singular_op.cif": sym.replace("-x,-y,z", "x,x,x", 1),
        "zero_op.cif": sym.replace("-x,-y,z", "0,0,0", 1),
        "tiny_c.cif": urea.replace("_cell_length_c", "_cell_length_c 1e-300\n_x_old_c"),
        "thin_cell.cif": urea.replace("_cell_length_c", "_cell_length_c 1e-4\n_x_old_c"),
        "huge_cell.cif": sym.replace(f"_cell_length_a {a}", "_cell_length_a 1000").replace(
            "_cell_length_c", "_cell_length_c 22827\n_x_old_c"
        ),
        "non_utf8_label.cif": urea.replace("C1 C", "C1\x93 C", 1).encode("latin-1"),
        "empty.cif": "",
        "garbage.cif": "\x00\x01 not a cif at all",
        "stacked.cif": sym.replace(c1, f"{c1}\nC1s{c1[2:]}", 1),  # C1 listed twice, under a new label
        "unknown_element.cif": urea.replace(" C ", " Xx ", 1),
    }


#: Bad files that are readable structures: only a prediction refuses them (stacked atoms).
PREDICT_ONLY = ("stacked.cif",)


@pytest.fixture(scope="module")
def batch_dir(tmp_path_factory) -> tuple[Path, list[str], list[str]]:
    d = tmp_path_factory.mktemp("batch") / "in"
    bad = _bad_files()
    good = _corpus(d, 40, bad)
    return d, good, sorted(bad)


def test_corrupt_files_in_a_batch_are_listed_and_the_rest_written(batch_dir, tmp_path):
    d, good, bad = batch_dir
    out = tmp_path / "out"
    r = _run(["adp", "predict", str(d), "-o", str(out), "-T", "150"])
    assert r.returncode == 1, r.stderr[-2000:]
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    written = sorted(p.name for p in out.glob("*.cif"))
    assert written == [f"{s}_adp.cif" for s in good]  # every good file, nothing else
    failures = [ln.strip() for ln in r.stderr.splitlines() if ln.startswith("  ")]
    for name in bad:
        lines = [ln for ln in failures if name in ln]
        assert len(lines) >= 1, (name, r.stderr[-3000:])
    # the stacked rows are read, and refused by the predictor's own check, with both labels
    (stacked,) = [ln for ln in failures if "stacked.cif" in ln]
    assert "atoms C1 and C1s are 0.00 Å apart" in stacked and "duplicated atoms; not predicted" in stacked
    assert f"of {len(good) + len(bad)} inputs failed" in r.stderr
    assert not list(out.glob("*.tmp*")) and not list(out.glob(".*"))


def test_info_reports_every_file_once(batch_dir):
    d, good, bad = batch_dir
    r = _run(["info", "--json", str(d)])
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    assert len(doc["crystals"]) == len(good) + len(PREDICT_ONLY)
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr
    for name in bad:
        assert any(name in e for e in doc["errors"]) == (name not in PREDICT_ONLY), name


def test_sigint_prints_what_was_finished(tmp_path):
    d = tmp_path / "in"
    _corpus(d, 300, {})
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [*CLI, "adp", "predict", str(d), "-o", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    first = proc.stdout.readline()  # the first output is written: the batch streams
    assert first.strip().endswith("_adp.cif")
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130, stderr[-2000:]
    assert "interrupted:" in stderr and "files finished" in stderr
    n_written = int(stderr.split("files finished, ")[1].split(" outputs")[0])
    assert len(list(out.glob("*.cif"))) == n_written >= 1
    assert n_written < 300


@pytest.mark.parametrize(
    "argv, message",
    [
        (["adp", "plot", "x.cif", "-o", "f.png", "--probability", "1.5"], "strictly between 0 and 1"),
        (["adp", "temperature-scan", "x.cif", "-o", "s.png", "--step", "0"], "must be positive"),
        (
            ["adp", "temperature-scan", "x.cif", "-o", "s.png", "--from", "400", "--to", "50"],
            "is above the end",
        ),
        (["adp", "predict", "x.cif", "--average-rotations", "-3"], "zero or positive"),
        (["adp", "predict", "x.cif", "-T", "nan"], "not a finite number"),
        (["adp", "predict", "x.cif", "-T", "-5"], "temperature must lie"),
        (["adp", "predict", "x.cif", "-o", "out.json"], "does not match --format cif"),
        (["adp", "plot", "x.cif", "-o", "fig.txt"], "needs one of .png"),
        (["property", "predict", "x.cif", "--model", "band-gap", "-o", "p.json"], "needs one of .csv"),
        (["csp", "predict", "NaCl", "-o", "o", "--space-group", "231"], "from 1 to 230"),
        (["csp", "predict", "NaCl", "-o", "o", "--pyxtal-share", "2"], "[0, 1]"),
    ],
)
def test_bad_options_are_one_line_errors(argv, message, capsys):
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse's own exit
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err
    assert "Traceback" not in err


def test_unwritable_output_is_refused_before_work(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    rc = main(["adp", "predict", "--example", "-o", str(blocker / "out")])
    assert rc == 2
    assert "is a file, not a directory" in capsys.readouterr().err


def test_temperature_override_makes_hydrogens_ride(tmp_path):
    """With -T, H values measured at the file's temperature are not mixed in: they ride, and we say so."""
    from xtalkit.adp.predict import ADPPredictor

    c = read_crystal(example_path("urea"))
    H = c.is_hydrogen
    U = np.where(H[:, None, None], 0.05 * np.eye(3), np.nan)
    c = c.with_adps(U, np.where(H, "Uiso", ""))
    predictor = ADPPredictor()
    same = predictor.predict(c)
    assert set(same.source[H]) == {"input"}
    other = predictor.predict(c, 300.0)
    assert set(other.source[H]) == {"riding"}
    assert any("ride on their parents" in w and "123 K" in w for w in other.warnings)
    parents = other.crystal.U_eq[H]
    assert np.all((parents > 0) & (np.abs(parents - 0.05) > 1e-6))


@pytest.mark.slow
def test_thousand_files_five_percent_corrupt(tmp_path):
    """Issue 13's acceptance run: 950 good outputs, the 50 bad files listed, exit status 1."""
    bad = {f"{k}_{name}": text for k in range(5) for name, text in _bad_files().items()}
    assert len(bad) == 50
    d = tmp_path / "in"
    good = _corpus(d, 949, bad)  # + the Windows-1252 file = 950 good
    out = tmp_path / "out"
    r = _run(["adp", "predict", str(d), "-o", str(out)], timeout=3600)
    assert r.returncode == 1
    assert len(list(out.glob("*_adp.cif"))) == len(good) == 950
    failures = [ln for ln in r.stderr.splitlines() if ln.startswith("  ")]
    assert len(failures) == 50 and "50 of 1000 inputs failed" in r.stderr
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr


def test_check_and_property_batches_go_on_past_bad_files(tmp_path, capsys):
    bad = _bad_files()
    d = tmp_path / "in"
    good = _corpus(d, 3, bad)
    assert main(["adp", "check", "--no-model", "--json", str(d)]) == 1
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    readable = len(good) + len(PREDICT_ONLY)  # stacked atoms are a structure to check, not to predict
    assert len(doc["reports"]) == readable and len(doc["errors"]) == len(bad) - len(PREDICT_ONLY)
    assert "internal error" not in captured.err
    csv_out = tmp_path / "ef.csv"
    assert (
        main(["property", "predict", "--model", "formation-energy", str(d), "-o", str(csv_out), "--quiet"])
        == 1
    )
    err = capsys.readouterr().err
    rows = csv_out.read_text().strip().splitlines()
    assert len(rows) == 1 + readable  # header + one row per readable file
    failed = len(bad) - len(PREDICT_ONLY)
    assert f"{failed} of {len(good) + len(bad)} inputs failed" in err and "internal error" not in err
