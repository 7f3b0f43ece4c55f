"""Pieces shared by the training entry points: checkpoint callbacks and resumable metric logs."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from xtalkit.io import atomic_write


def checkpoint_callbacks(checkpoint_dir: Path, monitor: str = "val_mae") -> tuple:
    """``(best, latest)`` Lightning callbacks writing ``best.ckpt`` and ``last.ckpt`` in ``checkpoint_dir``.

    ``last.ckpt`` is rewritten after every epoch by its own callback: Lightning's
    ``save_last`` only writes when the monitored best changes, so a resumed run
    would restart from the best epoch rather than the latest one.
    """
    from lightning.pytorch.callbacks import ModelCheckpoint

    best = ModelCheckpoint(
        dirpath=checkpoint_dir, filename="best", monitor=monitor, mode="min", enable_version_counter=False
    )
    latest = ModelCheckpoint(dirpath=checkpoint_dir, filename="last", enable_version_counter=False)
    return best, latest


def read_metrics(path: Path) -> list[dict]:
    """Rows of a Lightning ``metrics.csv`` (empty when the file does not exist)."""
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def merge_metrics(path: Path, old: list[dict]) -> None:
    """Put the rows of earlier epochs back in front of a resumed run's ``metrics.csv``."""
    new = read_metrics(path)
    first = min((int(r["epoch"]) for r in new if r.get("epoch")), default=None)
    rows = [r for r in old if first is None or int(r.get("epoch") or 0) < first] + new
    keys = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    w.writerows(rows)
    atomic_write(path, buf.getvalue())
