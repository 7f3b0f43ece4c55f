r"""Training the AlphaCrystal-II distance-matrix network (preprint §2.3, §3.2.3) with Lightning.

Settings of the paper: Adam at a constant learning rate of 10⁻³, 125 epochs,
the cross-entropy of eq. 1 over the valid atom pairs
(:func:`xtalkit.models.distmat.masked_cross_entropy`), N = 5, 10 or 20
distance groups of equal width between the smallest and the largest distance
of the training set (eq. 5). Not stated in the paper, chosen here: batches of
64 structures, the epoch with the lowest validation loss is kept, the
categorical (softmax) form of eq. 1.

Presets (:data:`PRESETS`): ``paper`` — the §2.3 network (9 + 9 residual blocks,
32 → 128 and 256 → 1024 filters, ≈ 70 M parameters; about 50 s per batch of 64
on one CPU core, so a GPU job); ``cpu`` — the ``cpu`` widths of
:data:`xtalkit.models.distmat.PRESETS` (6 + 6 blocks, 16 → 32 and 32 → 64
filters, 0.29 M parameters, ≈ 0.3 s per batch of 64 on one core; with
validation ≈ 3.5 s per epoch per 1 000 training structures: ≈ 25 s per epoch
over the ≈ 6 600 conventional cells of ``mp.csv.gz``'s training folds, ≈ 50
minutes for 125 epochs); ``medium`` — the shipped size (6 + 6 blocks, 32 → 64 and
64 → 128 filters, 1.15 M parameters, 20 groups, ≈ 2.6 × the time of ``cpu`` per
batch).

Metrics (:func:`evaluate_distmat`): the predicted distance of a pair is the
centre of its most likely group; MSE (Å²), RMSE (Å) and the 8 Å distance-map
overlap (eq. 4) are computed per structure over its valid pairs and then
averaged over structures (Table 5 reports RMSE < √MSE, which a pooled RMSE
could not give), plus the fraction of pairs in the right group.

Outputs in the run directory::

    config.json            configuration, dataset, bins and split sizes
    split_ids.json         ids of the training, validation and test rows
    checkpoints/last.ckpt  Lightning checkpoint of the latest epoch (resume)
    checkpoints/best.ckpt  lowest validation loss so far
    metrics.csv            per-epoch training loss, validation loss and RMSE
    model.pt               the best network (:func:`xtalkit.models.checkpoint.save_model`);
                           its metadata hold the bins (d_min, d_max, N), the cell
                           convention of the targets and the metrics
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

import numpy as np
import torch

from xtalkit.csp.encoding import PAPER_D_MAX, PAPER_D_MIN, DistanceBins
from xtalkit.elements import structures_per_element
from xtalkit.errors import XtalkitError
from xtalkit.training import engine


@dataclasses.dataclass
class DistMatConfig(engine.RunSettings):
    """Hyperparameters of a distance-matrix training run.

    Attributes:
        num_groups: N distance groups (eq. 5; paper: 5, 10, 20).
        architecture: key of :data:`xtalkit.models.distmat.PRESETS` (``"paper"``, ``"medium"`` or ``"cpu"``).
        epochs: passes over the training set (paper: 125).
        batch_size: structures per batch (not in the paper).
        lr: Adam learning rate, constant (paper: 1e-3).
        loss: ``"categorical"`` or ``"binary"`` form of eq. 1.
        bins_range: ``"train"`` (eq. 5: smallest and largest training distance) or
            ``"paper"`` (0.9488-23.3361 Å of the paper's Mp_12).
        max_train: use a random subset of at most this many training rows (Table 5:
            1,000 or 10,000); None: all.

    ``seed`` (also of the training subset) and ``num_workers`` are those of
    :class:`.engine.RunSettings`.
    """

    num_groups: int = 10
    architecture: str = "paper"
    epochs: int = 125
    batch_size: int = 64
    lr: float = 1e-3
    loss: str = "categorical"
    bins_range: str = "train"
    max_train: int | None = None


PRESETS: dict[str, dict] = {
    "paper": {},
    "cpu": {"architecture": "cpu"},
    "medium": {"architecture": "medium", "num_groups": 20},
}
"""Named settings (module docstring); both train 125 epochs with Adam at 1e-3."""


def make_config(preset: str = "paper", **overrides) -> DistMatConfig:
    """A :class:`DistMatConfig` from a preset plus overrides (None values ignored).

    Raises:
        XtalkitError: unknown preset, setting or value.
    """
    from xtalkit.models.distmat import PRESETS as ARCH

    cfg = engine.make_config(DistMatConfig, PRESETS, preset, overrides)
    if cfg.architecture not in ARCH:
        raise XtalkitError(f"unknown architecture {cfg.architecture!r}; choose from {', '.join(ARCH)}")
    if cfg.loss not in ("categorical", "binary"):
        raise XtalkitError(f"loss must be 'categorical' or 'binary', not {cfg.loss!r}")
    if cfg.bins_range not in ("train", "paper"):
        raise XtalkitError(f"bins_range must be 'train' or 'paper', not {cfg.bins_range!r}")
    if cfg.num_groups < 2:
        raise XtalkitError(f"setting num_groups: {cfg.num_groups} is not ≥ 2")
    return cfg


def build_network(config: DistMatConfig, bins: DistanceBins):
    """The untrained :class:`~xtalkit.models.distmat.DistMatNet` of a configuration and its bins."""
    from xtalkit.models.distmat import PRESETS as ARCH
    from xtalkit.models.distmat import DistMatNet

    return DistMatNet(
        num_groups=bins.n_groups, d_min=bins.d_min, d_max=bins.d_max, **ARCH[config.architecture]
    )


def model_bins(model) -> DistanceBins:
    """The :class:`DistanceBins` a :class:`~xtalkit.models.distmat.DistMatNet` predicts."""
    a = model.init_args
    return DistanceBins(d_min=a["d_min"], d_max=a["d_max"], n_groups=a["num_groups"])


def _tensors(dataset, index: np.ndarray, bins: DistanceBins) -> tuple[torch.Tensor, ...]:
    """(features, mask, classes, pair_mask, distances) tensors of some dataset rows."""
    idx = np.asarray(index, dtype=np.int64)
    pm = dataset.pair_mask[idx]
    classes = np.where(pm, bins.classify(dataset.distances[idx]), 0)
    return (
        torch.as_tensor(dataset.features[idx], dtype=torch.float32),
        torch.as_tensor(dataset.mask[idx]),
        torch.as_tensor(classes, dtype=torch.int64),
        torch.as_tensor(pm),
        torch.as_tensor(dataset.distances[idx], dtype=torch.float32),
    )


@torch.no_grad()
def evaluate_distmat(
    model, features, mask, distances, *, batch_size: int = 256, threshold: float = 8.0
) -> dict:
    """Table 5 metrics of a network on some structures (module docstring: per structure, then mean).

    Args:
        model: a :class:`~xtalkit.models.distmat.DistMatNet`.
        features: (S, 12, 11) composition features.
        mask: (S, 12) atom masks.
        distances: (S, 12, 12) true distances, Å.
        batch_size: structures per forward pass.
        threshold: Å, contact threshold of the overlap (eq. 4; paper: 8).

    Returns:
        ``{"n", "mse" (Å²), "rmse" (Å), "overlap", "overlap_n", "accuracy"}``;
        ``overlap_n`` counts structures where eq. 4 is defined (a target pair ≤ threshold);
        ``overlap`` is None when there is none.

    Raises:
        XtalkitError: if no structure has a valid pair.
    """
    model.eval()
    bins = model_bins(model)
    f = torch.as_tensor(np.asarray(features), dtype=torch.float32)
    m = torch.as_tensor(np.asarray(mask, dtype=bool))
    t = np.asarray(distances, dtype=float)
    pred = []
    device = next(model.parameters()).device
    for s in range(0, len(f), batch_size):
        _, d = model.predict(f[s : s + batch_size].to(device), m[s : s + batch_size].to(device))
        pred.append(d.cpu().numpy())
    p = np.concatenate(pred) if pred else np.zeros((0, *t.shape[1:]))
    pm = np.asarray(m[:, :, None] & m[:, None, :]) & ~np.eye(m.shape[1], dtype=bool)
    mse, rmse, overlap, correct, pairs = [], [], [], 0, 0
    for k in range(len(p)):
        sel = pm[k]
        if not sel.any():
            continue
        err = (p[k][sel] - t[k][sel]) ** 2
        mse.append(err.mean())
        rmse.append(math.sqrt(err.mean()))
        tm = t[k][sel] <= threshold
        if tm.any():
            overlap.append(((p[k][sel] <= threshold) & tm).sum() / tm.sum())
        correct += int((bins.classify(p[k][sel]) == bins.classify(t[k][sel])).sum())
        pairs += int(sel.sum())
    if not mse:
        raise XtalkitError("no structure with a valid atom pair to evaluate")
    return {
        "n": len(mse),
        "mse": float(np.mean(mse)),
        "rmse": float(np.mean(rmse)),
        "overlap": float(np.mean(overlap)) if overlap else None,
        "overlap_n": len(overlap),
        "accuracy": correct / pairs,
    }


def _lightning_module_class():
    import lightning as L

    from xtalkit.models.distmat import masked_cross_entropy

    class DistMatModule(L.LightningModule):
        """Lightning wrapper: eq. 1 loss, Adam at a constant rate, validation loss and RMSE."""

        def __init__(self, config: dict, d_min: float, d_max: float):
            super().__init__()
            self.save_hyperparameters()
            self.cfg = make_config("paper", **config)
            self.model = build_network(self.cfg, DistanceBins(d_min, d_max, self.cfg.num_groups))

        def _step(self, batch):
            f, m, c, pm, _ = batch
            logits = self.model(f, m)
            return logits, masked_cross_entropy(logits, c, pm, self.cfg.loss)

        def training_step(self, batch, batch_idx: int) -> torch.Tensor:
            _, loss = self._step(batch)
            self.log("train_loss", loss, batch_size=int(batch[3].sum()), on_epoch=True, on_step=False)
            return loss

        def validation_step(self, batch, batch_idx: int) -> None:
            logits, loss = self._step(batch)
            pm, d = batch[3], batch[4]
            n = int(pm.sum())
            pred = self.model.bin_centres[logits.argmax(dim=1)]
            rmse = torch.sqrt(((pred - d)[pm] ** 2).mean()) if n else torch.zeros(())
            self.log("val_loss", loss, batch_size=max(n, 1), sync_dist=True)
            self.log("val_rmse", rmse, batch_size=max(n, 1), sync_dist=True)

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=self.cfg.lr)

    return DistMatModule


#: Kept for scripts written against earlier versions.
DistMatTrainResult = engine.TrainResult


def select_training_rows(dataset, config: DistMatConfig) -> dict[str, np.ndarray]:
    """Row indices of train/val/test with a target; ``max_train`` draws a seeded subset of train."""
    out = {s: dataset.indices(s) for s in ("train", "val", "test")}
    if config.max_train is not None and out["train"].size > config.max_train:
        rng = np.random.default_rng(config.seed)
        out["train"] = np.sort(rng.choice(out["train"], size=int(config.max_train), replace=False))
    return out


def train_distmat(
    config: DistMatConfig,
    dataset,
    out_dir: str | os.PathLike,
    *,
    index: dict[str, np.ndarray] | None = None,
    resume: bool = False,
    max_time_minutes: float | None = None,
    progress: bool = True,
    evaluate_test: bool = True,
    devices: int = 1,
    strategy: str = "auto",
    stop_after_epochs: int | None = None,
) -> engine.TrainResult:
    """Train a distance-matrix network, keeping the epoch with the lowest validation loss.

    Args:
        config: hyperparameters (:func:`make_config`).
        dataset: a :class:`~xtalkit.csp.data.DistanceDataset` with split labels.
        out_dir: run directory (created).
        index: explicit ``{"train", "val"[, "test"]}`` row indices (rows must have targets);
            default :func:`select_training_rows`.
        resume: continue from ``out_dir/checkpoints/last.ckpt`` (``epochs`` may be raised).
        max_time_minutes: stop after this wall time (the best model so far is kept).
        progress: Lightning progress bar.
        evaluate_test: also score the best model on the test rows.
        devices: processes (CPU) or accelerators.
        strategy: Lightning strategy (``"ddp"`` for several processes).
        stop_after_epochs: stop (resumably) once this many epochs are done.

    Returns:
        :class:`~xtalkit.training.engine.TrainResult`; ``summary`` holds bins, cell convention, sizes,
        validation (and test) metrics of :func:`evaluate_distmat`, epochs and seconds.

    Raises:
        XtalkitError: no training or validation rows, a finished run without ``resume``,
            ``resume`` with changed settings.
    """
    out = Path(out_dir)
    old_metrics = engine.open_run(out, resume=resume, config=config.as_dict(), free=("num_workers", "epochs"))
    rows = dict(index) if index is not None else select_training_rows(dataset, config)
    rows.setdefault("test", np.zeros(0, dtype=np.int64))
    for split in ("train", "val", "test"):
        r = np.asarray(rows[split], dtype=np.int64)
        if r.size and not dataset.has_target[r].all():
            raise XtalkitError(f"{split} rows without a distance target")
        rows[split] = r
    if rows["train"].size == 0 or rows["val"].size == 0:
        raise XtalkitError(
            f"{rows['train'].size} training and {rows['val'].size} validation structures; need both"
        )
    out.mkdir(parents=True, exist_ok=True)
    engine.seed(config.seed)

    if config.bins_range == "paper":
        bins = DistanceBins(PAPER_D_MIN, PAPER_D_MAX, config.num_groups)
    else:
        tr = rows["train"]
        bins = DistanceBins.from_targets(dataset.distances[tr], dataset.pair_mask[tr], config.num_groups)
    sizes = {k: int(v.size) for k, v in rows.items()}
    data_info = {
        "source": dataset.meta.get("source"),
        "cache": dataset.meta.get("path"),
        "cell": dataset.cell,
        "split_spec": dataset.meta.get("split_spec", {}),
        "sizes": sizes,
    }
    bins_info = {"d_min": bins.d_min, "d_max": bins.d_max, "n_groups": bins.n_groups}
    engine.record_run(
        out, {"task": "distmat", "config": config.as_dict(), "data": data_info, "bins": bins_info},
        {k: dataset.ids[v].tolist() for k, v in rows.items()},
    )  # fmt: skip

    gen = torch.Generator().manual_seed(config.seed)
    train_set = torch.utils.data.TensorDataset(*_tensors(dataset, rows["train"], bins))
    val_set = torch.utils.data.TensorDataset(*_tensors(dataset, rows["val"], bins))
    kw = {"num_workers": config.num_workers, "persistent_workers": config.num_workers > 0}
    train_loader = torch.utils.data.DataLoader(
        train_set, batch_size=config.batch_size, shuffle=True, generator=gen, **kw
    )
    val_loader = torch.utils.data.DataLoader(val_set, batch_size=max(config.batch_size, 256), **kw)
    module = _lightning_module_class()(config.as_dict(), bins.d_min, bins.d_max)
    run = engine.fit(
        module, train_loader, val_loader, out, monitor="val_loss", epochs=config.epochs, resume=resume,
        old_metrics=old_metrics, max_time_minutes=max_time_minutes, progress=progress, sanity_val_steps=0,
        devices=devices, strategy=strategy, stop_after_epochs=stop_after_epochs,
    )  # fmt: skip
    model = module.model.cpu().eval()
    if not run.rank_zero:
        return engine.TrainResult(model, {}, out)

    def metrics(split: str) -> dict | None:
        r = rows[split]
        if r.size == 0:
            return None
        return evaluate_distmat(model, dataset.features[r], dataset.mask[r], dataset.distances[r])

    counts = structures_per_element(z[z > 0] for z in dataset.cell_numbers[rows["train"]])
    summary = engine.summary(
        "distmat", model, config.as_dict(), run, monitor="val_loss", element_counts=counts, devices=devices,
        strategy=strategy, model="DistMatNet", bins=bins_info, cell=dataset.cell, data=data_info,
        val=metrics("val"), test=metrics("test") if evaluate_test else None,
        parameters=int(sum(p.numel() for p in model.parameters())),
    )  # fmt: skip
    return engine.save(out, model, summary)
