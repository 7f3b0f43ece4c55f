r"""Composition-only baselines for scalar properties.

What a structure model has to beat: a model that sees only the chemical formula.

* :class:`MeanPredictor` — the training-set mean (the MAE of this is the mean
  absolute deviation of the targets, the "MAD" that ALIGNN and Matformer report).
* :class:`CompositionBaseline` — gradient-boosted trees
  (scikit-learn's ``HistGradientBoostingRegressor``) on composition features:

  - element fractions ``x_Z = n_Z / Σ n`` for Z = 1–103 (occupancy-weighted
    atom counts of the cell, so every cell of a compound gives the same vector);
  - optionally (``weighted_means=True``) the fraction-weighted means
    ``Σ_Z x_Z p_Z`` of the element properties :data:`MEAN_PROPERTIES` (Z, atomic
    weight in u, row, group, Pauling electronegativity, atomic radius in Å,
    density in g/cm³, first ionization energy in eV — the packaged element
    table), which let trees generalize across chemically similar elements.

Structures are anything :func:`xtalkit.data.tables.structure_to_crystal` reads,
or a mapping of element symbols to amounts (``{"Na": 1, "Cl": 1}``), or a
precomputed (S, F) feature matrix.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from xtalkit.elements import Z_MAX, atomic_number, features

#: Element properties averaged with the element fractions (packaged element table columns).
MEAN_PROPERTIES: tuple[str, ...] = (
    "Z",
    "atomic_weight",
    "pmg_row",
    "pmg_group",
    "pmg_electronegativity",
    "atomic_radius",
    "density",
    "pmg_ionization_energy",
)


def element_counts(structure) -> np.ndarray:
    """(103,) atoms of each element (index Z − 1) of a structure or a ``{symbol: amount}`` mapping."""
    counts = np.zeros(Z_MAX)
    if isinstance(structure, Mapping) and all(isinstance(v, int | float) for v in structure.values()):
        for sym, amount in structure.items():
            counts[atomic_number(str(sym)) - 1] += float(amount)
        return counts
    from xtalkit.data.tables import structure_to_crystal

    c = structure_to_crystal(structure)
    np.add.at(counts, c.numbers - 1, c.occupancy)
    return counts


def composition_features(counts: np.ndarray, weighted_means: bool = True) -> np.ndarray:
    """Element fractions (and weighted element-property means) from element counts.

    Args:
        counts: (S, 103) or (103,) atoms per element.
        weighted_means: append the :data:`MEAN_PROPERTIES` means.

    Returns:
        (S, 103 [+ 8]) float64 features.
    """
    c = np.atleast_2d(np.asarray(counts, dtype=float))
    total = c.sum(axis=1, keepdims=True)
    x = np.divide(c, total, out=np.zeros_like(c), where=total > 0)
    if not weighted_means:
        return x
    table = features(np.arange(1, Z_MAX + 1), MEAN_PROPERTIES)  # (103, 8)
    table = np.nan_to_num(table, nan=0.0)
    return np.concatenate([x, x @ table], axis=1)


def _matrix(structures, weighted_means: bool) -> np.ndarray:
    if isinstance(structures, np.ndarray) and structures.ndim == 2:
        return np.asarray(structures, dtype=float)
    counts = np.stack([element_counts(s) for s in structures]) if len(structures) else np.zeros((0, Z_MAX))
    return composition_features(counts, weighted_means)


@dataclasses.dataclass
class MeanPredictor:
    """Predicts the training-set mean for every structure (target units)."""

    mean_: float | None = None

    def fit(self, structures, y: Sequence[float]) -> MeanPredictor:
        """Remember the mean of ``y``; ``structures`` only fixes the length."""
        y = np.asarray(y, dtype=float)
        if len(y) == 0:
            raise ValueError("no training targets")
        self.mean_ = float(y.mean())
        return self

    def predict(self, structures) -> np.ndarray:
        """(S,) the training mean."""
        if self.mean_ is None:
            raise ValueError("fit the predictor first")
        return np.full(len(structures), self.mean_)


@dataclasses.dataclass
class CompositionBaseline:
    """Gradient boosting on composition features (module docstring).

    Attributes:
        weighted_means: add element-property means to the fractions.
        max_iter: boosting iterations.
        learning_rate: shrinkage.
        max_leaf_nodes: leaves per tree.
        min_samples_leaf: samples per leaf at least.
        l2_regularization: L2 penalty on leaf values.
        loss: ``"squared_error"`` or ``"absolute_error"``.
        seed: random state (used when early stopping subsamples).
        n_threads: OpenMP threads while fitting and predicting (None: scikit-learn's default).
    """

    weighted_means: bool = True
    max_iter: int = 500
    learning_rate: float = 0.1
    max_leaf_nodes: int = 31
    min_samples_leaf: int = 20
    l2_regularization: float = 0.0
    loss: str = "squared_error"
    seed: int = 0
    n_threads: int | None = None
    model_: object = dataclasses.field(default=None, repr=False)

    def features(self, structures) -> np.ndarray:
        """(S, F) feature matrix of structures (or a matrix passed through)."""
        return _matrix(structures, self.weighted_means)

    def _limits(self):
        from contextlib import nullcontext

        if self.n_threads is None:
            return nullcontext()
        from threadpoolctl import threadpool_limits

        return threadpool_limits(self.n_threads)

    def fit(self, structures, y: Sequence[float]) -> CompositionBaseline:
        """Fit on structures (or an (S, F) matrix) and targets (S,)."""
        from sklearn.ensemble import HistGradientBoostingRegressor

        X = self.features(structures)
        y = np.asarray(y, dtype=float)
        if len(X) != len(y) or len(y) == 0:
            raise ValueError(f"{len(X)} structures for {len(y)} targets")
        self.model_ = HistGradientBoostingRegressor(
            loss=self.loss, learning_rate=self.learning_rate, max_iter=self.max_iter,
            max_leaf_nodes=self.max_leaf_nodes, min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization, random_state=self.seed,
        )  # fmt: skip
        with self._limits():
            self.model_.fit(X, y)
        return self

    def predict(self, structures) -> np.ndarray:
        """(S,) predictions in target units."""
        if self.model_ is None:
            raise ValueError("fit the baseline first")
        X = self.features(structures)
        with self._limits():
            return np.asarray(self.model_.predict(X), dtype=float)


def mean_absolute_error(y_true: Sequence[float], y_pred: Sequence[float]) -> float:
    """MAE in target units."""
    return float(np.mean(np.abs(np.asarray(y_pred, float) - np.asarray(y_true, float))))
