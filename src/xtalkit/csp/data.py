r"""Distance-matrix datasets for AlphaCrystal-II (preprint §3.1, the "Mp_12" set), cached as one ``.npz``.

A table of structures (:func:`xtalkit.data.tables.load_table`: CSV/JSON with a
structure column, e.g. ``mp.csv.gz`` with ``material_id``, ``cif`` and
``formula_fold``) becomes one :class:`DistanceDataset`: per row the 12 × 11
composition features, the 12 × 12 distance-matrix target (Å, padded, rows in the
encoding order of :mod:`xtalkit.csp.encoding`), and the symmetry of the
structure (space group and conventional lattice) for the lattice and
space-group predictors (:mod:`xtalkit.csp.lattice`).

Definitions (the paper says "compounds with a maximum of 12 atoms in the formula"):

* **Rows.** A row is kept when its structure is ordered, has 2 to ``max_atoms``
  (12) atoms in the cell *as stored in the table* (for ``mp.csv.gz`` the
  Materials Project cell, usually primitive) and its symmetry can be analysed
  (:func:`xtalkit.csp.reconstruct.standard_setting`, spglib/pyxtal at
  ``symprec`` Å). One-atom cells have no atom pair and are left out. Every
  other row is listed in ``meta["skipped"]`` with its reason.
* **Symmetry of every kept row.** ``space_group`` (international number),
  ``lattice`` = (a, b, c, α, β, γ) in Å and degrees of the *conventional* cell
  in pyxtal's standard setting (the setting
  :func:`~xtalkit.csp.reconstruct.reconstruct` builds structures in),
  ``conventional_atoms`` its number of atoms, ``crystal_system`` the index in
  :data:`CRYSTAL_SYSTEMS`.
* **Distance target** of the ``cell`` convention:

  - ``"conventional"`` (default; what the CSP pipeline needs, because
    reconstruction works in the conventional cell): the target is the distance
    matrix of the conventional standard cell. Rows whose conventional cell has
    more than ``max_atoms`` atoms (e.g. rock salt, 8 atoms in Fm-3m's cell, is
    fine; a 6-atom primitive F-centred cell gives 24) keep their symmetry but
    get ``has_target = False``.
  - ``"file"``: the distance matrix of the cell as stored in the table (the
    paper's Mp_12 literally; used by the Table 5 benchmark; about 12 200 rows of
    ``mp.csv.gz``, 9 500 in the training folds).

  Minimum-image distances do not depend on the choice of basis of one lattice,
  so the two conventions differ only for centred lattices (A/B/C, I, F, R).
* **Splits** come from the table (:class:`~xtalkit.data.tables.SplitSpec`;
  ``mp.csv.gz``: ``formula_fold`` 0–6 train, 7 validation, 8 test).

Cache. The dataset is written to one ``.npz`` (no pickled objects; strings as
numpy unicode arrays, metadata as a JSON string) named by a SHA-256 key of the
table contents (row ids, :func:`~xtalkit.data.tables.structure_digest` of every
structure, split labels) and of the settings (``cell``, ``max_atoms``,
``symprec``, ``rows``, a format version), in ``cache_dir`` (default
``$XTALKIT_CACHE_DIR/csp`` or ``~/.cache/xtalkit/features/csp``). A second
build with the same table and settings reads the file instead of analysing the
structures again (``mp.csv.gz``: about 25 ms per structure on one core, ≈ 5
minutes for the 12 200 rows of ≤ 12 atoms).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from xtalkit.csp.encoding import MAX_ATOMS, NUM_FEATURES, distance_target, pair_mask
from xtalkit.elements import Z_MAX
from xtalkit.errors import XtalkitError
from xtalkit.io import atomic_write

FORMAT_VERSION = 1
"""Bump when the cached arrays change meaning; old cache files are then ignored."""

CRYSTAL_SYSTEMS: tuple[str, ...] = (
    "triclinic",
    "monoclinic",
    "orthorhombic",
    "tetragonal",
    "trigonal",
    "hexagonal",
    "cubic",
)
"""Crystal systems in order of increasing symmetry; ``crystal_system`` arrays index into this."""

_SYSTEM_LAST_GROUP = (2, 15, 74, 142, 167, 194, 230)
CELLS = ("conventional", "file")


def crystal_system(space_group: int) -> str:
    """Crystal system of an international space-group number (1-230).

    Raises:
        XtalkitError: if the number is outside 1-230.
    """
    g = int(space_group)
    if not 1 <= g <= 230:
        raise XtalkitError(f"space group must be 1-230, got {space_group}")
    return CRYSTAL_SYSTEMS[int(np.searchsorted(_SYSTEM_LAST_GROUP, g))]


def crystal_system_index(space_groups) -> np.ndarray:
    """(S,) index into :data:`CRYSTAL_SYSTEMS` of (S,) space-group numbers (1-230)."""
    g = np.asarray(space_groups, dtype=int)
    if g.size and (g.min() < 1 or g.max() > 230):
        raise XtalkitError("space groups must be 1-230")
    return np.searchsorted(np.array(_SYSTEM_LAST_GROUP), g).astype(np.int64)


@dataclasses.dataclass(eq=False)
class DistanceDataset:
    """Distance-matrix targets and symmetry of the rows of a table (module docstring).

    Attributes:
        ids: (S,) row ids.
        formulas: (S,) cell formula of the target cell in encoding order (``"Na4Cl4"``),
            ``""`` where there is no target.
        reduced_formulas: (S,) reduced formula (pymatgen), e.g. ``"NaCl"``.
        split: (S,) ``"train"``, ``"val"``, ``"test"`` or ``""``.
        features: (S, 12, 11) float32 composition features of the target cell.
        mask: (S, 12) bool atom mask of the target cell.
        distances: (S, 12, 12) float64 target distances, Å, zero outside valid pairs.
        has_target: (S,) bool, the row has a distance target (``cell`` convention).
        cell_numbers: (S, 12) atomic numbers of the table's cell (0 = padding), for
            composition features of every row.
        space_group: (S,) international number of the structure.
        lattice: (S, 6) conventional-cell (a, b, c, α, β, γ), Å and degrees, pyxtal setting.
        conventional_atoms: (S,) atoms in that conventional cell.
        file_atoms: (S,) atoms in the table's cell.
        crystal_system: (S,) index into :data:`CRYSTAL_SYSTEMS`.
        meta: plain data: source, settings, cache key, skipped rows with reasons.
    """

    ids: np.ndarray
    formulas: np.ndarray
    reduced_formulas: np.ndarray
    split: np.ndarray
    features: np.ndarray
    mask: np.ndarray
    distances: np.ndarray
    has_target: np.ndarray
    cell_numbers: np.ndarray
    space_group: np.ndarray
    lattice: np.ndarray
    conventional_atoms: np.ndarray
    file_atoms: np.ndarray
    crystal_system: np.ndarray
    meta: dict

    _ARRAYS = (
        "ids",
        "formulas",
        "reduced_formulas",
        "split",
        "features",
        "mask",
        "distances",
        "has_target",
        "cell_numbers",
        "space_group",
        "lattice",
        "conventional_atoms",
        "file_atoms",
        "crystal_system",
    )

    def __len__(self) -> int:
        return int(self.ids.size)

    @property
    def pair_mask(self) -> np.ndarray:
        """(S, 12, 12) valid pairs (both atoms present, i ≠ j; none for rows without target)."""
        return pair_mask(self.mask) & self.has_target[:, None, None]

    @property
    def cell(self) -> str:
        """The target cell convention, ``"conventional"`` or ``"file"``."""
        return str(self.meta.get("cell", "conventional"))

    def indices(self, split: str = "all", *, targets_only: bool = True) -> np.ndarray:
        """Row indices of a split (``"all"``: every row), optionally only rows with a distance target."""
        if split == "all":
            keep = np.ones(len(self), dtype=bool)
        elif split in ("train", "val", "test"):
            keep = self.split == split
        else:
            raise XtalkitError(f"unknown split {split!r}; choose from train, val, test, all")
        if targets_only:
            keep = keep & self.has_target
        return np.flatnonzero(keep)

    def subset(self, index) -> DistanceDataset:
        """A dataset with only the given rows (``meta`` is shared)."""
        idx = np.asarray(index, dtype=np.int64)
        return dataclasses.replace(self, **{k: getattr(self, k)[idx] for k in self._ARRAYS})

    def element_counts(self) -> np.ndarray:
        """(S, 103) atoms of each element (index Z − 1) in the table's cell of every row."""
        counts = np.zeros((len(self), Z_MAX))
        rows, cols = np.nonzero(self.cell_numbers)
        np.add.at(counts, (rows, self.cell_numbers[rows, cols] - 1), 1.0)
        return counts

    def number_of_elements(self) -> np.ndarray:
        """(S,) distinct elements per row (2 = binary, 3 = ternary, ...)."""
        return (self.element_counts() > 0).sum(axis=1)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the dataset as one ``.npz`` atomically (readable with ``allow_pickle=False``)."""
        arrays = {k: getattr(self, k) for k in self._ARRAYS}
        for k in ("ids", "formulas", "reduced_formulas", "split"):
            arrays[k] = np.asarray(arrays[k], dtype=str)
        arrays["meta_json"] = np.array(json.dumps(self.meta))
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        return atomic_write(path, buf.getvalue())

    @classmethod
    def load(cls, path: str | os.PathLike) -> DistanceDataset:
        """Read a dataset written by :meth:`save`.

        Raises:
            XtalkitError: missing or unreadable file, or another format version.
        """
        path = Path(path)
        if not path.is_file():
            raise XtalkitError(f"{path}: no such dataset file")
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in (*cls._ARRAYS, "meta_json")}
        except Exception as exc:
            raise XtalkitError(f"{path}: not a distance-matrix dataset ({type(exc).__name__})") from None
        meta = json.loads(str(arrays.pop("meta_json")))
        if meta.get("version") != FORMAT_VERSION:
            raise XtalkitError(f"{path}: dataset format {meta.get('version')}, expected {FORMAT_VERSION}")
        return cls(**arrays, meta=meta)


def _process_row(args: tuple) -> dict | str:
    """One table row → arrays (dict) or the reason it is skipped (str)."""
    source, cell, max_atoms, symprec = args
    from xtalkit.csp.reconstruct import standard_setting
    from xtalkit.data.tables import structure_to_crystal

    try:
        structure = structure_to_crystal(source).to_pymatgen()
    except XtalkitError as exc:
        return f"unreadable structure: {exc}"
    except Exception as exc:  # parsers of third-party formats
        return f"unreadable structure: {type(exc).__name__}: {exc}"
    if not structure.is_ordered:
        return "disordered sites"
    n = len(structure)
    if n > max_atoms:
        return f"{n} atoms in the cell, more than {max_atoms}"
    if n < 2:
        return "one atom in the cell: no atom pair"
    try:
        conventional, sg = standard_setting(structure, symprec=symprec, max_atoms=10**6)
    except XtalkitError as exc:
        return str(exc)
    numbers = np.zeros(max_atoms, dtype=np.int16)
    numbers[:n] = sorted(site.specie.Z for site in structure)
    out = {
        "reduced_formula": structure.composition.reduced_formula,
        "cell_numbers": numbers,
        "space_group": int(sg),
        "lattice": np.array(conventional.lattice.parameters, dtype=float),
        "conventional_atoms": len(conventional),
        "file_atoms": n,
        "target": None,
    }
    target_cell = conventional if cell == "conventional" else structure
    if len(target_cell) <= max_atoms:
        try:
            out["target"] = distance_target(target_cell, max_atoms)
        except XtalkitError as exc:
            return str(exc)
    return out


def _cache_key(table, cell: str, max_atoms: int, symprec: float, rows) -> str:
    from xtalkit.data.tables import structure_digest

    h = hashlib.sha256()
    h.update(
        json.dumps(
            {
                "v": FORMAT_VERSION,
                "cell": cell,
                "max_atoms": max_atoms,
                "symprec": symprec,
                "rows": None if rows is None else [int(r) for r in rows],
            }
        ).encode()
    )
    for ident, src, split in zip(table.ids, table.structures, table.split, strict=True):
        h.update(str(ident).encode() + b"\0" + str(split).encode() + b"\0")
        h.update(structure_digest(src).encode())
    return h.hexdigest()


def default_cache_dir() -> Path:
    """``<xtalkit feature cache>/csp`` (see :func:`xtalkit.data.property_cache.default_cache_dir`)."""
    from xtalkit.data.property_cache import default_cache_dir as features_dir

    return features_dir() / "csp"


def build_dataset(
    data,
    *,
    target: str = "formation_energy_per_atom",
    cell: str = "conventional",
    max_atoms: int = MAX_ATOMS,
    symprec: float = 0.01,
    rows: Sequence[int] | None = None,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    workers: int = 1,
    progress: bool = False,
) -> DistanceDataset:
    """Distance-matrix dataset of a table (module docstring), read from or written to the cache.

    Args:
        data: table file (``mp.csv.gz``; see :func:`xtalkit.data.tables.load_table`) or a
            loaded :class:`~xtalkit.data.tables.PropertyTable` with split labels.
        target: a numeric column the table loader requires (rows where it is missing are
            dropped by the loader); it is not used otherwise.
        cell: ``"conventional"`` or ``"file"`` target cell (module docstring).
        max_atoms: L, largest number of atoms per cell (paper: 12).
        symprec: Å, symmetry tolerance of the space-group analysis.
        rows: only these row indices of the loaded table (e.g. a quick subset); None: all.
        cache_dir: cache directory (None: :func:`default_cache_dir`).
        use_cache: read/write the cache; False builds in memory only.
        workers: processes analysing structures (1: in this process).
        progress: tqdm progress bar on stderr.

    Returns:
        The dataset; ``meta["path"]`` is the cache file (None without cache).

    Raises:
        XtalkitError: unreadable table, unknown ``cell``, or no usable row.
    """
    from xtalkit.data.tables import PropertyTable, load_table

    if cell not in CELLS:
        raise XtalkitError(f"cell must be one of {', '.join(CELLS)}, got {cell!r}")
    table = data if isinstance(data, PropertyTable) else load_table(data, target)
    if rows is not None:
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= len(table)):
            raise XtalkitError(f"row indices must be in 0..{len(table) - 1}")
        table = table.subset(rows)
    key = _cache_key(table, cell, max_atoms, symprec, rows)
    path = None
    if use_cache:
        path = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        path = path / f"distmat_{cell}_{key[:20]}.npz"
        if path.is_file():
            try:
                ds = DistanceDataset.load(path)
            except XtalkitError:
                ds = None
            if ds is not None and ds.meta.get("key") == key:
                return ds

    skipped = [{"id": r.id, "row": int(r.row), "reason": r.reason} for r in getattr(table, "skipped", [])]
    # rows known (column nsites) to exceed max_atoms are skipped before parsing their structure
    nsites = table.columns.get("nsites")
    todo = []
    for i in range(len(table.structures)):
        if nsites is not None and np.isfinite(nsites[i]) and nsites[i] > max_atoms:
            reason = f"{int(nsites[i])} atoms in the cell, more than {max_atoms}"
            skipped.append({"id": table.ids[i], "row": int(table.rows[i]), "reason": reason})
            continue
        todo.append(i)
    jobs = [(table.structures[i], cell, max_atoms, symprec) for i in todo]
    results = _run_jobs(jobs, workers, progress)

    keep, rec = [], []
    for i, res in zip(todo, results, strict=True):
        if isinstance(res, str):
            skipped.append({"id": table.ids[i], "row": int(table.rows[i]), "reason": res})
            continue
        keep.append(i)
        rec.append(res)
    if not rec:
        raise XtalkitError(f"{table.path}: no usable structure with 2-{max_atoms} atoms per cell")
    S = len(rec)
    features = np.zeros((S, max_atoms, NUM_FEATURES), dtype=np.float32)
    mask = np.zeros((S, max_atoms), dtype=bool)
    distances = np.zeros((S, max_atoms, max_atoms))
    formulas = []
    for k, r in enumerate(rec):
        t = r["target"]
        if t is None:
            formulas.append("")
            continue
        features[k] = t.encoding.features
        mask[k] = t.encoding.mask
        distances[k] = t.distances
        formulas.append(t.encoding.formula)
    split = np.asarray([str(table.split[i]) for i in keep], dtype=str)
    space_group = np.array([r["space_group"] for r in rec], dtype=np.int64)
    meta = {
        "version": FORMAT_VERSION,
        "key": key,
        "source": str(table.path),
        "cell": cell,
        "max_atoms": int(max_atoms),
        "symprec": float(symprec),
        "rows": None if rows is None else [int(r) for r in rows],
        "split_spec": getattr(table, "split_spec", {}),
        "n_table_rows": len(table),
        "skipped": skipped,
        "path": None if path is None else str(path),
    }
    ds = DistanceDataset(
        ids=np.asarray([str(table.ids[i]) for i in keep], dtype=str),
        formulas=np.asarray(formulas, dtype=str),
        reduced_formulas=np.asarray([r["reduced_formula"] for r in rec], dtype=str),
        split=split,
        features=features,
        mask=mask,
        distances=distances,
        has_target=np.array([r["target"] is not None for r in rec], dtype=bool),
        cell_numbers=np.stack([r["cell_numbers"] for r in rec]),
        space_group=space_group,
        lattice=np.stack([r["lattice"] for r in rec]),
        conventional_atoms=np.array([r["conventional_atoms"] for r in rec], dtype=np.int64),
        file_atoms=np.array([r["file_atoms"] for r in rec], dtype=np.int64),
        crystal_system=crystal_system_index(space_group),
        meta=meta,
    )
    if path is not None:
        ds.save(path)
    return ds


def _run_jobs(jobs: list, workers: int, progress: bool) -> list:
    """Run :func:`_process_row` over jobs, in this process or a pool, with an optional progress bar."""
    import sys

    from tqdm import tqdm

    bar = tqdm(total=len(jobs), desc="structures", unit="struct", disable=not progress, file=sys.stderr)
    try:
        if workers <= 1 or len(jobs) < 2:
            out = []
            for job in jobs:
                out.append(_process_row(job))
                bar.update()
            return out
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(workers) as pool:
            out = []
            for res in pool.imap(_process_row, jobs, chunksize=16):
                out.append(res)
                bar.update()
            return out
    finally:
        bar.close()
