"""Seeded fuzzing of the command line: no traceback, crash, hang or silent absurd output.

630 files (30 of each of the 21 kinds of damage in :mod:`xtalkit.testing.cif_fuzz`)
made from the project's own example structures go through ``xtalkit info --json``
and ``xtalkit adp predict -T 150``. ``-m slow`` runs 3,150 with one subprocess per kind.
"""

from __future__ import annotations

import json
from pathlib import Path

import gemmi
import pytest

from xtalkit.testing import fuzz_cli
from xtalkit.testing.cif_fuzz import KINDS, make_corpus
from xtalkit.testing.fuzz_cli import example_sources, run_corpus


def _check(n: int, tmp_path, per_kind: bool) -> None:
    cases = make_corpus(example_sources(), n, seed=13)
    runs = run_corpus(cases, tmp_path, per_kind=per_kind, timeout=900)
    for command, run in runs.items():
        assert len(run.outcomes) == n
        bad = run.bad()
        assert not bad, f"{command}: {len(bad)} files {sorted(set(bad.values()))}: {sorted(bad.items())[:10]}"
        assert all(rc in (0, 1) for rc in run.returncodes)
    # the damage is seen: every kind is refused at least once by the reader, except kinds
    # that may leave a readable structure
    counts = runs["info"].counts(cases)
    assert set(counts) == set(KINDS)
    for kind in ("empty", "garbage_bytes", "cell_nan", "cell_inf", "cell_tiny", "symop_garbage"):
        assert counts[kind]["refused"] == n // len(KINDS), (kind, counts[kind])
    # good blocks of a multi-block file are still read while the bad one is reported: every block
    # is either a crystal or one failure line, and at most one block (the damaged one) fails
    info = runs["info"]
    bb = [c for c in cases if c.kind == "bad_block_among_good"]
    refused = 0
    for c in bb:
        blocks = len(gemmi.cif.read_string(c.data.decode()))
        read, failed = info.crystals.get(c.name, 0), info.failures.get(c.name, 0)
        assert failed <= 1 and read + failed == blocks, (c.name, blocks, read, failed)
        if failed:
            assert read == blocks - 1 and info.outcomes[c.name] == "refused"
        refused += failed
    assert refused >= len(bb) // 4  # the damage often leaves a readable block; not always


def test_fuzzed_cifs_never_crash_the_command_line(tmp_path):
    _check(30 * len(KINDS), tmp_path, per_kind=False)


@pytest.mark.slow
def test_fuzzed_cifs_large(tmp_path):
    _check(150 * len(KINDS), tmp_path, per_kind=True)


@pytest.mark.parametrize("command", ["info", "predict"])
def test_a_command_that_stops_on_a_bug_counts_as_internal(command, tmp_path, monkeypatch):
    """`xtalkit …: internal error` at the top level: exit 1, no JSON, no indented failure line."""
    stderr = f"xtalkit {command}: internal error: ValueError: boom (rerun with --debug for the traceback)\n"
    monkeypatch.setattr(fuzz_cli, "_cli", lambda args, timeout: (1, "", stderr, 0.1))
    names = ["0000_truncate_urea.cif", "0001_empty_rutile.cif"]
    if command == "info":
        run = fuzz_cli.run_info(tmp_path, names, timeout=10)
    else:
        run = fuzz_cli.run_predict(tmp_path, names, tmp_path / "out", timeout=10)
    assert run.outcomes == dict.fromkeys(names, "internal") and run.bad() == run.outcomes
    # a refusal of the whole batch (not a bug) leaves no JSON either: the files are lost, not a crash
    # of the harness
    monkeypatch.setattr(
        fuzz_cli, "_cli", lambda args, timeout: (1, "", f"xtalkit {command}: no input\n", 0.1)
    )
    quiet = fuzz_cli.run_info(tmp_path, names, 10) if command == "info" else fuzz_cli.run_predict(
        tmp_path, names, tmp_path / "out", 10)  # fmt: skip
    assert quiet.outcomes == dict.fromkeys(names, "lost")


def test_failure_lines_and_crystals_are_counted_per_file(tmp_path, monkeypatch):
    d = Path(tmp_path)
    stdout = json.dumps(
        {"crystals": [{"source": str(d / n)} for n in ("a.cif", "a.cif", "b.cif")], "errors": []}
    )
    stderr = (f"\n1 of 3 inputs failed:\n  {d / 'a.cif'} [block x_3]: cell is too thin\n"
              f"  {d / 'c.cif'}: malformed CIF: line 2: oops\n")  # fmt: skip
    monkeypatch.setattr(fuzz_cli, "_cli", lambda args, timeout: (1, stdout, stderr, 0.1))
    run = fuzz_cli.run_info(d, ["a.cif", "b.cif", "c.cif", "d.cif"], timeout=10)
    assert run.crystals == {"a.cif": 2, "b.cif": 1}
    assert run.failures == {"a.cif": 1, "c.cif": 1}
    assert run.outcomes == {"a.cif": "refused", "b.cif": "ok", "c.cif": "refused", "d.cif": "lost"}
