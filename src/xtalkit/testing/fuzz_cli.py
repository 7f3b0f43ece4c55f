"""Run the command line over a fuzzed corpus and sort every file's outcome.

Used by ``tests/test_fuzz.py`` (a few hundred files, in the default suite) and
``benchmarks/fuzz.py`` (thousands, with counts per kind of damage). Each
command runs in a subprocess, as a user would run it, so that a native crash
(a signal) or a hang (the timeout) is counted instead of taking the caller down.

Outcomes per file and command:

* ``ok``: read (``info``) or predicted and written (``adp predict``);
* ``warned``: predicted with a warning;
* ``refused``: one line in the failure list naming the file;
* ``internal``: a failure line that says ``internal error`` or ``unexpected error``
  (a bug of xtalkit, never acceptable); every file of the batch when the command
  itself stops on an internal error (``xtalkit info: internal error: …``);
* ``absurd``: an output with a predicted tensor outside the physical range that
  is not flagged (never acceptable);
* ``lost``: neither an output nor a failure line (never acceptable);
* ``crash`` / ``hang``: the whole batch died on a signal or ran past the timeout.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from xtalkit.testing.cif_fuzz import FuzzCase

#: Outcomes that must never happen.
BAD = ("internal", "absurd", "lost", "crash", "hang")


@dataclasses.dataclass
class FuzzRun:
    """Outcome of one command over a set of files.

    Attributes:
        command: ``"info"`` or ``"predict"``.
        outcomes: file name → outcome (see the module docstring).
        returncodes: return codes of the subprocesses (negative: killed by a signal; None, or
            -999 once gathered by :func:`run_corpus`: ran past the timeout).
        seconds: wall time of the subprocesses.
        crystals: file name → structures read from it (``info`` only; files with none are left out).
        failures: file name → failure lines naming it (blocks refused; files with none are left out).
    """

    command: str
    outcomes: dict[str, str]
    returncodes: list[int | None]
    seconds: float
    crystals: dict[str, int] = dataclasses.field(default_factory=dict)
    failures: dict[str, int] = dataclasses.field(default_factory=dict)

    def counts(self, cases: list[FuzzCase]) -> dict[str, collections.Counter]:
        """Outcome counts per kind of damage."""
        kind = {c.name: c.kind for c in cases}
        out: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        for name, outcome in self.outcomes.items():
            out[kind[name]][outcome] += 1
        return dict(out)

    def bad(self) -> dict[str, str]:
        """Files with an outcome that must never happen."""
        return {n: o for n, o in self.outcomes.items() if o in BAD}


def example_sources() -> dict[str, str]:
    """CIF texts to damage: the shipped examples, and urea with symmetry operations and an aniso loop."""
    from xtalkit.crystal.cif import read_crystal, to_cif_string
    from xtalkit.examples import path as example_path

    urea = read_crystal(example_path("urea"))
    U = np.tile(0.02 * np.eye(3), (len(urea), 1, 1))
    return {
        "urea": example_path("urea").read_text(),
        "rutile": example_path("rutile").read_text(),
        "urea_aniso": to_cif_string(urea.with_adps(U), symmetry="original"),
    }


def _cli(args: list[str], timeout: float) -> tuple[int | None, str, str, float]:
    import time

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    try:
        r = subprocess.run(
            [sys.executable, "-m", "xtalkit.cli.main", *args],
            capture_output=True, text=True, timeout=timeout, env=env, errors="replace",
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        return None, "", err, time.perf_counter() - t0
    return r.returncode, r.stdout, r.stderr, time.perf_counter() - t0


def _failure_lines(stderr: str) -> list[str]:
    return [ln.strip() for ln in stderr.splitlines() if ln.startswith("  ")]


def _stopped_on_a_bug(stderr: str) -> bool:
    """Whether the command itself ended on an internal error (``xtalkit …: internal error: …``, no indent)."""
    return any(ln.startswith("xtalkit ") and ": internal error" in ln for ln in stderr.splitlines())


def _failures(names: list[str], directory: Path, stderr: str) -> tuple[dict[str, str], dict[str, int]]:
    """Outcome (``refused`` or ``internal``) and number of failure lines of each file that has any."""
    lines = _failure_lines(stderr)
    outcomes, counts = {}, {}
    for name in names:
        path = str(directory / name)
        mine = [ln for ln in lines if ln.startswith((f"{path} ", f"{path}:"))]
        if mine:
            internal = any("internal error" in ln or "unexpected error" in ln for ln in mine)
            outcomes[name] = "internal" if internal else "refused"
            counts[name] = len(mine)
    return outcomes, counts


def _died(command: str, names: list[str], rc: int | None, stderr: str, sec: float) -> FuzzRun | None:
    """The run of a batch that died (signal, timeout) or stopped on a bug of xtalkit, else None."""
    if rc is None or rc < 0 or rc not in (0, 1):
        return FuzzRun(command, {n: "hang" if rc is None else "crash" for n in names}, [rc], sec)
    if _stopped_on_a_bug(stderr):  # every file of the batch: none got its turn, or all are suspect
        return FuzzRun(command, dict.fromkeys(names, "internal"), [rc], sec)
    return None


def run_info(directory: Path, names: list[str], timeout: float) -> FuzzRun:
    """``xtalkit info --json`` over ``names`` in ``directory``: outcomes, crystals read and failure lines."""
    rc, stdout, stderr, sec = _cli(["info", "--json", *[str(directory / n) for n in names]], timeout)
    died = _died("info", names, rc, stderr, sec)
    if died is not None:
        return died
    outcomes, failures = _failures(names, directory, stderr)
    try:
        doc = json.loads(stdout)
    except json.JSONDecodeError:  # no document (the command refused the whole batch): nothing read
        doc = {}
    read = collections.Counter(Path(c["source"]).name for c in doc.get("crystals", []))
    for n in names:
        if read[n] and n not in outcomes:
            outcomes[n] = "ok"
        outcomes.setdefault(n, "lost")
    crystals = {n: read[n] for n in names if read[n]}
    return FuzzRun("info", outcomes, [rc], sec, crystals=crystals, failures=failures)


def run_predict(
    directory: Path, names: list[str], out: Path, timeout: float, temperature: float = 150.0
) -> FuzzRun:
    """``xtalkit adp predict -T 150 --format json`` over ``names``; outputs checked for absurd values."""
    from xtalkit.crystal.adp import implausible

    args = ["adp", "predict", "-T", f"{temperature:g}", "--format", "json", "-o", str(out)]
    rc, _stdout, stderr, sec = _cli([*args, *[str(directory / n) for n in names]], timeout)
    died = _died("predict", names, rc, stderr, sec)
    if died is not None:
        return died
    outcomes, failures = _failures(names, directory, stderr)
    warned = {ln.split(" [block")[0] for ln in stderr.splitlines() if ": warning: " in ln}
    for n in names:
        docs = sorted(out.glob(f"{Path(n).stem}*_adp.json"))
        if not docs:
            outcomes.setdefault(n, "lost")
            continue
        absurd = False
        for doc in docs:
            for atom in json.loads(doc.read_text())["atoms"]:
                if atom["source"] == "predicted" and atom["flag"] != "implausible":
                    U = (
                        np.array(atom["U_cart"], float)
                        if atom["U_cart"] is not None
                        else np.full((3, 3), 1e9)
                    )
                    absurd |= bool(implausible(U)) or not np.isfinite(U).all()
        if absurd:
            outcomes[n] = "absurd"
        elif n not in outcomes:
            outcomes[n] = "warned" if str(directory / n) in warned else "ok"
    return FuzzRun("predict", outcomes, [rc], sec, failures=failures)


def run_corpus(
    cases: list[FuzzCase], work: Path, *, commands: tuple[str, ...] = ("info", "predict"),
    per_kind: bool = False, timeout: float = 600.0,
) -> dict[str, FuzzRun]:  # fmt: skip
    """Write the corpus under ``work`` and run each command over it.

    Args:
        cases: the fuzzed files.
        work: an empty directory.
        commands: ``"info"`` and/or ``"predict"``.
        per_kind: one subprocess per kind of damage (a crash then costs only that kind's
            files and is attributed to it), else one for all files.
        timeout: seconds per subprocess before it counts as a hang.
    """
    from xtalkit.testing.cif_fuzz import write_corpus

    inp = work / "in"
    write_corpus(cases, inp)
    groups: dict[str, list[str]] = collections.defaultdict(list)
    for c in cases:
        groups[c.kind if per_kind else "all"].append(c.name)
    runs = {}
    for command in commands:
        total = FuzzRun(command, {}, [], 0.0)
        for key, names in groups.items():
            if command == "info":
                part = run_info(inp, names, timeout)
            else:
                part = run_predict(inp, names, work / f"out_{key}", timeout)
            total.outcomes.update(part.outcomes)
            total.crystals.update(part.crystals)
            total.failures.update(part.failures)
            total.returncodes += [rc if rc is not None else -999 for rc in part.returncodes]
            total.seconds += part.seconds
        runs[command] = total
    return runs
