"""Transforms of a property table applied before training and scoring, the same for the CLI and benchmarks.

* :func:`log10_table`: learn and score ``log10`` of a positive target (elastic moduli
  in GPa → log10 GPa); rows with a target ≤ 0 are left out and reported as skipped.
* :func:`subsample`: each split cut to at most a given number of rows, drawn by
  :func:`seeded_choice` with an independent stream per split (so a larger limit
  keeps a superset only by chance, and changing ``max_val`` never changes the training rows).

Both record themselves in ``split_spec`` (``"transform"``, ``"subsample"``), which ends up in
the model file's metadata.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from xtalkit.data.tables import PropertyTable

__all__ = ["apply_transforms", "log10_table", "seeded_choice", "subsample"]


def log10_table(table: PropertyTable) -> PropertyTable:
    """The table with ``y → log10(y)`` (GPa → log10 GPa); rows with ``y ≤ 0`` are left out and reported.

    Args:
        table: a table whose target is positive (moduli in GPa).

    Returns:
        A new table with target ``log10(<target>)`` and units ``log10 <units>``.
    """
    ok = table.y > 0
    bad = [table.skip_record(int(i), f"{table.target} = {table.y[i]:g} ≤ 0 has no log10")
           for i in np.flatnonzero(~ok)]  # fmt: skip
    sub = table.subset(np.flatnonzero(ok))
    return dataclasses.replace(
        sub,
        y=np.log10(sub.y),
        target=f"log10({table.target})",
        units=f"log10 {table.units}" if table.units else "log10",
        skipped=[*table.skipped, *bad],
        split_spec={
            **table.split_spec,
            "transform": f"log10 of {table.target} ({table.units or 'file units'})",
        },
    )


def seeded_choice(index: np.ndarray, limit: int | None, seed: int, stream: int) -> np.ndarray:
    """At most ``limit`` of ``index`` (sorted), drawn without replacement by ``default_rng([seed, stream])``.

    Args:
        index: row indices to choose from.
        limit: how many to keep (None: all).
        seed: benchmark seed.
        stream: 0 train, 1 val, 2 test, 3 WBM (independent draws).
    """
    index = np.asarray(index, dtype=np.int64)
    if limit is None or limit >= len(index):
        return index
    rng = np.random.default_rng([seed, stream])
    return np.sort(rng.choice(index, size=int(limit), replace=False))


def subsample(
    table: PropertyTable, max_train: int | None, max_val: int | None, max_test: int | None, seed: int
) -> PropertyTable:
    """The rows of a labelled table with each split cut to at most its limit (module docstring)."""
    keep = [
        seeded_choice(table.indices(split), limit, seed, k)
        for k, (split, limit) in enumerate((("train", max_train), ("val", max_val), ("test", max_test)))
    ]
    sub = table.subset(np.sort(np.concatenate(keep)))
    sub.split_spec = {**table.split_spec, "subsample": {
        "max_train": max_train, "max_val": max_val, "max_test": max_test, "seed": seed,
        "available": table.split_sizes(),
    }}  # fmt: skip
    return sub


def apply_transforms(
    table: PropertyTable, *, transform: str = "none", max_train: int | None = None,
    max_val: int | None = None, max_test: int | None = None, seed: int = 0,
) -> PropertyTable:  # fmt: skip
    """``transform`` (``"none"`` or ``"log10"``) then :func:`subsample` when any limit is given."""
    if transform not in ("none", "log10"):
        raise ValueError(f"unknown transform {transform!r}")
    if transform == "log10":
        table = log10_table(table)
    if any(v is not None for v in (max_train, max_val, max_test)):
        table = subsample(table, max_train, max_val, max_test, seed)
    return table
