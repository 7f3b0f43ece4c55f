"""Seeded fuzzing of the command line: no traceback, crash, hang or silent absurd output.

630 files (30 of each of the 21 kinds of damage in :mod:`xtalkit.testing.cif_fuzz`)
made from the project's own example structures go through ``xtalkit info --json``
and ``xtalkit adp predict -T 150``. ``-m slow`` runs 3,150 with one subprocess per kind.
"""

from __future__ import annotations

import pytest

from xtalkit.testing.cif_fuzz import KINDS, make_corpus
from xtalkit.testing.fuzz_cli import BAD, example_sources, run_corpus


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
    # good blocks of a multi-block file are still read while the bad one is reported
    bb = [c for c in cases if c.kind == "bad_block_among_good"]
    assert all(runs["info"].outcomes[c.name] in ("ok", "refused") for c in bb)
    for outcome in BAD:
        assert sum(c[outcome] for c in counts.values()) == 0


def test_fuzzed_cifs_never_crash_the_command_line(tmp_path):
    _check(30 * len(KINDS), tmp_path, per_kind=False)


@pytest.mark.slow
def test_fuzzed_cifs_large(tmp_path):
    _check(150 * len(KINDS), tmp_path, per_kind=True)
