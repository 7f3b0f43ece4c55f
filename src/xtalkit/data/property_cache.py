r"""An on-disk cache of featurizer output keyed by content, and the datasets built from it.

The featurizers themselves (:class:`GraphFeaturizer`, :class:`SitenetFeaturizer`,
:class:`CompositionFeaturizer`) live in :mod:`xtalkit.data.featurizers` and are
re-exported here.

Cache key. For a structure source ``s`` (see :mod:`xtalkit.data.tables`) and a
featurizer ``f``::

    key = sha256(structure_digest(s) + "\n" + json.dumps(f.params(), sort_keys=True))

where :func:`~xtalkit.data.tables.structure_digest` is the SHA-256 of the CIF
text (or file bytes, or canonical JSON of a dict) and ``f.params()`` holds the
featurizer's name, every parameter that changes its output, and
:data:`CACHE_VERSION`. So the same CIF in two tables is featurized once, and a
change of cutoff or supercell size never reads a stale file. Entries live in
``ROOT/<featurizer name>/<key[:2]>/<key>.npz`` and are written atomically
(temporary file + rename); a structure that cannot be featurized leaves a
``<key>.err`` file holding the one-line reason, so a second run reports it
without reading the CIF again. The default root is ``$XTALKIT_CACHE_DIR`` or
``$XDG_CACHE_HOME/xtalkit/features`` (``~/.cache/xtalkit/features``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from xtalkit.data.featurizers import (  # noqa: F401 - re-exported: the featurizers' old home
    CACHE_VERSION,
    CompositionFeaturizer,
    FeaturizationError,
    GraphFeaturizer,
    SitenetFeaturizer,
    featurizer_from_params,
)
from xtalkit.data.tables import PropertyTable, SkippedRow, structure_digest, structure_to_crystal
from xtalkit.errors import CrystalError, XtalkitError
from xtalkit.io import atomic_write


def cache_key(source, featurizer) -> str:
    """Content key of (structure, featurizer): see the module docstring."""
    text = structure_digest(source) + "\n" + json.dumps(featurizer.params(), sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def default_cache_dir() -> Path:
    """``$XTALKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/xtalkit/features`` (default ``~/.cache``)."""
    env = os.environ.get("XTALKIT_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "xtalkit" / "features"


def save_arrays(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> Path:
    """Write arrays as ``.npz`` atomically."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return atomic_write(path, buf.getvalue())


def load_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read an ``.npz`` written by :func:`save_arrays` (``allow_pickle=False``)."""
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def _compute(source, featurizer) -> dict[str, np.ndarray]:
    try:
        crystal = structure_to_crystal(source)
        return featurizer(crystal)
    except FeaturizationError:
        raise
    except (CrystalError, ValueError) as exc:
        raise FeaturizationError(str(exc)) from None


def _compute_to_disk(args: tuple) -> str | None:
    """Worker: featurize one structure into its cache file; the error text or None."""
    source, featurizer, npz, err = args
    try:
        save_arrays(npz, _compute(source, featurizer))
        return None
    except FeaturizationError as exc:
        atomic_write(err, str(exc))
        return str(exc)


class FeatureCache:
    """Featurized structures on disk, keyed by content (module docstring).

    Args:
        root: cache directory; None keeps nothing on disk (every call computes).

    Attributes:
        hits: entries read from disk (features or cached failures).
        misses: entries computed.
    """

    def __init__(self, root: str | os.PathLike | None):
        self.root = None if root is None else Path(root)
        self.hits = 0
        self.misses = 0

    def paths(self, key: str, featurizer) -> tuple[Path, Path]:
        """``(npz file, error file)`` of a key (the cache must have a root)."""
        if self.root is None:
            raise XtalkitError("this feature cache has no directory")
        d = self.root / featurizer.name / key[:2]
        return d / f"{key}.npz", d / f"{key}.err"

    def get(self, source, featurizer) -> dict[str, np.ndarray]:
        """Features of one structure, from disk when cached.

        Raises:
            FeaturizationError: the structure cannot be read or featurized (also when cached as such).
        """
        if self.root is None:
            self.misses += 1
            return _compute(source, featurizer)
        npz, err = self.paths(cache_key(source, featurizer), featurizer)
        if npz.is_file():
            self.hits += 1
            return load_arrays(npz)
        if err.is_file():
            self.hits += 1
            raise FeaturizationError(err.read_text("utf-8"))
        self.misses += 1
        reason = _compute_to_disk((source, featurizer, npz, err))
        if reason is not None:
            raise FeaturizationError(reason)
        return load_arrays(npz)

    def featurize(
        self,
        sources: Sequence,
        featurizer,
        *,
        workers: int = 0,
        progress: bool = False,
        in_memory: bool | None = None,
    ) -> list:
        """Featurize many structures: per source, arrays, an ``.npz`` path or a :class:`FeaturizationError`.

        Args:
            sources: structure sources.
            featurizer: a featurizer of this module.
            workers: processes computing missing entries (0: this process).
            progress: show a tqdm bar on stderr.
            in_memory: return arrays (True) or, with a disk cache, file paths read
                lazily by :class:`FeatureDataset` (False; default when there is a root).

        Returns:
            One entry per source, in order.
        """
        from tqdm import tqdm

        n = len(sources)
        in_memory = self.root is None if in_memory is None else in_memory
        out: list = [None] * n
        todo: list[tuple[int, tuple]] = []
        keys_bar = tqdm(
            range(n),
            desc="cache lookup",
            unit="structure",
            disable=not progress,
            file=sys.stderr,
            leave=False,
        )
        for i in keys_bar:
            src = sources[i]
            if self.root is None:
                todo.append((i, (src, featurizer, None, None)))
                continue
            try:
                npz, err = self.paths(cache_key(src, featurizer), featurizer)
            except CrystalError as exc:
                out[i] = FeaturizationError(str(exc))
                continue
            if npz.is_file():
                self.hits += 1
                out[i] = load_arrays(npz) if in_memory else npz
            elif err.is_file():
                self.hits += 1
                out[i] = FeaturizationError(err.read_text("utf-8"))
            else:
                todo.append((i, (src, featurizer, npz, err)))
        self.misses += len(todo)
        if not todo:
            return out

        def finish(i: int, job: tuple, result) -> None:
            if isinstance(result, Exception) or self.root is None:
                out[i] = result
            elif result is not None:
                out[i] = FeaturizationError(result)
            else:
                out[i] = load_arrays(job[2]) if in_memory else job[2]

        bar = tqdm(total=len(todo), desc="featurize", unit="structure", disable=not progress, file=sys.stderr)
        if workers > 0 and len(todo) > 1:
            from concurrent.futures import ProcessPoolExecutor

            fn: Callable = _compute_or_error if self.root is None else _compute_to_disk
            jobs = [job[:2] if self.root is None else job for _, job in todo]
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for (i, job), result in zip(todo, pool.map(fn, jobs, chunksize=16), strict=True):
                    finish(i, job, result)
                    bar.update()
        else:
            for i, job in todo:
                result = _compute_or_error(job[:2]) if self.root is None else _compute_to_disk(job)
                finish(i, job, result)
                bar.update()
        bar.close()
        return out


def _compute_or_error(args: tuple):
    try:
        return _compute(*args)
    except FeaturizationError as exc:
        return exc


@dataclasses.dataclass
class FeaturizedTable:
    """The rows of a table that could be featurized.

    Attributes:
        table: the source table.
        featurizer: the featurizer used.
        items: (S_ok,) features per kept row: arrays or ``.npz`` paths.
        index: (S_ok,) rows of ``table`` that were kept.
        failures: rows that could not be featurized.
    """

    table: PropertyTable
    featurizer: object
    items: list
    index: np.ndarray
    failures: list[SkippedRow]

    def dataset(self, split: str = "all") -> FeatureDataset:
        """A :class:`FeatureDataset` of the kept rows of one split (``"all"``: every labelled row)."""
        labels = self.table.split[self.index]
        sel = np.arange(len(self.index)) if split == "all" else np.flatnonzero(labels == split)
        return FeatureDataset(
            [self.items[k] for k in sel],
            self.table.y[self.index[sel]],
            [self.table.ids[i] for i in self.index[sel]],
            self.featurizer,
        )


def featurize_table(
    table: PropertyTable,
    featurizer,
    cache: FeatureCache | None = None,
    *,
    workers: int = 0,
    progress: bool = False,
    in_memory: bool | None = None,
) -> FeaturizedTable:
    """Featurize every labelled row of a table through a cache; failures are reported, not raised."""
    cache = cache or FeatureCache(None)
    labelled = table.split != ""
    rows = np.flatnonzero(labelled) if labelled.any() else np.arange(len(table))
    results = cache.featurize(
        [table.structures[i] for i in rows], featurizer, workers=workers, progress=progress,
        in_memory=in_memory,
    )  # fmt: skip
    items, kept, failures = [], [], []
    for i, r in zip(rows, results, strict=True):
        if isinstance(r, Exception):
            failures.append(table.skip_record(int(i), str(r)))
        else:
            items.append(r)
            kept.append(int(i))
    return FeaturizedTable(table, featurizer, items, np.asarray(kept, dtype=np.int64), failures)


class FeatureDataset:
    """A torch-style dataset of featurized structures with scalar targets.

    Args:
        items: arrays dicts or ``.npz`` paths (read when indexed).
        targets: (S,) targets (NaN where unknown).
        ids: (S,) ids.
        featurizer: the featurizer that made the items (its ``sample`` builds collate inputs).
    """

    def __init__(self, items: Sequence, targets: Sequence[float], ids: Sequence[str], featurizer):
        self.items = list(items)
        self.targets = np.asarray(targets, dtype=np.float64)
        self.ids = [str(i) for i in ids]
        self.featurizer = featurizer
        self._n_sites: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.items)

    def arrays(self, k: int) -> dict[str, np.ndarray]:
        """The stored arrays of item ``k``."""
        item = self.items[k]
        return item if isinstance(item, dict) else load_arrays(item)

    def __getitem__(self, k: int) -> dict:
        return self.featurizer.sample(self.arrays(k), float(self.targets[k]), self.ids[k])

    def numbers(self, k: int) -> np.ndarray:
        """Atomic numbers of the nodes (sites) of item ``k`` (reads only that array of a file)."""
        item = self.items[k]
        key = getattr(self.featurizer, "numbers_key", None)
        if isinstance(item, dict) or key is None:
            return self.featurizer.numbers(self.arrays(k))
        with np.load(item, allow_pickle=False) as f:
            return f[key]

    def n_sites(self) -> np.ndarray:
        """(S,) nodes (graphs) or unique sites (Site-Net) of each item, computed once."""
        if self._n_sites is None:
            self._n_sites = np.array([len(self.numbers(k)) for k in range(len(self))], dtype=np.int64)
        return self._n_sites

    def element_counts(self) -> dict[str, int]:
        """Structures containing each element (key: atomic number as text)."""
        from xtalkit.elements import structures_per_element

        return structures_per_element(self.numbers(k) for k in range(len(self)))
