"""Batch prediction at scale: Lightning's predict loop over files, shared among processes.

Screening a million CIFs at about 0.2 s per structure is some 55 CPU-hours in one
process. :func:`predict_files` hands the files to Lightning's ``Trainer.predict`` as a
data set of file indices, so that ``devices=N`` (with ``strategy="ddp"``, and
``num_nodes``) runs N processes on CPU cores, GPUs or nodes, each with every N-th file
(Lightning's unrepeated distributed sampler: no file is predicted twice).

Each process runs the command's own per-file function, the same one the
single-process command runs, over its files. What that function prints is
captured, and one JSON line per chunk of files is appended to the process's
shard ``SHARDS/rank-<r>.jsonl`` (flushed each time). When every process is
done, rank 0 reads the shards, checks that every file is there exactly once,
and returns the outcome in input order: it replays what was printed, lists the
failures, and hands back the rows for the caller to write with one atomic
write. The shard directory is then removed; it stays, with an error, when a
file is missing from the shards.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from xtalkit.errors import XtalkitError
from xtalkit.training import engine

#: Name of the shard file of rank ``r``.
SHARD_NAME = "rank-{rank}.jsonl"


@dataclasses.dataclass
class ShardedRun:
    """Outcome of :func:`predict_files` (complete on rank 0 only).

    Attributes:
        rank_zero: whether this process is rank 0; other ranks have nothing to report.
        rows: the rows returned by the per-file function, in input order.
        failures: one-line failures, in input order.
        outputs: outputs written (the ``Batch.outputs`` of every shard).
        world_size: processes that shared the files.
    """

    rank_zero: bool
    rows: list = dataclasses.field(default_factory=list)
    failures: list[str] = dataclasses.field(default_factory=list)
    outputs: int = 0
    world_size: int = 1


class _Chunks(torch.utils.data.Dataset):
    """Contiguous runs of file indices, ``size`` at a time (the files are read by the per-file function).

    Ranks take every N-th chunk, so that sorting the records by their first index puts every
    file, and every row, back in input order.
    """

    def __init__(self, n: int, size: int):
        self.n, self.size = n, size

    def __len__(self) -> int:
        return -(-self.n // self.size)

    def __getitem__(self, i: int) -> list[int]:
        return list(range(i * self.size, min((i + 1) * self.size, self.n)))


def _one(items: list) -> list[int]:
    return items[0]


def _module(network: torch.nn.Module, files: Sequence[Path], process: Callable, shards: Path):
    import lightning as L

    class FilePredictor(L.LightningModule):
        """Runs ``process`` on the files of each batch and appends the outcome to this rank's shard."""

        def __init__(self):
            super().__init__()
            self.network = network  # a submodule, so that Lightning puts it on the process's device
            self.shard = None

        def on_predict_start(self) -> None:
            if self.global_rank == 0:
                shutil.rmtree(shards, ignore_errors=True)
                shards.mkdir(parents=True)
            self.trainer.strategy.barrier("xtalkit-shards-ready")
            self.shard = shards / SHARD_NAME.format(rank=self.global_rank)
            self.shard.write_text("", encoding="utf-8")

        def predict_step(self, indices: list[int], batch_idx: int) -> None:
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                rows, failures, outputs = process([files[i] for i in indices])
            record = {"indices": indices, "stdout": out.getvalue(), "stderr": err.getvalue(),
                      "failures": list(failures), "outputs": int(outputs), "rows": list(rows)}  # fmt: skip
            with open(self.shard, "a", encoding="utf-8") as f:  # what is finished stays on disk
                f.write(json.dumps(record, allow_nan=False) + "\n")

        def on_predict_end(self) -> None:
            self.trainer.strategy.barrier("xtalkit-shards-written")

    return FilePredictor()


def predict_files(
    files: Sequence[Path],
    process: Callable,
    *,
    network: torch.nn.Module,
    shards: Path,
    devices: int = 1,
    num_nodes: int = 1,
    strategy: str = "auto",
    files_per_step: int = 1,
    progress: bool = True,
) -> ShardedRun:
    """Run a command's per-file function over ``files`` in one or more processes.

    Args:
        files: input files (CIFs), in the order of the merged output.
        process: ``process(files) -> (rows, failures, outputs)``: the command's loop over some of
            the files; it writes per-file outputs itself (atomically), prints what the command
            prints, never raises for one bad file, and returns JSON-serialisable rows for a merged
            table (or none), one-line failures and the number of outputs written.
        network: the model's network, put on each process's device by Lightning.
        shards: directory of the shard files (removed after the merge).
        devices: processes or accelerators per node.
        num_nodes: machines (Lightning's ``num_nodes``).
        strategy: Lightning strategy (``"ddp"`` for several processes; ``"auto"`` chooses it).
        files_per_step: files per data-loader batch (structures predicted together).
        progress: Lightning's progress bar.

    Returns:
        The merged outcome on rank 0; ``ShardedRun(rank_zero=False)`` on the other ranks.

    Raises:
        XtalkitError: a file is missing from the shards (a process died); the shards are kept.
    """
    shards = Path(shards)
    module = _module(network, list(files), process, shards)
    loader = torch.utils.data.DataLoader(
        _Chunks(len(files), files_per_step), batch_size=1, shuffle=False, collate_fn=_one
    )
    trainer = engine.lightning_trainer(
        devices=devices, num_nodes=num_nodes, strategy=strategy, progress=progress, logger=False,
        enable_checkpointing=False,
    )  # fmt: skip
    trainer.predict(module, loader, return_predictions=False)
    if trainer.global_rank != 0:
        return ShardedRun(rank_zero=False, world_size=trainer.world_size)
    run = merge_shards(shards, len(files), trainer.world_size)
    shutil.rmtree(shards, ignore_errors=True)
    return run


def merge_shards(shards: Path, n_files: int, world_size: int, *, replay: bool = True) -> ShardedRun:
    """Read every rank's shard and put the outcome in input order.

    Args:
        shards: the shard directory.
        n_files: files that were shared out.
        world_size: ranks that wrote shards.
        replay: print what the per-file functions printed (stdout and stderr), in input order.

    Raises:
        XtalkitError: a shard is missing, or a file is absent from the shards or there twice.
    """
    records = []
    for rank in range(world_size):
        path = Path(shards) / SHARD_NAME.format(rank=rank)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError:
            raise XtalkitError(f"{path}: shard of rank {rank} is missing; the shards are kept") from None
        records += [json.loads(line) for line in lines]
    records.sort(key=lambda r: r["indices"][0])
    seen = [i for r in records for i in r["indices"]]
    if sorted(seen) != list(range(n_files)):
        missing = n_files - len(set(seen))
        raise XtalkitError(
            f"{shards}: {missing} of {n_files} files are missing from the shards "
            f"({len(seen) - len(set(seen))} there twice); the shards are kept"
        )
    run = ShardedRun(rank_zero=True, world_size=world_size)
    for r in records:
        if replay:
            sys.stdout.write(r["stdout"])
            sys.stderr.write(r["stderr"])
        run.rows += r["rows"]
        run.failures += r["failures"]
        run.outputs += r["outputs"]
    return run
