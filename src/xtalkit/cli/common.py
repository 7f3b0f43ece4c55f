"""Helpers shared by the subcommands: input expansion, progress, failure reports."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from tqdm import tqdm

CIF_SUFFIXES = (".cif", ".mcif")


def expand_inputs(items: Iterable[str]) -> tuple[list[Path], list[str]]:
    """Files named directly, plus the CIFs found (recursively) in named directories.

    Returns:
        ``(files, problems)``: the files in a stable order, and one-line messages
        for arguments that are neither a file nor a directory.
    """
    files: list[Path] = []
    problems: list[str] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.suffix.lower() in CIF_SUFFIXES and q.is_file())
            if not found:
                problems.append(f"{p}: directory contains no .cif files")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            problems.append(f"{p}: no such file or directory")
    return files, problems


@dataclasses.dataclass
class FailureReport:
    """Collects one-line failures of a batch run and prints them at the end."""

    failures: list[str] = dataclasses.field(default_factory=list)
    total: int = 0

    def add(self, message: str) -> None:
        """Record one failure (whitespace collapsed to keep it on one line)."""
        self.failures.append(" ".join(str(message).split()))

    def print(self, what: str = "inputs") -> None:
        """Print the failures to stderr, if any, after the results."""
        if not self.failures:
            return
        print(f"\n{len(self.failures)} of {self.total} {what} failed:", file=sys.stderr)
        for msg in self.failures:
            print(f"  {msg}", file=sys.stderr)

    @property
    def exit_code(self) -> int:
        """1 if anything failed, else 0."""
        return 1 if self.failures else 0


def read_blocks(items: Iterable[str]) -> tuple[list[tuple[Path, str, object, int]], FailureReport]:
    """Every data block of every CIF named or found in ``items``.

    Returns:
        ``(blocks, report)``: ``(path, block name, Crystal or CrystalError, blocks in the file)`` per
        block, and a :class:`FailureReport` already holding the bad arguments and unreadable files.
    """
    files, problems = expand_inputs(items)
    report = FailureReport(total=len(files) + len(problems))
    for msg in problems:
        report.add(msg)
    blocks = []
    for path in files:
        results = read_file_blocks(path, report)
        blocks += [(path, block, result, len(results)) for block, result in results]
    return blocks, report


def read_file_blocks(path: Path, report: FailureReport) -> list[tuple[str, object]]:
    """``(block name, Crystal or CrystalError)`` per block of one CIF; unreadable files go to ``report``."""
    from xtalkit.crystal.cif import iter_cif
    from xtalkit.errors import CrystalError

    try:
        return list(iter_cif(path))
    except CrystalError as exc:
        report.add(str(exc))
        return []


def progress(items: list, desc: str, *, enabled: bool | None = None) -> Iterator:
    """A tqdm progress bar on stderr, shown for more than a few items on a terminal."""
    if enabled is None:
        enabled = len(items) > 3 and sys.stderr.isatty()
    return iter(tqdm(items, desc=desc, unit="file", disable=not enabled, file=sys.stderr))
