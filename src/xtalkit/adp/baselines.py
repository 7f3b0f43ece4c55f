"""Baselines for ADP prediction.

:class:`IsotropicElementBaseline` predicts ``U = Ū · I`` where Ū is the mean
``U_eq`` of the training atoms of the same element in the same temperature
bin. When that cell is empty it falls back to the element's mean over all
temperatures, then to the bin's mean over all elements, then to the global
mean. It knows element and temperature but nothing about the structure, so
any model that learns from geometry must beat it.
"""

from __future__ import annotations

import json
from collections import defaultdict

import numpy as np

from xtalkit.crystal import adp

#: Upper edges (K) of the temperature bins; the last bin is open.
TEMPERATURE_EDGES = (120.0, 180.0, 240.0, 320.0)


class IsotropicElementBaseline:
    """Per-element, temperature-binned mean isotropic displacement.

    Args:
        edges: upper edges of the temperature bins, K.
    """

    def __init__(self, edges: tuple[float, ...] = TEMPERATURE_EDGES):
        self.edges = tuple(float(e) for e in edges)
        self.table: dict[tuple[int, int], float] = {}
        self.by_element: dict[int, float] = {}
        self.by_bin: dict[int, float] = {}
        self.overall = float("nan")

    def _bin(self, t: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.edges, np.asarray(t, float), side="left")

    def fit(self, numbers: np.ndarray, temperatures: np.ndarray, U: np.ndarray) -> IsotropicElementBaseline:
        """Fit on scored atoms: (M,) atomic numbers, (M,) K, (M, 3, 3) Å²."""
        ueq = adp.u_equiv(U)
        bins = self._bin(temperatures)
        sums: dict = defaultdict(float)
        counts: dict = defaultdict(int)
        for z, b, u in zip(np.asarray(numbers).tolist(), bins.tolist(), ueq.tolist(), strict=True):
            for key in ((z, b), ("z", z), ("b", b), ("all",)):
                sums[key] += u
                counts[key] += 1
        self.table = {k: sums[k] / counts[k] for k in sums if len(k) == 2 and k[0] not in ("z", "b")}
        self.by_element = {k[1]: sums[k] / counts[k] for k in sums if k[0] == "z"}
        self.by_bin = {k[1]: sums[k] / counts[k] for k in sums if k[0] == "b"}
        self.overall = sums[("all",)] / counts[("all",)]
        return self

    def predict(self, numbers: np.ndarray, temperatures: np.ndarray) -> np.ndarray:
        """(M, 3, 3) isotropic tensors, Å²."""
        if not np.isfinite(self.overall):
            raise ValueError("baseline is not fitted")
        bins = self._bin(temperatures)
        u = [
            self.table.get((z, b), self.by_element.get(z, self.by_bin.get(b, self.overall)))
            for z, b in zip(np.asarray(numbers).tolist(), bins.tolist(), strict=True)
        ]
        return adp.uiso_to_ucart(np.array(u))

    def to_json(self) -> str:
        """Plain-data form."""
        return json.dumps(
            {
                "edges": self.edges,
                "table": [[z, b, u] for (z, b), u in sorted(self.table.items())],
                "by_element": sorted(self.by_element.items()),
                "by_bin": sorted(self.by_bin.items()),
                "overall": self.overall,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> IsotropicElementBaseline:
        """Inverse of :meth:`to_json`."""
        d = json.loads(text)
        obj = cls(tuple(d["edges"]))
        obj.table = {(int(z), int(b)): float(u) for z, b, u in d["table"]}
        obj.by_element = {int(z): float(u) for z, u in d["by_element"]}
        obj.by_bin = {int(b): float(u) for b, u in d["by_bin"]}
        obj.overall = float(d["overall"])
        return obj


def scored_atoms(dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(numbers, temperatures K, U Å²) of every scored atom of an ADPGraphDataset (no graphs built)."""
    z, t, u = [], [], []
    for s, i in dataset.index:
        sample = dataset.stores[s][i]
        m = sample.scored
        z.append(sample.numbers[m])
        t.append(np.full(int(m.sum()), sample.temperature))
        u.append(sample.U[m])
    return np.concatenate(z), np.concatenate(t), np.concatenate(u)
