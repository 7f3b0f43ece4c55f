r"""Predicting scalar properties with a trained CartNet or Site-Net model file.

:class:`PropertyPredictor` wraps a model file written by
:func:`xtalkit.training.property.train` (or a shipped model name, resolved with
:func:`xtalkit.pretrained.resolve`). It featurizes structures exactly as in
training — the featurizer's parameters are stored in the file's metadata — and
predicts in batches: a fixed number of structures for CartNet, a budget of
unique sites for Site-Net. Predictions are in the target's units
(``predictor.units``, e.g. eV/atom for formation energies, eV for band gaps).

Inputs may be :class:`~xtalkit.crystal.core.Crystal` objects, pymatgen
``Structure`` or ASE ``Atoms`` objects, CIF file paths or CIF text (one
structure each). Networks are evaluated in eval mode, so a structure's
prediction does not depend on the batch it is in (up to float rounding).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from xtalkit.crystal.core import Crystal
from xtalkit.data.property_cache import (
    FeatureCache,
    FeatureDataset,
    FeaturizationError,
    GraphFeaturizer,
    SitenetFeaturizer,
    featurize_table,
    featurizer_from_params,
)
from xtalkit.data.tables import PropertyTable, SkippedRow
from xtalkit.elements import symbol
from xtalkit.errors import CrystalError, XtalkitError

#: Structures per batch for CartNet (SI Tables S2/S3 train with 64).
DEFAULT_BATCH_SIZE = 64
#: Unique sites per batch for Site-Net (paper Table 1).
DEFAULT_MAX_SITES = 1200


def _batches(dataset: FeatureDataset, batch_size: int, max_sites: int) -> list[list[int]]:
    if isinstance(dataset.featurizer, SitenetFeaturizer):
        from xtalkit.data.sitenet_features import UniqueSiteBatchSampler

        return list(UniqueSiteBatchSampler(dataset.n_sites(), max_sites, shuffle=False))
    n = len(dataset)
    return [list(range(i, min(i + batch_size, n))) for i in range(0, n, batch_size)]


@torch.no_grad()
def predict_dataset(
    model: torch.nn.Module,
    dataset: FeatureDataset,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_sites: int = DEFAULT_MAX_SITES,
) -> np.ndarray:
    """Predictions of a network for every item of a featurized dataset.

    Args:
        model: a scalar CartNet or a SiteNet (put in eval mode for the call).
        dataset: featurized structures made with the network's featurizer.
        batch_size: structures per CartNet batch.
        max_sites: unique sites per Site-Net batch.

    Returns:
        (S,) float64 predictions in target units.
    """
    out = np.full(len(dataset), np.nan)
    if not len(dataset):
        return out
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        for idx in _batches(dataset, batch_size, max_sites):
            inputs, _ = dataset.featurizer.collate([dataset[k] for k in idx])
            out[idx] = model(inputs.to(device)).double().cpu().numpy()
    finally:
        model.train(was_training)
    return out


def evaluate_dataset(
    model: torch.nn.Module,
    dataset: FeatureDataset,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_sites: int = DEFAULT_MAX_SITES,
) -> dict:
    """MAE and RMSE (target units) of a network on a featurized dataset with targets.

    Returns:
        ``{"n", "mae", "rmse", "predictions"}`` (predictions as a list, dataset order).

    Raises:
        XtalkitError: the dataset is empty (no MAE to give).
    """
    if not len(dataset):
        raise XtalkitError("no structures to evaluate")
    pred = predict_dataset(model, dataset, batch_size=batch_size, max_sites=max_sites)
    err = pred - dataset.targets
    n = len(err)
    return {
        "n": n,
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err**2).mean())),
        "predictions": pred.tolist(),
    }


def _is_single(structures) -> bool:
    """One structure (CIF path or text, Crystal, dict, pymatgen Structure, ASE Atoms), not a sequence."""
    return (
        isinstance(structures, str | Path | Crystal | dict)
        or (hasattr(structures, "lattice") and hasattr(structures, "sites"))
        or hasattr(structures, "get_scaled_positions")
    )


class PropertyPredictor:
    """A trained property model ready to predict.

    Args:
        model: shipped model name or model-file path (``model.pt`` of a training run).
        batch_size: structures per CartNet batch.
        max_sites: unique sites per Site-Net batch (default: the training value, else 1200).
        cache: feature cache (default: none, features are computed in memory).

    Attributes:
        name: model name or path.
        model: the network (eval mode).
        metadata: training metadata of the file.
        target: target column the model was trained on.
        units: its units.
        featurizer: featurizer matching the training data.

    Raises:
        XtalkitError: not a model file, or not a property model.
    """

    def __init__(
        self,
        model: str | os.PathLike,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_sites: int | None = None,
        cache: FeatureCache | None = None,
    ):
        from xtalkit.pretrained import load

        loaded = load(model, task="property")
        self.model, self.metadata, self.name = loaded.model, loaded.metadata, loaded.name
        params = self.metadata.get("featurizer")
        if params:
            self.featurizer = featurizer_from_params(params)
        elif type(self.model).__name__ == "SiteNet":
            self.featurizer = SitenetFeaturizer(
                max_atoms=self.model.max_atoms, log_coulomb_clip=self.model.log_coulomb_clip
            )
        else:
            self.featurizer = GraphFeaturizer(cutoff=self.model.cutoff, hydrogens=self.model.hydrogens)
        self.target = str(self.metadata.get("target", ""))
        self.units = str(self.metadata.get("units", ""))
        config = self.metadata.get("config") or {}
        self.batch_size = int(batch_size)
        self.max_sites = int(max_sites or config.get("max_sites") or DEFAULT_MAX_SITES)
        self.cache = cache or FeatureCache(None)
        data = Path(str(self.metadata.get("data", ""))).name.lower()
        #: "inorganic" for models trained on tables of inorganic solids (Materials Project, Matbench, WBM)
        self.domain = self.metadata.get("domain") or (
            "inorganic" if data.startswith(("mp", "matbench", "wbm")) else None
        )
        counts = self.metadata.get("train_element_counts") or {}
        self.seen = {int(z) for z, n in counts.items() if n > 0}

    def warnings(self, crystal: Crystal) -> list[str]:
        """One-line warnings: unseen elements; a molecular crystal given to a model of solids."""
        out = []
        unseen = sorted({int(z) for z in crystal.numbers} - self.seen) if self.seen else []
        if unseen:
            out.append(f"elements not in the training data: {', '.join(symbol(z) for z in unseen)}")
        if self.domain == "inorganic":
            from xtalkit.geometry.molecules import is_molecular

            if is_molecular(crystal):
                out.append(
                    "a molecular crystal, but the model was trained on inorganic solids "
                    f"({Path(str(self.metadata.get('data', ''))).name}): outside its domain"
                )
        return out

    def _dataset(self, structures: Sequence, progress: bool) -> tuple[FeatureDataset, list[str | None]]:
        results = self.cache.featurize(list(structures), self.featurizer, progress=progress, in_memory=True)
        errors: list[str | None] = [str(r) if isinstance(r, Exception) else None for r in results]
        ok = [i for i, r in enumerate(results) if not isinstance(r, Exception)]
        ds = FeatureDataset(
            [results[i] for i in ok], np.full(len(ok), np.nan), [str(i) for i in ok], self.featurizer
        )
        return ds, errors

    def predict_with_errors(self, structures: Sequence, *, progress: bool = False) -> tuple[np.ndarray, list]:
        """Predict every structure that can be read; the others get NaN and a reason.

        Args:
            structures: structures or CIF paths (see module docstring).
            progress: show a featurization progress bar.

        Returns:
            ``(values, errors)``: (S,) float64 predictions in :attr:`units` and, per
            structure, None or a one-line error.
        """
        if _is_single(structures):
            structures = [structures]
        ds, errors = self._dataset(structures, progress)
        values = np.full(len(errors), np.nan)
        ok = np.array([i for i, e in enumerate(errors) if e is None], dtype=np.int64)
        values[ok] = predict_dataset(self.model, ds, batch_size=self.batch_size, max_sites=self.max_sites)
        return values, errors

    def predict(self, structures, *, progress: bool = False) -> np.ndarray:
        """Predict the target of each structure.

        Args:
            structures: one structure or CIF path, or a sequence of them.
            progress: show a featurization progress bar.

        Returns:
            (S,) float64 predictions in :attr:`units`.

        Raises:
            CrystalError: for the first structure that cannot be read or featurized.
        """
        values, errors = self.predict_with_errors(structures, progress=progress)
        for i, e in enumerate(errors):
            if e is not None:
                raise CrystalError(f"structure {i}: {e}")
        return values


def evaluate_table(
    predictor: PropertyPredictor,
    table: PropertyTable,
    split: str = "test",
    *,
    cache: FeatureCache | None = None,
    progress: bool = False,
) -> dict:
    """Score a model on one split of a table.

    Args:
        predictor: the model.
        table: rows with split labels (:func:`xtalkit.data.tables.load_splits`).
        split: ``train``, ``val``, ``test`` or ``all``.
        cache: feature cache (default: the predictor's).
        progress: featurization progress bar.

    Returns:
        ``{"split", "n", "mae", "rmse", "units", "skipped", "ids", "targets", "predictions"}``;
        ``skipped`` lists :class:`~xtalkit.data.tables.SkippedRow` of the split (load and featurization).

    Raises:
        XtalkitError: no row of that split could be scored.
    """
    sub = table.select(split)
    if split == "all":
        sub.split = np.full(len(sub), "train", dtype=object)
    ft = featurize_table(sub, predictor.featurizer, cache or predictor.cache, progress=progress)
    ds = ft.dataset("all")
    if not len(ds):
        raise XtalkitError(f"{table.path}: no structure of the {split} split could be scored")
    res = evaluate_dataset(
        predictor.model, ds, batch_size=predictor.batch_size, max_sites=predictor.max_sites
    )
    skipped: list[SkippedRow] = list(ft.failures)
    if split == "all":
        skipped = [*table.skipped, *skipped]
    return {
        "split": split,
        "n": res["n"],
        "mae": res["mae"],
        "rmse": res["rmse"],
        "units": predictor.units,
        "skipped": skipped,
        "ids": ds.ids,
        "targets": ds.targets.tolist(),
        "predictions": res["predictions"],
    }


__all__ = [
    "FeaturizationError",
    "PropertyPredictor",
    "evaluate_dataset",
    "evaluate_table",
    "predict_dataset",
]
