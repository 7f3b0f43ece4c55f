"""Sharded on-disk storage of crystals with ADP targets.

A dataset directory holds::

    manifest.json           format, version, sources, filter settings, shard list
    report.json, report.md  what each filter removed
    shards/<name>/          one shard: plain .npy arrays (memory-mapped on read)
    splits/{train,val,test}.txt   structure ids, one per line

A shard stores structures back to back, so loading needs no per-sample
pickles and a 200,000-structure dataset is a few hundred shards read lazily
with ``numpy.load(mmap_mode="r")``. Per-atom arrays (``A`` atoms in the shard):
``numbers`` (int16), ``frac`` (float64, 3), ``U`` (float64, 6 components of
U_cart in the order 11, 22, 33, 12, 13, 23, Å², NaN when absent), ``scored``
(bool: the atom has a target). Per-structure arrays (``S`` structures):
``atom_offsets`` (S + 1), ``lattice`` (S, 3, 3) Å rows, ``temperature`` (K),
``ids``, ``formula``, ``flags`` (comma-separated), ``cell_signature`` (S, 4):
Niggli-reduced a ≤ b ≤ c (Å) and volume per atom (Å³), used to keep repeated
structures on one side of a split.

A shard is written to a temporary directory and renamed into place, so an
interrupted build leaves either a complete shard or none.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xtalkit.crystal import adp
from xtalkit.crystal.core import Crystal
from xtalkit.errors import XtalkitError

FORMAT = "xtalkit-adp-dataset"
VERSION = 1
SPLITS = ("train", "val", "test")

_ATOM_ARRAYS = ("numbers", "frac", "U", "scored")
_STRUCT_ARRAYS = (
    "atom_offsets",
    "lattice",
    "temperature",
    "ids",
    "formula",
    "flags",
    "cell_signature",
)


def cell_signature(crystal: Crystal) -> np.ndarray:
    """Sorted Niggli-reduced lengths (Å) and volume per atom (Å³) of a crystal, shape (4,)."""
    from xtalkit.geometry.matrices import reduced_basis

    red, _ = reduced_basis(crystal.lattice)
    lengths = np.sort(np.linalg.norm(red, axis=1))
    return np.array([*lengths, crystal.volume / max(len(crystal), 1)])


def write_shard(directory: Path, crystals: list[Crystal], ids: list[str]) -> None:
    """Write crystals (with their ADPs as targets for non-H atoms) as one shard, atomically."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    counts = [len(c) for c in crystals]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    arrays: dict[str, np.ndarray] = {
        "atom_offsets": offsets,
        "lattice": np.array([c.lattice for c in crystals]).reshape(-1, 3, 3),
        "temperature": np.array([np.nan if c.temperature is None else c.temperature for c in crystals]),
        "ids": np.array(ids, dtype=str),
        "formula": np.array([c.formula_units[0] for c in crystals], dtype=str),
        "flags": np.array([",".join(sorted(map(str, c.flags))) for c in crystals], dtype=str),
        "cell_signature": np.array([cell_signature(c) for c in crystals]).reshape(-1, 4),
    }
    if crystals:
        arrays["numbers"] = np.concatenate([c.numbers for c in crystals]).astype(np.int16)
        arrays["frac"] = np.concatenate([c.frac for c in crystals])
        arrays["U"] = np.concatenate([adp.to_components(c.U_cart) for c in crystals])
        arrays["scored"] = np.concatenate([~c.is_hydrogen & c.has_adp for c in crystals])
    else:
        arrays.update(
            numbers=np.zeros(0, np.int16),
            frac=np.zeros((0, 3)),
            U=np.zeros((0, 6)),
            scored=np.zeros(0, bool),
        )
    tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
    try:
        for name, arr in arrays.items():
            np.save(tmp / f"{name}.npy", arr, allow_pickle=False)
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@dataclass
class Sample:
    """One structure read back from a store (numpy arrays, no torch).

    Attributes:
        id: structure id.
        numbers: (n,) atomic numbers.
        frac: (n, 3) fractional coordinates.
        lattice: (3, 3) Å, rows.
        U: (n, 3, 3) Cartesian targets, Å², NaN where absent.
        scored: (n,) atoms with a target.
        temperature: K.
    """

    id: str
    numbers: np.ndarray
    frac: np.ndarray
    lattice: np.ndarray
    U: np.ndarray
    scored: np.ndarray
    temperature: float

    def to_crystal(self) -> Crystal:
        """The sample as a :class:`Crystal` (P1, ADPs on the scored atoms)."""
        types = np.where(self.scored, "Uani", "")
        return Crystal(
            lattice=self.lattice,
            numbers=self.numbers,
            frac=self.frac,
            U_cart=self.U,
            adp_type=types,
            temperature=self.temperature,
            source=self.id,
        )


class _Shard:
    def __init__(self, path: Path):
        self.path = path
        self._arrays: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._arrays:
            self._arrays[name] = np.load(self.path / f"{name}.npy", mmap_mode="r", allow_pickle=False)
        return self._arrays[name]

    def __len__(self) -> int:
        return len(self["atom_offsets"]) - 1


class ADPStore:
    """Read access to a dataset directory written by the ADP dataset builder.

    Args:
        root: dataset directory.
        split: ``"train"``, ``"val"``, ``"test"`` or None for every structure.

    Raises:
        XtalkitError: ``root`` is not a dataset of this format and version, or the split is
            unknown or has no split file.
    """

    def __init__(self, root: str | os.PathLike, split: str | None = None):
        self.root = Path(root)
        manifest_path = self.root / "manifest.json"
        if not manifest_path.is_file():
            raise XtalkitError(f"{self.root}: not an xtalkit ADP dataset (no manifest.json)")
        self.manifest = json.loads(manifest_path.read_text())
        if self.manifest.get("format") != FORMAT or self.manifest.get("version") != VERSION:
            raise XtalkitError(
                f"{self.root}: dataset format {self.manifest.get('format')} v{self.manifest.get('version')}, "
                f"this xtalkit reads {FORMAT} v{VERSION}"
            )
        self.shards = [_Shard(self.root / "shards" / name) for name in self.manifest["shards"]]
        index = [(s, k) for s, shard in enumerate(self.shards) for k in range(len(shard))]
        ids = [str(self.shards[s]["ids"][k]) for s, k in index]
        if split is not None:
            if split not in SPLITS:
                raise XtalkitError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")
            wanted = set(read_split(self.root, split))
            keep = [i for i, name in enumerate(ids) if name in wanted]
            index = [index[i] for i in keep]
            ids = [ids[i] for i in keep]
        self._index = index
        self.ids = ids
        self.split = split

    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, i: int) -> Sample:
        s, k = self._index[i]
        sh = self.shards[s]
        a, b = int(sh["atom_offsets"][k]), int(sh["atom_offsets"][k + 1])
        return Sample(
            id=str(sh["ids"][k]),
            numbers=np.asarray(sh["numbers"][a:b], dtype=np.int64),
            frac=np.asarray(sh["frac"][a:b]),
            lattice=np.asarray(sh["lattice"][k]),
            U=adp.from_components(np.asarray(sh["U"][a:b])),
            scored=np.asarray(sh["scored"][a:b]),
            temperature=float(sh["temperature"][k]),
        )

    def __iter__(self) -> Iterator[Sample]:
        for i in range(len(self)):
            yield self[i]

    def column(self, name: str) -> np.ndarray:
        """A per-structure array over the selected structures (e.g. ``"temperature"``)."""
        return np.array([self.shards[s][name][k] for s, k in self._index])

    def n_atoms(self) -> np.ndarray:
        """(S,) atoms per selected structure."""
        return np.array(
            [
                int(self.shards[s]["atom_offsets"][k + 1] - self.shards[s]["atom_offsets"][k])
                for s, k in self._index
            ]
        )


def read_split(root: str | os.PathLike, split: str) -> list[str]:
    """Structure ids listed in ``splits/<split>.txt`` of a dataset.

    Raises:
        XtalkitError: the file does not exist.
    """
    path = Path(root) / "splits" / f"{split}.txt"
    if not path.is_file():
        raise XtalkitError(f"{root}: no split file splits/{path.name}")
    return [ln for ln in path.read_text().splitlines() if ln.strip()]
