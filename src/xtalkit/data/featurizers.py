r"""Featurizers for property models: a :class:`~xtalkit.crystal.core.Crystal` → a dict of numpy arrays.

Arrays only, so that the output is stored as ``.npz`` without pickles
(:mod:`xtalkit.data.property_cache`):

* :class:`GraphFeaturizer` — CartNet's periodic radius graph
  (:func:`xtalkit.data.graphs.crystal_graph`): ``z`` (n,) int64, ``src``/``dst``
  (E,) int64, ``vec`` (E, 3) Å and ``dist`` (E,) Å as float32.
* :class:`SitenetFeaturizer` — Site-Net's unique-site supercell features
  (:func:`xtalkit.data.sitenet_features.featurize`), float32.
* :class:`CompositionFeaturizer` — element counts per Z (for the composition baseline).

``params()`` of each featurizer names every parameter that changes its output and
:data:`CACHE_VERSION`; the cache keys on it.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from xtalkit.crystal.core import Crystal
from xtalkit.errors import CrystalError, XtalkitError

#: Bump when a featurizer's output changes for the same parameters (invalidates every key).
CACHE_VERSION = 1


class FeaturizationError(CrystalError):
    """A structure could not be featurized (the reason is one line)."""


def _check_ordered(crystal: Crystal) -> None:
    if len(crystal) == 0:
        raise FeaturizationError("no atoms")
    if np.abs(crystal.occupancy - 1.0).max() > 1e-3:
        raise FeaturizationError("partial occupancies: property models need an ordered structure")


@dataclasses.dataclass(frozen=True)
class GraphFeaturizer:
    """CartNet radius graph of one structure.

    Attributes:
        cutoff: graph radius, Å (CartNet SI Tables S2/S3: 5 Å).
        hydrogens: keep H atoms as nodes.
    """

    cutoff: float = 5.0
    hydrogens: bool = True
    name: str = dataclasses.field(default="radius_graph", init=False)

    def params(self) -> dict:
        """Everything that defines the output (part of the cache key)."""
        return {"name": self.name, "cutoff": float(self.cutoff), "hydrogens": bool(self.hydrogens),
                "version": CACHE_VERSION}  # fmt: skip

    def __call__(self, crystal: Crystal) -> dict[str, np.ndarray]:
        """Graph arrays (module docstring)."""
        from xtalkit.data.graphs import crystal_graph

        _check_ordered(crystal)
        g = crystal_graph(
            crystal.numbers, crystal.frac, crystal.lattice, temperature=0.0, cutoff=self.cutoff,
            hydrogens=self.hydrogens, molecules=False,
        )  # fmt: skip
        if len(g["z"]) == 0:
            raise FeaturizationError("no atoms left in the graph")
        return {
            "z": g["z"].astype(np.int64),
            "src": np.asarray(g["src"], dtype=np.int64),
            "dst": np.asarray(g["dst"], dtype=np.int64),
            "vec": np.asarray(g["vec"], dtype=np.float32),
            "dist": np.asarray(g["dist"], dtype=np.float32),
        }

    numbers_key = "z"

    @staticmethod
    def numbers(arrays: dict[str, np.ndarray]) -> np.ndarray:
        """Atomic numbers of the nodes."""
        return arrays["z"]

    @staticmethod
    def sample(arrays: dict[str, np.ndarray], target: float = float("nan"), ident: str = "") -> dict:
        """A sample for :func:`xtalkit.data.graphs.collate` plus the scalar target ``y``."""
        n = len(arrays["z"])
        return {
            "z": arrays["z"], "temperature": 0.0, "src": arrays["src"], "dst": arrays["dst"],
            "vec": arrays["vec"], "dist": arrays["dist"], "target": np.zeros((n, 3, 3), np.float32),
            "scored": np.zeros(n, bool), "id": ident, "y": float(target),
        }  # fmt: skip

    @staticmethod
    def collate(samples: list[dict]):
        """``(GraphBatch, targets (B,) float32)`` from samples of :meth:`sample`."""
        import torch

        from xtalkit.data.graphs import collate

        return collate(samples), torch.tensor([s["y"] for s in samples], dtype=torch.float32)


@dataclasses.dataclass(frozen=True)
class SitenetFeaturizer:
    """Site-Net features of one structure (:func:`xtalkit.data.sitenet_features.featurize`).

    Attributes:
        max_atoms: N, atoms in the supercell (paper: 500).
        primitive: reduce to the primitive cell first.
        symprec: primitive-cell tolerance, Å.
        oxidation: ``"zero"`` or ``"guess"`` (the 9th site feature).
        log_coulomb_clip: clip of ln C.
    """

    max_atoms: int = 500
    primitive: bool = True
    symprec: float = 0.01
    oxidation: str = "zero"
    log_coulomb_clip: float = 10.0
    name: str = dataclasses.field(default="sitenet", init=False)

    def params(self) -> dict:
        """Everything that defines the output (part of the cache key)."""
        return {
            "name": self.name, "max_atoms": int(self.max_atoms), "primitive": bool(self.primitive),
            "symprec": float(self.symprec), "oxidation": str(self.oxidation),
            "log_coulomb_clip": float(self.log_coulomb_clip), "version": CACHE_VERSION,
        }  # fmt: skip

    def __call__(self, crystal: Crystal) -> dict[str, np.ndarray]:
        """Site-Net arrays (float32 features)."""
        from xtalkit.data.sitenet_features import featurize

        _check_ordered(crystal)
        try:
            return featurize(
                crystal, self.max_atoms, primitive=self.primitive, symprec=self.symprec,
                oxidation=self.oxidation, log_coulomb_clip=self.log_coulomb_clip, dtype=np.float32,
            )  # fmt: skip
        except ValueError as exc:
            raise FeaturizationError(str(exc)) from None

    numbers_key = "numbers"

    @staticmethod
    def numbers(arrays: dict[str, np.ndarray]) -> np.ndarray:
        """Atomic numbers of the unique sites."""
        return arrays["numbers"]

    @staticmethod
    def sample(arrays: dict[str, np.ndarray], target: float = float("nan"), ident: str = "") -> dict:
        """A sample for :func:`xtalkit.data.sitenet_features.collate`."""
        return {**arrays, "target": float(target), "id": ident}

    @staticmethod
    def collate(samples: list[dict]):
        """``(SitenetBatch, targets (B,) float32)`` from samples of :meth:`sample`."""
        from xtalkit.data.sitenet_features import collate

        batch = collate(samples)
        return batch, batch.target


@dataclasses.dataclass(frozen=True)
class CompositionFeaturizer:
    """Atoms of each element in the cell: ``counts`` (103,) float64, index Z − 1 (occupancy-weighted)."""

    name: str = dataclasses.field(default="composition", init=False)

    def params(self) -> dict:
        """Everything that defines the output (part of the cache key)."""
        return {"name": self.name, "version": CACHE_VERSION}

    def __call__(self, crystal: Crystal) -> dict[str, np.ndarray]:
        """Element counts."""
        from xtalkit.elements import Z_MAX

        if len(crystal) == 0:
            raise FeaturizationError("no atoms")
        counts = np.zeros(Z_MAX)
        np.add.at(counts, crystal.numbers - 1, crystal.occupancy)
        return {"counts": counts}

    @staticmethod
    def numbers(arrays: dict[str, np.ndarray]) -> np.ndarray:
        """Atomic numbers present."""
        return np.flatnonzero(arrays["counts"] > 0) + 1


def featurizer_from_params(params: dict):
    """Rebuild a featurizer from its :meth:`params` (e.g. stored in a model file's metadata)."""
    p = {k: v for k, v in params.items() if k not in ("name", "version")}
    name = params.get("name")
    if name == "radius_graph":
        return GraphFeaturizer(**p)
    if name == "sitenet":
        return SitenetFeaturizer(**p)
    if name == "composition":
        return CompositionFeaturizer()
    raise XtalkitError(f"unknown featurizer {name!r}")
