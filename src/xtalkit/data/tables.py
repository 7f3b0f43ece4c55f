r"""Tables of crystal structures with scalar targets, and their train/validation/test splits.

A :class:`PropertyTable` holds, per row, an id, a *structure source* and a
target value (float64, in the units of the file). Structure sources stay as
they were read, so that loading 100 000 rows is quick; they become
:class:`~xtalkit.crystal.core.Crystal` objects with :func:`structure_to_crystal`
when they are featurized (:mod:`xtalkit.data.property_cache`, which caches the
features by :func:`structure_digest`). A structure source is one of

* CIF text (``str`` holding a data block, e.g. the P1 CIFs written by pymatgen);
* a CIF file (:class:`pathlib.Path`; in a table, a relative path is relative to
  the table file);
* a JARVIS ``atoms`` dict (``lattice_mat`` [3, 3] Å rows, ``coords`` [n, 3],
  ``elements`` [n], ``cartesian`` bool);
* a pymatgen ``Structure.as_dict()`` dict (Matbench);
* a :class:`Crystal`, pymatgen ``Structure`` or ASE ``Atoms`` object.

File formats (:func:`load_table`, ``format="auto"`` picks by suffix and content):

* ``csv`` — CSV, optionally gzipped: one structure column (``cif``,
  ``structure``, ``cif_file``, ``cif_path``, ``path`` or ``file``: CIF text or
  a path to a CIF file), target columns, optional id column (``material_id``,
  ``id``, ``jid``, ``mbid``, ``name`` or pandas' unnamed index column). The
  materials files of the project (``mp.csv.gz``, ``wbm_10k.csv.gz``,
  ``aflow/<property>/{train,val,test}.csv.gz``) are of this kind.
* ``json`` — a JSON list of records (optionally gzipped) with the same columns;
  ``structure``/``atoms`` may also be a JARVIS or pymatgen dict.
* ``jarvis`` — the JARVIS-DFT ``dft_3d`` JSON: a list of dicts with ``jid``,
  ``atoms`` and targets such as ``formation_energy_peratom`` (eV/atom) and
  ``optb88vdw_bandgap`` (eV); missing values are written ``"na"``.
* ``matbench`` — a Matbench v0.1 ``.json.gz``: pandas' ``split`` orientation,
  ``{"index": [ids], "columns": ["structure", TARGET], "data": [[pymatgen dict, value], …]}``.

Bad rows never stop a load: a row whose target is missing, not a number or not
finite, or whose structure field is empty or names a missing file, is skipped
and reported in :attr:`PropertyTable.skipped` with its reason; a structure that
cannot be read is skipped the same way when it is featurized.

Splits (:class:`SplitSpec`; ``method="auto"`` picks the convention of the
format). Rows get the label ``"train"``, ``"val"``, ``"test"`` or ``""`` (not
used). Splits are computed on the rows kept after the target checks, in file
order, so they do not depend on featurization.

* ``fold`` — by an integer fold column: ``mp.csv.gz``'s ``formula_fold`` (a
  hash of the reduced formula) with folds 0–6 training, 7 validation, 8 test,
  so that no formula crosses a split. Default for tables with that column.
* ``column`` — labels in a column (default ``split``; ``valid``/``validation``
  read as ``val``). Default for tables with a ``split`` column.
* ``random`` — a seeded permutation (``numpy.random.default_rng(seed)``, seed 0
  by default): the first ``n − n_val − n_test`` rows train, then
  ``n_val = round(f_val·n)`` validation, then ``n_test = round(f_test·n)`` test;
  fractions 0.8/0.1/0.1 by default. Default for other CSV and JSON tables.
* ``matformer`` — ALIGNN's ``get_id_train_val_test`` as used by Matformer,
  PotNet, ComFormer and CartNet (SI S4): the row indices ``0..n−1`` shuffled in
  place with Python's ``random.seed(123); random.shuffle(ids)``; training is the
  first ``n_train``, test the last ``n_test``, validation the ``n_val`` before
  those (rows in between, if any, are unused). Sizes default to
  ``int(0.8 n)``, ``int(0.1 n)``, ``int(0.1 n)`` — the JARVIS dft_3d convention
  (44 578 / 5 572 / 5 572 for formation energy in dft_3d_2021); Matformer's
  Materials Project 2018.6.1 ("megnet") convention is ``n_train=60000,
  n_val=5000, n_test=4239``. As there, rows with missing targets are dropped
  *before* the shuffle, so the split depends on the target. Default for JARVIS.
* ``matbench`` — Matbench v0.1: ``KFold(n_splits=5, shuffle=True,
  random_state=18012019)`` over all rows; fold ``k`` is the test set and its
  complement is split at random (seed ``seed``, default 0) into training and a
  ``matbench_val_fraction`` (default 0.2, Site-Net §3: 80:20) validation part.
  Default for Matbench files.
* ``all`` — every row ``"train"`` (evaluation of a whole file).

Given files: :func:`load_splits` with a directory holding ``train``, ``val``
(or ``valid``/``validation``) and ``test`` tables (e.g. ``aflow/bulk_modulus/``),
or with explicit validation/test files, labels every row by its file.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from xtalkit.crystal.convert import (  # noqa: F401 - "anything → Crystal" lives with the converters
    is_jarvis_atoms,
    jarvis_atoms_to_crystal,
    looks_like_cif,
    structure_digest,
    structure_to_crystal,
)
from xtalkit.crystal.core import Crystal
from xtalkit.data.splits import (  # noqa: F401 - splits live in data/splits.py
    MATBENCH_FOLDS,
    MATBENCH_SEED,
    MATFORMER_SEED,
    matbench_folds,
    matformer_split,
    random_split,
)
from xtalkit.errors import CrystalError, XtalkitError

#: Units of targets the project knows by column name (anything else: ``""``).
UNITS: dict[str, str] = {
    "formation_energy_per_atom": "eV/atom",
    "formation_energy_peratom": "eV/atom",
    "e_form": "eV/atom",
    "e_above_hull": "eV/atom",
    "ehull": "eV/atom",
    "energy_per_atom": "eV/atom",
    "optb88vdw_total_energy": "eV/atom",
    "band_gap": "eV",
    "gap pbe": "eV",
    "gap": "eV",
    "optb88vdw_bandgap": "eV",
    "mbj_bandgap": "eV",
    "dir_gap": "eV",
    "ind_gap": "eV",
    "bulk_modulus": "GPa",
    "shear_modulus": "GPa",
    "bulk_modulus_kv": "GPa",
    "shear_modulus_gv": "GPa",
    "log10(K_VRH)": "log10 GPa",
    "log10(G_VRH)": "log10 GPa",
    "debye_temperature": "K",
    "thermal_conductivity": "W/(m K)",
    "thermal_expansion": "1/K",
}

STRUCTURE_COLUMNS = ("cif", "structure", "cif_file", "cif_path", "path", "file", "atoms")
ID_COLUMNS = ("material_id", "id", "jid", "mbid", "name", "Unnamed: 0", "")
SPLITS = ("train", "val", "test")
_SPLIT_ALIASES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
_FORMATS = ("auto", "csv", "json", "jarvis", "matbench")


def units_of(target: str) -> str:
    """Units of a target column by name (``""`` when unknown)."""
    return UNITS.get(target, "")


def is_band_gap(target: str) -> bool:
    """Whether a target column is a band gap (Site-Net clamps those at 0, §3)."""
    return "gap" in target.lower()


@dataclasses.dataclass
class SkippedRow:
    """A row left out, and why.

    Attributes:
        file: table file.
        row: 0-based data row in that file (-1 when not known).
        id: the row's id.
        reason: one line.
    """

    file: str
    row: int
    id: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}: row {self.row}" if self.row >= 0 else self.file
        return f"{where} ({self.id}): {self.reason}"


@dataclasses.dataclass
class SplitSpec:
    """How rows are assigned to training, validation and test (module docstring).

    Attributes:
        method: ``auto``, ``fold``, ``column``, ``random``, ``matformer``, ``matbench`` or ``all``.
        seed: seed of ``random`` (default 0), ``matformer`` (default 123) and of the
            validation part of ``matbench`` (default 0).
        fractions: (train, val, test) fractions of ``random``; ``matformer`` uses
            them too when sizes are not given (default 0.8, 0.1, 0.1).
        fold_column: column of ``fold``.
        val_folds: fold values that are validation.
        test_folds: fold values that are test (other folds are training).
        split_column: column of ``column``.
        n_train: ``matformer`` training size (None: ``int(f_train·n)``).
        n_val: ``matformer`` validation size.
        n_test: ``matformer`` test size.
        matbench_fold: test fold k of ``matbench`` (0–4).
        matbench_val_fraction: part of the other folds used for validation.
    """

    method: str = "auto"
    seed: int | None = None
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    fold_column: str = "formula_fold"
    val_folds: tuple[int, ...] = (7,)
    test_folds: tuple[int, ...] = (8,)
    split_column: str = "split"
    n_train: int | None = None
    n_val: int | None = None
    n_test: int | None = None
    matbench_fold: int = 0
    matbench_val_fraction: float = 0.2

    def as_dict(self) -> dict:
        """Plain-data form (for run metadata)."""
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


@dataclasses.dataclass
class PropertyTable:
    """Structures with one scalar target each (module docstring).

    Attributes:
        path: file(s) the rows came from.
        format: ``csv``, ``json``, ``jarvis``, ``matbench`` or ``mixed``.
        target: target column.
        units: units of the target (``""`` when unknown).
        ids: (S,) row ids.
        structures: (S,) structure sources.
        y: (S,) targets, float64.
        rows: (S,) 0-based data row of each entry in its file.
        files: (S,) file of each entry.
        split: (S,) ``"train"``, ``"val"``, ``"test"`` or ``""``.
        columns: other scalar columns (e.g. ``formula_fold``), (S,) arrays.
        skipped: rows left out while loading, with reasons.
        split_spec: how ``split`` was made (plain data).
    """

    path: str
    format: str
    target: str
    units: str
    ids: list[str]
    structures: list
    y: np.ndarray
    rows: np.ndarray
    files: list[str]
    split: np.ndarray
    columns: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    skipped: list[SkippedRow] = dataclasses.field(default_factory=list)
    split_spec: dict = dataclasses.field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def indices(self, split: str) -> np.ndarray:
        """Row indices of a split (``"all"``: every labelled row)."""
        if split == "all":
            return np.flatnonzero(self.split != "")
        if split not in SPLITS:
            raise XtalkitError(f"unknown split {split!r}; choose from train, val, test, all")
        return np.flatnonzero(self.split == split)

    def subset(self, index: np.ndarray | Sequence[int]) -> PropertyTable:
        """A table with only the given rows (skipped rows are kept for the report)."""
        idx = np.asarray(index, dtype=np.int64)
        return dataclasses.replace(
            self,
            ids=[self.ids[i] for i in idx],
            structures=[self.structures[i] for i in idx],
            y=self.y[idx],
            rows=self.rows[idx],
            files=[self.files[i] for i in idx],
            split=self.split[idx],
            columns={k: v[idx] for k, v in self.columns.items()},
        )

    def select(self, split: str) -> PropertyTable:
        """The rows of one split."""
        return self.subset(self.indices(split))

    def split_sizes(self) -> dict[str, int]:
        """Rows per split label."""
        return {s: int((self.split == s).sum()) for s in SPLITS}

    def crystals(self) -> tuple[list[Crystal], np.ndarray, list[SkippedRow]]:
        """Read every structure: ``(crystals, kept row indices, failures)``."""
        out, kept, failed = [], [], []
        for i, src in enumerate(self.structures):
            try:
                out.append(structure_to_crystal(src))
                kept.append(i)
            except (CrystalError, ValueError) as exc:
                failed.append(self.skip_record(i, str(exc)))
        return out, np.array(kept, dtype=np.int64), failed

    def skip_record(self, i: int, reason: str) -> SkippedRow:
        """A :class:`SkippedRow` for entry ``i`` of this table."""
        return SkippedRow(self.files[i], int(self.rows[i]), self.ids[i], " ".join(str(reason).split()))


# ------------------------------------------------------------------------------------------- reading
def _open_text(path: Path) -> str:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return raw.decode("utf-8")


def _detect_format(path: Path, doc) -> str:
    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    if isinstance(doc, dict) and {"columns", "data"} <= set(doc):
        return "matbench"
    if isinstance(doc, list) and doc and isinstance(doc[0], dict):
        atoms = doc[0].get("atoms")
        if isinstance(atoms, dict) and is_jarvis_atoms(atoms):
            return "jarvis"
        return "json"
    raise XtalkitError(f"{path}: not a table of structures (CSV, JSON records, JARVIS or Matbench JSON)")


def _parse_target(value) -> tuple[float | None, str]:
    if value is None:
        return None, "missing target"
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in ("", "na", "nan", "none", "null"):
            return None, "missing target"
        try:
            value = float(text)
        except ValueError:
            return None, f"target {text[:30]!r} is not a number"
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None, f"target of type {type(value).__name__} is not a number"
    if math.isnan(x):
        return None, "missing target"
    if not math.isfinite(x):
        return None, f"target {x} is not finite"
    return x, ""


def _structure_source(value, base: Path):
    """``(source, problem)`` for a structure cell of a table."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None, "no structure"
    if isinstance(value, dict):
        return value, ""
    if not isinstance(value, str):
        return None, f"structure of type {type(value).__name__} is not CIF text, a path or a dict"
    if not value.strip():
        return None, "no structure"
    if looks_like_cif(value):
        return value, ""
    p = Path(value.strip())
    if not p.is_absolute():
        p = base / p
    if not p.is_file():
        return None, f"CIF file not found: {value.strip()}"
    return p, ""


def _pick(columns: Sequence[str], candidates: Sequence[str], what: str, path: Path, given: str | None):
    if given is not None:
        if given not in columns:
            raise XtalkitError(
                f"{path}: no {what} column {given!r} (columns: {', '.join(map(str, columns))})"
            )
        return given
    for c in candidates:
        if c in columns:
            return c
    return None


def _records_table(
    path: Path,
    fmt: str,
    ids: list,
    structure_values: list,
    target_values: list,
    target: str,
    columns: dict[str, list],
) -> PropertyTable:
    base = path.parent
    keep_ids, keep_src, keep_y, keep_rows, skipped = [], [], [], [], []
    keep_mask = np.zeros(len(ids), bool)
    for i, (ident, sv, tv) in enumerate(zip(ids, structure_values, target_values, strict=True)):
        ident = str(ident)
        y, problem = _parse_target(tv)
        src = None
        if y is not None:
            src, problem = _structure_source(sv, base)
        if src is None:
            skipped.append(SkippedRow(str(path), i, ident, problem))
            continue
        keep_mask[i] = True
        keep_ids.append(ident)
        keep_src.append(src)
        keep_y.append(y)
        keep_rows.append(i)
    extra = {}
    for name, values in columns.items():
        arr = np.asarray(values, dtype=object)[keep_mask]
        try:
            arr = arr.astype(float)
        except (TypeError, ValueError):
            arr = arr.astype(str)
        extra[name] = arr
    n = len(keep_ids)
    return PropertyTable(
        path=str(path),
        format=fmt,
        target=target,
        units=units_of(target),
        ids=keep_ids,
        structures=keep_src,
        y=np.asarray(keep_y, dtype=np.float64),
        rows=np.asarray(keep_rows, dtype=np.int64),
        files=[str(path)] * n,
        split=np.full(n, "", dtype=object),
        columns=extra,
        skipped=skipped,
    )


def _read_csv(path: Path, target: str | None, structure_column: str | None, id_column: str | None):
    import pandas as pd

    try:
        df = pd.read_csv(path, keep_default_na=False, dtype=str)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise XtalkitError(f"{path}: cannot read CSV ({str(exc).splitlines()[0]})") from None
    return _from_records(
        path, "csv", df.to_dict("list"), list(df.columns), target, structure_column, id_column
    )


def _from_records(path, fmt, cols: dict, names: list, target, structure_column, id_column) -> PropertyTable:
    s_col = _pick(names, STRUCTURE_COLUMNS, "structure", path, structure_column)
    if s_col is None:
        raise XtalkitError(f"{path}: no structure column (one of {', '.join(STRUCTURE_COLUMNS[:-1])})")
    i_col = _pick(names, ID_COLUMNS, "id", path, id_column)
    if target is None:
        raise XtalkitError(f"{path}: name the target column (columns: {', '.join(map(str, names))})")
    if target not in names:
        raise XtalkitError(f"{path}: no target column {target!r} (columns: {', '.join(map(str, names))})")
    n = len(cols[s_col])
    ids = cols[i_col] if i_col is not None else [str(i) for i in range(n)]
    others = {
        c: v
        for c, v in cols.items()
        if c not in (s_col, target, i_col) and all(not isinstance(x, dict | list) for x in v[:5])
    }
    return _records_table(path, fmt, ids, cols[s_col], cols[target], target, others)


def load_table(
    path: str | os.PathLike,
    target: str | None,
    *,
    format: str = "auto",
    structure_column: str | None = None,
    id_column: str | None = None,
    split: SplitSpec | str | None = "auto",
) -> PropertyTable:
    """Read a table of structures and targets (module docstring) and assign a split.

    Args:
        path: ``.csv``, ``.csv.gz``, ``.json`` or ``.json.gz`` file.
        target: target column; may be None for a Matbench file (its only target).
        format: ``auto``, ``csv``, ``json``, ``jarvis`` or ``matbench``.
        structure_column: column holding the structures (default: first of
            :data:`STRUCTURE_COLUMNS` present).
        id_column: column holding row ids (default: first of :data:`ID_COLUMNS`, else the row number).
        split: a :class:`SplitSpec`, a method name, or None (no split: every label ``""``).

    Returns:
        The :class:`PropertyTable`; bad rows are in ``skipped``.

    Raises:
        XtalkitError: unreadable file, unknown format or missing columns (one line).
    """
    path = Path(path)
    if format not in _FORMATS:
        raise XtalkitError(f"unknown table format {format!r}; choose from {', '.join(_FORMATS)}")
    if not path.is_file():
        raise XtalkitError(f"{path}: no such file")
    if format == "csv" or (format == "auto" and path.name.lower().endswith((".csv", ".csv.gz"))):
        table = _read_csv(path, target, structure_column, id_column)
    else:
        try:
            doc = json.loads(_open_text(path))
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise XtalkitError(f"{path}: not readable JSON ({type(exc).__name__})") from None
        fmt = _detect_format(path, doc) if format == "auto" else format
        if fmt == "matbench":
            table = _read_matbench(path, doc, target)
        elif fmt in ("json", "jarvis"):
            if not isinstance(doc, list) or not all(isinstance(r, dict) for r in doc):
                raise XtalkitError(f"{path}: expected a JSON list of records")
            names = list(dict.fromkeys(k for r in doc for k in r))
            cols = {k: [r.get(k) for r in doc] for k in names}
            if fmt == "jarvis":
                structure_column = structure_column or "atoms"
                id_column = id_column or ("jid" if "jid" in names else None)
                cols = {k: v for k, v in cols.items() if k in (structure_column, id_column, target)}
                names = list(cols)
            table = _from_records(path, fmt, cols, names, target, structure_column, id_column)
        else:
            raise XtalkitError(f"{path}: format {fmt!r} is not a JSON format")
    if split is not None:
        assign_split(table, split)
    return table


def _read_matbench(path: Path, doc: dict, target: str | None) -> PropertyTable:
    columns = [str(c) for c in doc.get("columns", [])]
    if "structure" not in columns:
        raise XtalkitError(f"{path}: Matbench file without a 'structure' column")
    targets = [c for c in columns if c != "structure"]
    if target is None:
        if len(targets) != 1:
            raise XtalkitError(f"{path}: name the target column (columns: {', '.join(targets)})")
        target = targets[0]
    if target not in columns:
        raise XtalkitError(f"{path}: no target column {target!r} (columns: {', '.join(targets)})")
    data = doc["data"]
    s, t = columns.index("structure"), columns.index(target)
    index = doc.get("index") or list(range(len(data)))
    return _records_table(path, "matbench", index, [r[s] for r in data], [r[t] for r in data], target, {})


# -------------------------------------------------------------------------------------------- splits
def assign_split(table: PropertyTable, spec: SplitSpec | str = "auto") -> PropertyTable:
    """Fill ``table.split`` (in place) by ``spec``; returns the table.

    Raises:
        XtalkitError: for an unknown method or a missing split column.
    """
    spec = SplitSpec(method=spec) if isinstance(spec, str) else dataclasses.replace(spec)
    method = spec.method
    n = len(table)
    if method == "auto":
        if table.format == "jarvis":
            method = "matformer"
        elif table.format == "matbench":
            method = "matbench"
        elif spec.fold_column in table.columns:
            method = "fold"
        elif spec.split_column in table.columns:
            method = "column"
        else:
            method = "random"
    if method == "all":
        labels = np.full(n, "train", dtype=object)
    elif method == "random":
        spec.seed = 0 if spec.seed is None else spec.seed
        labels = random_split(n, spec.fractions, spec.seed)
    elif method == "matformer":
        spec.seed = MATFORMER_SEED if spec.seed is None else spec.seed
        labels = matformer_split(n, spec.n_train, spec.n_val, spec.n_test, spec.seed, spec.fractions)
    elif method == "matbench":
        if not 0 <= spec.matbench_fold < MATBENCH_FOLDS:
            raise XtalkitError(f"matbench fold must be 0-{MATBENCH_FOLDS - 1}")
        spec.seed = 0 if spec.seed is None else spec.seed
        fold = matbench_folds(n)
        labels = np.full(n, "train", dtype=object)
        labels[fold == spec.matbench_fold] = "test"
        rest = np.flatnonzero(fold != spec.matbench_fold)
        n_val = round(spec.matbench_val_fraction * len(rest))
        perm = np.random.default_rng(spec.seed).permutation(len(rest))
        labels[rest[perm[:n_val]]] = "val"
    elif method == "fold":
        if spec.fold_column not in table.columns:
            raise XtalkitError(f"{table.path}: no fold column {spec.fold_column!r}")
        folds = np.asarray(table.columns[spec.fold_column], dtype=float)
        labels = np.full(n, "train", dtype=object)
        labels[np.isin(folds, spec.val_folds)] = "val"
        labels[np.isin(folds, spec.test_folds)] = "test"
        labels[~np.isfinite(folds)] = ""
    elif method == "column":
        if spec.split_column not in table.columns:
            raise XtalkitError(f"{table.path}: no split column {spec.split_column!r}")
        raw = [str(v).strip().lower() for v in table.columns[spec.split_column]]
        labels = np.array([_SPLIT_ALIASES.get(v, "") for v in raw], dtype=object)
    else:
        raise XtalkitError(
            f"unknown split method {method!r}; "
            "choose from auto, fold, column, random, matformer, matbench, all"
        )
    spec.method = method
    table.split = labels
    table.split_spec = spec.as_dict()
    return table


def concat_tables(tables: Sequence[PropertyTable]) -> PropertyTable:
    """Rows of several tables of the same target, one after the other (labels kept)."""
    if not tables:
        raise XtalkitError("no tables to join")
    first = tables[0]
    if any(t.target != first.target for t in tables):
        raise XtalkitError("tables with different targets cannot be joined")
    common = set.intersection(*(set(t.columns) for t in tables))
    return PropertyTable(
        path=", ".join(t.path for t in tables),
        format=first.format if all(t.format == first.format for t in tables) else "mixed",
        target=first.target,
        units=first.units,
        ids=[i for t in tables for i in t.ids],
        structures=[s for t in tables for s in t.structures],
        y=np.concatenate([t.y for t in tables]),
        rows=np.concatenate([t.rows for t in tables]),
        files=[f for t in tables for f in t.files],
        split=np.concatenate([t.split for t in tables]),
        columns={k: np.concatenate([np.asarray(t.columns[k]) for t in tables]) for k in sorted(common)},
        skipped=[s for t in tables for s in t.skipped],
        split_spec={"method": "files", "files": {t.path: sorted(set(t.split.tolist())) for t in tables}},
    )


_TABLE_SUFFIXES = (".csv", ".csv.gz", ".json", ".json.gz")


def split_files(directory: str | os.PathLike) -> dict[str, Path]:
    """``{"train"|"val"|"test": file}`` of a directory of split tables (``val`` may be ``valid``...)."""
    d = Path(directory)
    found: dict[str, Path] = {}
    for p in sorted(d.iterdir()):
        name = p.name.lower()
        for suffix in _TABLE_SUFFIXES:
            if name.endswith(suffix):
                label = _SPLIT_ALIASES.get(name[: -len(suffix)])
                if label and label not in found:
                    found[label] = p
    return found


def load_splits(
    data: str | os.PathLike,
    target: str | None,
    *,
    split: SplitSpec | str = "auto",
    val_data: str | os.PathLike | None = None,
    test_data: str | os.PathLike | None = None,
    format: str = "auto",
) -> PropertyTable:
    """Rows of one dataset with split labels, from a file, a directory of split files, or given files.

    Args:
        data: a table file (split by ``split``), or a directory with ``train``/``val``/``test``
            tables (labelled by file).
        target: target column.
        split: split of a single file.
        val_data: validation table; then ``data`` is all training (and ``split`` is ignored).
        test_data: test table (with ``val_data``, or alone to add a test set to a split file).
        format: table format (see :func:`load_table`).

    Returns:
        One :class:`PropertyTable` with labels in ``split``.
    """
    d = Path(data)
    if d.is_dir():
        files = split_files(d)
        if "train" not in files:
            raise XtalkitError(f"{d}: no train.csv(.gz)/train.json(.gz) in this directory")
        parts = []
        for label in SPLITS:
            if label in files:
                t = load_table(files[label], target, format=format, split=None)
                t.split = np.full(len(t), label, dtype=object)
                parts.append(t)
        return concat_tables(parts)
    if val_data is not None:
        parts = []
        for label, p in (("train", d), ("val", val_data), ("test", test_data)):
            if p is None:
                continue
            t = load_table(p, target, format=format, split=None)
            t.split = np.full(len(t), label, dtype=object)
            parts.append(t)
        return concat_tables(parts)
    table = load_table(d, target, format=format, split=split)
    if test_data is not None:
        table.split[table.split == "test"] = ""
        extra = load_table(test_data, target, format=format, split=None)
        extra.split = np.full(len(extra), "test", dtype=object)
        spec = table.split_spec
        table = concat_tables([table, extra])
        table.split_spec = {**spec, "test_file": str(test_data)}
    return table
