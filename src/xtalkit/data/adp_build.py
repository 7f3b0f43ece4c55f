"""Build an ADP training dataset from CIF directories, AMCSD or the CSD.

``build(sources, out, ...)`` reads every structure of every source, applies
the quality filters of :mod:`xtalkit.data.adp_filters`, and writes the
survivors as shards (:mod:`xtalkit.data.store`), a filter report and grouped
splits.

Sources:

* a directory: every ``*.cif`` below it, every structure block;
* ``amcsd`` (or ``amcsd:PATH`` to a database file): the AMCSD mineral
  structures shipped in the larixite wheel; AMCSD records no temperature, so
  the temperature comes from the publication title when it states exactly one,
  else the configured assumed temperature (flagged ``assumed_temperature``);
* ``csd``: the Cambridge Structural Database through the CSD Python API
  (``ccdc``), when it is installed and licensed. This path cannot be tested
  here; it uses only the API calls named in :func:`_iter_csd`.

Work is cut into tasks of ``chunk_size`` inputs. Each finished task is one
shard written atomically plus a small report; rerunning the same command skips
finished tasks, so an interrupted build resumes. Tasks run in a process pool.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing as mp
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from tqdm import tqdm

from xtalkit import __version__
from xtalkit.crystal.cif import iter_cif
from xtalkit.crystal.core import Crystal
from xtalkit.data import store
from xtalkit.data.adp_filters import FILTER_ORDER, ADPFilterConfig, apply_temperature_policy, check
from xtalkit.data.splits import group_structures, grouped_split
from xtalkit.errors import CifError, XtalkitError
from xtalkit.io import atomic_write

#: Temperature (K) assumed for AMCSD entries whose title states none.
AMCSD_ASSUMED_TEMPERATURE = 293.0


@dataclasses.dataclass(frozen=True)
class Task:
    """One unit of work: a slice of one source, producing one shard."""

    name: str
    kind: str  # "files", "amcsd" or "csd"
    items: tuple  # file paths, AMCSD ids or CSD refcodes
    root: str  # directory of the files, or the database path
    assumed_temperature: float | None


def _source_tag(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def plan_tasks(sources: list[str], chunk_size: int, assumed_temperature: float | None) -> list[Task]:
    """Cut every source into tasks (deterministic names, so a rerun finds finished shards)."""
    tasks: list[Task] = []
    for src in sources:
        if src == "amcsd" or src.startswith("amcsd:"):
            from xtalkit.data.amcsd import default_database, list_ids

            db = Path(src.split(":", 1)[1]) if ":" in src else default_database()
            ids = list_ids(db)
            t = AMCSD_ASSUMED_TEMPERATURE if assumed_temperature is None else assumed_temperature
            for k in range(0, len(ids), chunk_size):
                tasks.append(
                    Task(
                        f"amcsd-{_source_tag(str(db))}-{k // chunk_size:05d}",
                        "amcsd",
                        tuple(ids[k : k + chunk_size]),
                        str(db),
                        t,
                    )
                )
        elif src == "csd":
            refcodes = _csd_refcodes()
            for k in range(0, len(refcodes), chunk_size):
                tasks.append(
                    Task(
                        f"csd-{k // chunk_size:05d}",
                        "csd",
                        tuple(refcodes[k : k + chunk_size]),
                        "CSD",
                        assumed_temperature,
                    )
                )
        else:
            root = Path(src)
            if not root.is_dir():
                raise XtalkitError(f"{src}: not a directory, 'amcsd' or 'csd'")
            files = sorted(
                str(p.relative_to(root))
                for p in root.rglob("*")
                if p.suffix.lower() == ".cif" and p.is_file()
            )
            if not files:
                raise XtalkitError(f"{src}: no .cif files")
            tag = _source_tag(str(root.resolve()))
            for k in range(0, len(files), chunk_size):
                tasks.append(
                    Task(
                        f"dir-{tag}-{k // chunk_size:05d}",
                        "files",
                        tuple(files[k : k + chunk_size]),
                        str(root),
                        assumed_temperature,
                    )
                )
    return tasks


def _iter_task(task: Task) -> Iterator[tuple[str, Crystal | CifError]]:
    if task.kind == "files":
        for rel in task.items:
            path = Path(task.root) / rel
            try:
                for block, result in iter_cif(path):
                    yield f"{rel}#{block}", result
            except CifError as exc:
                yield rel, exc
    elif task.kind == "amcsd":
        from xtalkit.data.amcsd import read_entries

        for ident, result in read_entries(task.root, task.items):
            yield f"amcsd:{ident}", result
    else:
        yield from _iter_csd(task.items)


def run_task(task: Task, config: ADPFilterConfig, out: Path) -> dict:
    """Read, filter and store one task; returns its report (also written next to the shard)."""
    config = dataclasses.replace(config, assumed_temperature=task.assumed_temperature)
    kept, ids = [], []
    removed: Counter = Counter()
    errors: Counter = Counter()
    rejected: list[tuple[str, str]] = []
    n_read = 0
    for ident, result in _iter_task(task):
        if isinstance(result, CifError):
            errors[_error_kind(result.problem)] += 1
            rejected.append((ident, f"unreadable: {result.problem}"))
            continue
        n_read += 1
        crystal = apply_temperature_policy(result, config)
        reason = check(crystal, config)
        if reason is not None:
            removed[reason] += 1
            rejected.append((ident, reason))
            continue
        kept.append(crystal)
        ids.append(ident)
    shard_dir = out / "shards" / task.name
    store.write_shard(shard_dir, kept, ids)
    report = {
        "task": task.name,
        "inputs": len(task.items),
        "structures_read": n_read,
        "kept": len(kept),
        "removed": dict(removed),
        "unreadable": dict(errors),
        "rejected": rejected,
        "assumed_temperature": sum("assumed_temperature" in str(c.flags) for c in kept),
    }
    atomic_write(out / "shards" / f"{task.name}.report.json", json.dumps(report))
    return report


def _error_kind(problem: str) -> str:
    import re

    return re.sub(r"'[^']*'|\d+(\.\d+)?", "#", problem)[:80]


def _worker(args: tuple) -> dict:
    task, config, out = args
    return run_task(task, config, out)


def build(
    sources: list[str],
    out: str | os.PathLike,
    config: ADPFilterConfig | None = None,
    *,
    workers: int = 1,
    chunk_size: int = 200,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    group_tolerance: float = 0.03,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Build (or resume building) an ADP dataset in ``out``.

    Args:
        sources: directories, ``amcsd[:PATH]`` or ``csd``.
        out: dataset directory (created).
        config: filter thresholds.
        workers: processes reading and filtering in parallel.
        chunk_size: inputs per task/shard.
        fractions: train/validation/test fractions of structures.
        seed: seed of the grouped split.
        group_tolerance: relative tolerance for "repeated structure".
        progress: show a progress bar (default: when stderr is a terminal).
        log: where to send one-line status messages (default: nowhere).

    Returns:
        The aggregated report (also in ``out/report.json`` and ``out/report.md``).
    """
    config = config or ADPFilterConfig()
    out = Path(out)
    (out / "shards").mkdir(parents=True, exist_ok=True)
    log = log or (lambda msg: None)
    tasks = plan_tasks(sources, chunk_size, config.assumed_temperature)
    done = [
        t
        for t in tasks
        if (out / "shards" / f"{t.name}.report.json").is_file() and (out / "shards" / t.name).is_dir()
    ]
    todo = [t for t in tasks if t not in done]
    if done:
        log(f"resuming: {len(done)} of {len(tasks)} tasks already built")
    t0 = time.time()
    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(total=len(todo), desc="building", unit="task", disable=not show, file=sys.stderr)
    jobs = [(t, config, out) for t in todo]
    if workers > 1 and len(jobs) > 1:
        with mp.get_context("spawn").Pool(workers) as pool:
            for _ in pool.imap_unordered(_worker, jobs):
                bar.update()
    else:
        for job in jobs:
            _worker(job)
            bar.update()
    bar.close()
    reports = [json.loads((out / "shards" / f"{t.name}.report.json").read_text()) for t in tasks]
    return _finish(out, sources, tasks, reports, config, fractions, seed, group_tolerance, time.time() - t0)


def _finish(out, sources, tasks, reports, config, fractions, seed, group_tolerance, seconds) -> dict:
    manifest = {
        "format": store.FORMAT,
        "version": store.VERSION,
        "xtalkit": __version__,
        "sources": sources,
        "filters": config.as_dict(),
        "filter_order": list(FILTER_ORDER),
        "shards": [t.name for t in tasks],
        "split": {"fractions": list(fractions), "seed": seed, "group_tolerance": group_tolerance},
    }
    atomic_write(out / "manifest.json", json.dumps(manifest, indent=1))
    data = store.ADPStore(out)
    formulas = [str(x) for x in data.column("formula")]
    groups = group_structures(formulas, data.column("cell_signature"), rel_tol=group_tolerance)
    codes = grouped_split(groups, fractions, seed) if len(groups) else np.zeros(0, int)
    for k, name in enumerate(store.SPLITS):
        ids = [i for i, c in zip(data.ids, codes, strict=True) if c == k]
        atomic_write(out / "splits" / f"{name}.txt", "\n".join(ids) + ("\n" if ids else ""))
    removed: Counter = Counter()
    unreadable: Counter = Counter()
    for r in reports:
        removed.update(r["removed"])
        unreadable.update(r["unreadable"])
    temps = data.column("temperature") if len(data) else np.zeros(0)
    report = {
        "sources": sources,
        "inputs": sum(r["inputs"] for r in reports),
        "structures_read": sum(r["structures_read"] for r in reports),
        "unreadable": dict(unreadable),
        "removed_by_filter": {f: removed.get(f, 0) for f in FILTER_ORDER},
        "kept": len(data),
        "kept_with_assumed_temperature": sum(r["assumed_temperature"] for r in reports),
        "atoms": int(data.n_atoms().sum()) if len(data) else 0,
        "groups": int(groups.max() + 1) if len(groups) else 0,
        "split_sizes": {name: int((codes == k).sum()) for k, name in enumerate(store.SPLITS)},
        "temperature_range": [float(temps.min()), float(temps.max())] if len(temps) else None,
        "build_seconds_this_run": seconds,
    }
    atomic_write(out / "report.json", json.dumps(report, indent=1))
    atomic_write(out / "report.md", format_report(report))
    return report


def format_report(report: dict) -> str:
    """The filter report as Markdown."""
    lines = [
        f"# ADP dataset from {', '.join(report['sources'])}",
        "",
        f"- inputs: {report['inputs']}; structures read: {report['structures_read']}; "
        f"unreadable: {sum(report['unreadable'].values())}",
        "",
        "| filter (in order) | structures removed |",
        "|---|---|",
    ]
    lines += [f"| {f} | {n} |" for f, n in report["removed_by_filter"].items()]
    lines += [
        f"| **kept** | **{report['kept']}** |",
        "",
        f"- kept with an assumed temperature: {report['kept_with_assumed_temperature']}",
        f"- atoms: {report['atoms']}; groups of repeated structures: {report['groups']}",
        f"- split sizes (train/val/test): {report['split_sizes']}",
        f"- temperature range: {report['temperature_range']}",
    ]
    if report["unreadable"]:
        lines += ["", "Unreadable inputs by kind:", ""]
        lines += [
            f"- {n} × {kind}" for kind, n in sorted(report["unreadable"].items(), key=lambda kv: -kv[1])
        ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- CSD (optional)
def _csd_refcodes() -> list[str]:
    try:
        from ccdc import io  # type: ignore[import-not-found]
    except ImportError:
        raise XtalkitError(
            "the CSD source needs the CSD Python API (module 'ccdc'), which is not installed"
        ) from None
    with io.EntryReader("CSD") as reader:
        return [entry.identifier for entry in reader if entry.has_3d_structure]


def _iter_csd(refcodes: tuple) -> Iterator[tuple[str, Crystal | CifError]]:
    """CSD entries through the CSD Python API: ``EntryReader``, ``entry.crystal.to_string("cif")``."""
    from ccdc import io  # type: ignore[import-not-found]

    with io.EntryReader("CSD") as reader:
        for code in refcodes:
            ident = f"csd:{code}"
            try:
                entry = reader.entry(code)
                if entry.pressure is not None:
                    yield ident, CifError("reported at non-standard pressure", source=ident)
                    continue
                crystals = [c for _, c in iter_cif(entry.crystal.to_string("cif"), text=True)]
                result = crystals[0]
                if isinstance(result, Crystal) and result.temperature is None and entry.temperature:
                    from xtalkit.crystal.cif import parse_temperature

                    result.temperature = parse_temperature(str(entry.temperature))
                if isinstance(result, Crystal):
                    result.source = ident
                yield ident, result
            except CifError as exc:
                yield ident, exc
            except Exception as exc:  # the API can fail per entry; report and go on
                yield ident, CifError(f"CSD API: {type(exc).__name__}: {exc}", source=ident)
