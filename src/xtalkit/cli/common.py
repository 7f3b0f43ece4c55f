"""Helpers shared by the subcommands: input expansion, progress, failure reports, batches.

A batch command (``info``, ``adp predict``, ``adp check``, ``property predict``)
runs through :class:`Batch`: files are read, processed and written one at a
time, with the progress bar moving from the first file; a file that raises
anything is one line in the failure list and the batch goes on; SIGINT or
SIGTERM stops it with a summary of what was finished.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import sys
import threading
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


@dataclasses.dataclass
class Job:
    """One structure of a batch: the file, the data block, the crystal and how many blocks the file has."""

    path: Path
    block: str
    crystal: object
    n_blocks: int

    @property
    def where(self) -> str:
        """``file [block name]`` for messages."""
        return f"{self.path} [block {self.block}]"


class Batch:
    """Files (and directories of CIFs) processed one structure at a time.

    Args:
        items: file and directory names from the command line.
        desc: label of the progress bar.
        debug: let unexpected exceptions through (``xtalkit --debug``).
        show_progress: force the progress bar on or off (default: on a terminal, > 3 files).

    Usage::

        batch = Batch(args.files, "predict", debug=args.debug)
        with batch.session():
            for job in batch.jobs():
                with batch.guard(job):
                    ...  # predict, write, batch.wrote(path)
        return batch.finish()
    """

    def __init__(self, items: Iterable[str], desc: str, *, debug: bool = False,
                 show_progress: bool | None = None):  # fmt: skip
        self.files, problems = expand_inputs(items)
        self.report = FailureReport(total=len(self.files) + len(problems))
        for msg in problems:
            self.report.add(msg)
        self.desc = desc
        self.debug = debug
        self.show_progress = show_progress
        self.started = 0
        self.finished = 0
        self.outputs = 0
        self.interrupted = False

    def jobs(self) -> Iterator[Job]:
        """Every readable structure block, file by file; unreadable ones go to the failure list."""
        from xtalkit.crystal.cif import iter_cif
        from xtalkit.errors import CrystalError

        enabled = self.show_progress
        if enabled is None:
            enabled = len(self.files) > 3 and sys.stderr.isatty()
        with tqdm(
            total=len(self.files), desc=self.desc, unit="file", disable=not enabled, file=sys.stderr
        ) as bar:
            for path in self.files:
                self.started += 1
                try:
                    results = list(iter_cif(path))
                except CrystalError as exc:
                    self.report.add(str(exc))
                    results = []
                except Exception as exc:
                    self._unexpected(str(path), exc)
                    results = []
                for block, result in results:
                    if isinstance(result, CrystalError):
                        self.report.add(str(result))
                    else:
                        yield Job(path, block, result, len(results))
                self.finished += 1
                bar.update(1)

    @contextlib.contextmanager
    def guard(self, job: Job | str) -> Iterator[None]:
        """Turn any exception of one structure into a line of the failure list (not KeyboardInterrupt)."""
        from xtalkit.errors import CrystalError, XtalkitError

        where = job.where if isinstance(job, Job) else str(job)
        try:
            yield
        except CrystalError as exc:
            self.report.add(str(exc) if exc.source else f"{where}: {exc.problem}")
        except XtalkitError as exc:
            self.report.add(f"{where}: {exc}")
        except OSError as exc:  # an output that cannot be written, a full disk
            name = f": {exc.filename}" if exc.filename else ""
            self.report.add(f"{where}: {exc.strerror or exc}{name}")
        except Exception as exc:
            self._unexpected(where, exc)

    def _unexpected(self, where: str, exc: Exception) -> None:
        if self.debug:
            raise exc
        msg = " ".join(str(exc).split())[:200]
        self.report.add(f"{where}: internal error ({type(exc).__name__}: {msg}); rerun with --debug")

    def wrote(self, path: object) -> None:
        """Count one structure finished with its output (a file written, or a record printed)."""
        self.outputs += 1

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """Run the batch: SIGTERM acts like Ctrl-C, and either stops it with a summary."""
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            yield
        except KeyboardInterrupt:
            self.interrupted = True
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    def finish(self, what: str = "inputs") -> int:
        """Print the failure list (and, if interrupted, what was finished); return the exit status."""
        self.report.print(what)
        if self.interrupted:
            print(
                f"\ninterrupted: {self.finished} of {len(self.files)} files finished, "
                f"{self.outputs} outputs written, {len(self.report.failures)} failures, "
                f"{len(self.files) - self.started} files not started",
                file=sys.stderr,
            )
            return 130
        return self.report.exit_code


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def add_scale_options(p) -> None:
    """``--devices/--num-nodes/--strategy`` of batch prediction (:mod:`xtalkit.training.sharded`)."""
    from xtalkit.cli import options as opt

    p.add_argument(
        "--devices", type=opt.positive_int, default=None, metavar="N",
        help="share the files among N processes, GPUs or (per node) through Lightning (default: one "
             "process, no Lightning)",
    )  # fmt: skip
    p.add_argument("--num-nodes", type=opt.positive_int, default=1, help="machines (with --devices)")
    p.add_argument("--strategy", default="auto", help="Lightning strategy with --devices (default auto: ddp)")


def sharded(args) -> bool:
    """Whether a batch command runs through Lightning (``--devices`` or ``--num-nodes`` given)."""
    return args.devices is not None or args.num_nodes > 1


def run_sharded(batch: Batch, process, *, network, shards: Path, args, files_per_step: int = 1,
                progress: bool = True):  # fmt: skip
    """Run a batch command's per-file function through :func:`xtalkit.training.sharded.predict_files`.

    Returns:
        ``(run, status)``: the merged :class:`~xtalkit.training.sharded.ShardedRun` and the
        exit status (0 and nothing printed on ranks other than 0).
    """
    from xtalkit.training.sharded import predict_files

    def shard(files: list[Path]) -> tuple[list, list[str], int]:
        part = Batch([str(f) for f in files], batch.desc, debug=batch.debug, show_progress=False)
        rows = process(part)
        return rows, part.report.failures, part.outputs

    run = predict_files(
        batch.files, shard, network=network, shards=shards, devices=args.devices or 1,
        num_nodes=args.num_nodes, strategy=args.strategy, files_per_step=files_per_step,
        progress=progress and sys.stderr.isatty(),
    )  # fmt: skip
    if not run.rank_zero:
        return run, 0
    print(f"{len(batch.files)} files shared among {run.world_size} processes", file=sys.stderr)
    for msg in run.failures:
        batch.report.add(msg)
    batch.outputs = run.outputs
    batch.started = batch.finished = len(batch.files)
    return run, batch.finish()
