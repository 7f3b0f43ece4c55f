r"""Training CartNet (scalar head) or Site-Net on one scalar crystal property with Lightning.

CartNet (Solé et al. 2025, SI S4, Tables S2/S3): the Cholesky head is replaced
by ``s = mean_i MLP_head(h_i)`` (SI eq. 4); width 256, 4 layers, radius graph
5 Å, batch 64 without accumulation, Adam at 1e-3 with a OneCycle schedule
(pct_start 0.01, SI S4), L1 loss, 500 epochs, no SO(3) augmentation (a scalar
is invariant) and no temperature input. Preset ``paper``.

Site-Net (Moran et al. 2023, Table 1, §3): the defaults of
:class:`~xtalkit.models.sitenet.SiteNet` (λ = 90, μ = 48, 2 blocks, 3 heads,
g^W [1, 225], pre-pooling [1, 94], post-pooling [3, 200]), supercells of 500
atoms, AdamW at a constant 8.12e-4 (weight decay: PyTorch's default 0.01; the
paper does not give one), batches of at most 1200 unique sites
(:class:`~xtalkit.data.sitenet_features.UniqueSiteBatchSampler`), L1 loss (the
reported metric), 500 epochs (the learning curve of Fig. 5a plateaus after
about 500). Band-gap targets (a name containing "gap") clamp predictions at 0
with a straight-through gradient (§3) unless ``clamp_output`` says otherwise.
Preset ``paper``.

Preset ``cpu`` of each model is sized for a laptop: CartNet width 64 with 3
layers, batch 32, 40 epochs, warm-up over 5 % of the steps; Site-Net with
supercells of 100 atoms (Table 2: 0.246 eV against 0.234 eV at 500 for the band
gap), λ = 48, μ = 24, a 32-wide element embedding, g^W [64], pre-pooling [64],
post-pooling [64, 64], 40 epochs. Measured on one CPU thread with 512 training and
128 validation structures of ``mp.csv.gz``: CartNet ``cpu`` featurizes in 7 ms and
trains an epoch in 9 ms per structure (140 k parameters); Site-Net ``cpu`` 15 ms and
21 ms (59 k parameters) — about 3 and 8 minutes per epoch over the 21 800 training
and validation structures of the formation-energy folds.

Both models learn the target standardized with the training set's mean and
standard deviation; the statistics are buffers of the network, so the model
file predicts in target units. The loss is taken on the standardized scale
(L1: the MAE divided by the training standard deviation).

Outputs in the run directory::

    config.json            configuration, data and split
    split_ids.json         ids of the training, validation and test rows
    skipped.csv            rows left out (bad target, unreadable structure), with reasons
    checkpoints/last.ckpt  Lightning checkpoint of the latest epoch (resume)
    checkpoints/best.ckpt  lowest validation MAE so far
    metrics.csv            per-epoch training loss, training and validation MAE
    model.pt               the best network as a self-describing model file
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from xtalkit.data.property_cache import (
    FeatureCache,
    FeatureDataset,
    GraphFeaturizer,
    SitenetFeaturizer,
    featurize_table,
)
from xtalkit.data.sitenet_features import UniqueSiteBatchSampler
from xtalkit.data.tables import PropertyTable, is_band_gap
from xtalkit.errors import XtalkitError
from xtalkit.io import atomic_write
from xtalkit.models.cartnet import CartNetSettings
from xtalkit.training import engine


@dataclasses.dataclass
class CartNetPropertyConfig(engine.RunSettings, CartNetSettings):
    """Hyperparameters of a CartNet property run (SI Tables S2/S3 by default).

    The backbone settings are those of :class:`~xtalkit.models.cartnet.CartNetSettings`, and
    ``lr`` (the OneCycle peak), ``epochs``, ``seed``, ``num_workers`` those of
    :class:`.engine.RunSettings`.

    Attributes:
        batch_size: structures per batch.
        pct_start: fraction of the OneCycle schedule spent warming up.
        loss: ``"l1"`` or ``"mse"`` (on standardized targets).
    """

    batch_size: int = 64
    pct_start: float = 0.01
    epochs: int = 500
    loss: str = "l1"

    model: ClassVar[str] = "cartnet"

    def featurizer(self) -> GraphFeaturizer:
        """The featurizer these settings need."""
        return GraphFeaturizer(cutoff=self.cutoff, hydrogens=self.hydrogens)


@dataclasses.dataclass
class SitenetPropertyConfig(engine.RunSettings):
    """Hyperparameters of a Site-Net run (paper Table 1 by default).

    Attributes:
        embedding_dim: learned element embedding length.
        heads: attention heads H.
        site_dim_per_head: λ/H.
        interaction_dim_per_head: μ/H.
        blocks: attention blocks.
        attention_hidden: hidden widths of g^W.
        pre_pool: widths of the pre-pooling network.
        post_pool: widths of the post-pooling network.
        distance_cutoff: Å; attention only to keys closer than this (None: all).
        clamp_output: clamp predictions at 0 (None: for band gaps only).
        shared_head_features: heads share attention features (authors' code).
        max_atoms: N, atoms in the supercell.
        primitive: reduce to the primitive cell before building the supercell.
        symprec: primitive-cell tolerance, Å.
        oxidation: ``"zero"`` or ``"guess"``.
        log_coulomb_clip: clip of ln C.
        max_sites: unique sites per batch.
        lr: AdamW learning rate (constant).
        weight_decay: AdamW weight decay.
        loss: ``"l1"`` or ``"mse"`` (on standardized targets).

    ``epochs``, ``seed`` and ``num_workers`` are those of :class:`.engine.RunSettings`.
    """

    embedding_dim: int = 92
    heads: int = 3
    site_dim_per_head: int = 30
    interaction_dim_per_head: int = 16
    blocks: int = 2
    attention_hidden: tuple[int, ...] = (225,)
    pre_pool: tuple[int, ...] = (94,)
    post_pool: tuple[int, ...] = (200, 200, 200)
    distance_cutoff: float | None = None
    clamp_output: bool | None = None
    shared_head_features: bool = False
    max_atoms: int = 500
    primitive: bool = True
    symprec: float = 0.01
    oxidation: str = "zero"
    log_coulomb_clip: float = 10.0
    max_sites: int = 1200
    lr: float = 8.12e-4
    weight_decay: float = 0.01
    epochs: int = 500
    loss: str = "l1"

    model: ClassVar[str] = "sitenet"

    def featurizer(self) -> SitenetFeaturizer:
        """The featurizer these settings need."""
        return SitenetFeaturizer(
            max_atoms=self.max_atoms, primitive=self.primitive, symprec=self.symprec,
            oxidation=self.oxidation, log_coulomb_clip=self.log_coulomb_clip,
        )  # fmt: skip


CONFIGS: dict[str, type] = {"cartnet": CartNetPropertyConfig, "sitenet": SitenetPropertyConfig}

#: Named presets per model (module docstring). ``paper``: the papers' settings.
PRESETS: dict[str, dict[str, dict]] = {
    "cartnet": {
        "paper": {},
        "cpu": {"dim": 64, "num_layers": 3, "batch_size": 32, "epochs": 40, "pct_start": 0.05},
    },
    "sitenet": {
        "paper": {},
        "cpu": {
            "max_atoms": 100, "embedding_dim": 32, "site_dim_per_head": 16, "interaction_dim_per_head": 8,
            "attention_hidden": (64,), "pre_pool": (64,), "post_pool": (64, 64), "epochs": 40,
        },
    },
}  # fmt: skip


def make_config(model: str, preset: str = "paper", **overrides):
    """A configuration of ``model`` (``cartnet`` or ``sitenet``) from a preset plus overrides (None ignored).

    Raises:
        XtalkitError: unknown model, preset or setting.
    """
    if model not in CONFIGS:
        raise XtalkitError(f"unknown model {model!r}; choose from {', '.join(CONFIGS)}")
    cfg = engine.make_config(CONFIGS[model], PRESETS[model], preset, overrides, what=f"{model}: ")
    if cfg.loss not in ("l1", "mse"):
        raise XtalkitError(f"loss must be 'l1' or 'mse', not {cfg.loss!r}")
    return cfg


def target_statistics(values: np.ndarray) -> tuple[float, float]:
    """``(mean, std)`` of training targets used to standardize them (std 1 for a constant target)."""
    v = np.asarray(values, dtype=float)
    return float(v.mean()), (float(v.std()) if len(v) > 1 and v.std() > 1e-12 else 1.0)


def build_network(
    config, target_mean: float, target_std: float, clamp_output: bool = False
) -> torch.nn.Module:
    """The untrained network of a configuration with the target statistics (target units)."""
    from xtalkit.models.cartnet import CartNet
    from xtalkit.models.sitenet import SiteNet

    c = config
    if c.model == "cartnet":
        return CartNet(
            dim=c.dim, num_layers=c.num_layers, num_rbf=c.num_rbf, cutoff=c.cutoff, head="scalar",
            envelope=c.envelope, direction=c.direction, temperature=False, initial_uiso=0.0,
            target_mean=target_mean, target_std=target_std, hydrogens=c.hydrogens,
        )  # fmt: skip
    return SiteNet(
        embedding_dim=c.embedding_dim, heads=c.heads, site_dim_per_head=c.site_dim_per_head,
        interaction_dim_per_head=c.interaction_dim_per_head, blocks=c.blocks,
        attention_hidden=c.attention_hidden, pre_pool=c.pre_pool, post_pool=c.post_pool,
        distance_cutoff=c.distance_cutoff, clamp_output=clamp_output,
        shared_head_features=c.shared_head_features, target_mean=target_mean, target_std=target_std,
        max_atoms=c.max_atoms, log_coulomb_clip=c.log_coulomb_clip,
    )  # fmt: skip


def make_loader(dataset: FeatureDataset, config, *, train: bool) -> torch.utils.data.DataLoader:
    """DataLoader of featurized structures: fixed batch size (CartNet) or unique-site budget (Site-Net)."""
    collate = dataset.featurizer.collate
    kw = {
        "collate_fn": collate,
        "num_workers": config.num_workers,
        "persistent_workers": config.num_workers > 0,
    }
    if config.model == "sitenet":
        sampler = _SitenetBatchSampler(dataset.n_sites(), config.max_sites, shuffle=train, seed=config.seed)
        return torch.utils.data.DataLoader(dataset, batch_sampler=sampler, **kw)
    # a lone single-atom graph cannot pass batch normalization in training mode
    drop_last = train and len(dataset) % config.batch_size == 1 and len(dataset) > 1
    return torch.utils.data.DataLoader(
        dataset, batch_size=config.batch_size, shuffle=train, drop_last=drop_last, **kw
    )


class _SitenetBatchSampler(UniqueSiteBatchSampler):
    """:class:`UniqueSiteBatchSampler` whose epoch the training module sets (a new order each epoch)."""


def _lightning_module_class():
    import lightning as L

    class PropertyModule(L.LightningModule):
        """Lightning wrapper: standardized loss, MAE metrics, optimizer and schedule."""

        def __init__(
            self, model: str, config: dict, target_mean: float, target_std: float, clamp_output: bool = False
        ):
            super().__init__()
            self.save_hyperparameters()
            self.cfg = make_config(model, **config)
            self.target_std = float(target_std)
            self.model = build_network(self.cfg, target_mean, target_std, clamp_output)

        def transfer_batch_to_device(self, batch, device, dataloader_idx: int):
            inputs, y = batch
            return inputs.to(device), y.to(device)

        def _loss(self, pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            r = (pred - y) / self.target_std
            return r.abs().mean() if self.cfg.loss == "l1" else (r * r).mean()

        def training_step(self, batch, batch_idx: int) -> torch.Tensor:
            inputs, y = batch
            pred = self.model(inputs)
            loss = self._loss(pred, y)
            n = int(y.numel())
            self.log("train_loss", loss, batch_size=n, on_epoch=True, on_step=False)
            self.log(
                "train_mae", (pred - y).abs().mean().detach(), batch_size=n, on_epoch=True, on_step=False
            )
            return loss

        def validation_step(self, batch, batch_idx: int) -> None:
            inputs, y = batch
            pred = self.model(inputs)
            self.log("val_mae", (pred - y).abs().mean(), batch_size=int(y.numel()), sync_dist=True)

        def on_train_epoch_start(self) -> None:
            sampler = getattr(self.trainer.train_dataloader, "batch_sampler", None)
            if isinstance(sampler, _SitenetBatchSampler):
                sampler.set_epoch(self.current_epoch)

        def configure_optimizers(self):
            c = self.cfg
            if c.model == "sitenet":
                return torch.optim.AdamW(self.parameters(), lr=c.lr, weight_decay=c.weight_decay)
            opt = torch.optim.Adam(self.parameters(), lr=c.lr)
            steps = max(1, int(self.trainer.estimated_stepping_batches))
            sched = torch.optim.lr_scheduler.OneCycleLR(
                opt, max_lr=c.lr, total_steps=steps, pct_start=c.pct_start
            )
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    return PropertyModule


#: Kept for scripts written against earlier versions.
PropertyTrainResult = engine.TrainResult


def _write_skipped(path: Path, rows) -> None:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["file", "row", "id", "reason"])
    for r in rows:
        w.writerow([r.file, r.row, r.id, r.reason])
    atomic_write(path, buf.getvalue())


def _check_model(out: Path, config) -> None:
    """Refuse to resume a run of another model type."""
    try:
        saved = json.loads((out / "config.json").read_text())
    except (OSError, ValueError):
        return
    if saved.get("model") != config.model:
        raise XtalkitError(f"{out}: the run trains {saved.get('model')}, not {config.model}")


def train(
    config: CartNetPropertyConfig | SitenetPropertyConfig,
    data: PropertyTable,
    out_dir: str | os.PathLike,
    *,
    cache: FeatureCache | None = None,
    workers: int = 0,
    resume: bool = False,
    max_time_minutes: float | None = None,
    progress: bool = True,
    devices: int = 1,
    strategy: str = "auto",
    evaluate_test: bool = True,
    stop_after_epochs: int | None = None,
) -> engine.TrainResult:
    """Train on the ``train`` rows of ``data``, keep the epoch with the lowest validation MAE.

    Args:
        config: :class:`CartNetPropertyConfig` or :class:`SitenetPropertyConfig`.
        data: a table with split labels (:func:`xtalkit.data.tables.load_splits`).
        out_dir: run directory (created).
        cache: feature cache (None: featurize in memory, nothing kept).
        workers: processes featurizing missing cache entries.
        resume: continue from ``out_dir/checkpoints/last.ckpt`` with the run's own settings
            (Site-Net may raise ``epochs``; CartNet's OneCycle schedule fixes them).
        max_time_minutes: stop after this wall time (the best model so far is kept).
        progress: progress bars.
        devices: processes or accelerators (CartNet only; Site-Net batches by a site budget).
        strategy: Lightning strategy (``"ddp"`` for several processes).
        evaluate_test: also score the best model on the test rows.
        stop_after_epochs: stop (resumably) once this many epochs are done.

    Returns:
        :class:`~xtalkit.training.engine.TrainResult`; ``summary`` holds target, units, data, split sizes,
        validation (and test) MAE in target units, and seconds.

    Raises:
        XtalkitError: no training or validation rows, a finished run without ``resume``, etc.
    """
    from xtalkit.property.predict import evaluate_dataset

    out = Path(out_dir)
    if config.model == "sitenet" and devices != 1:
        raise XtalkitError("Site-Net training runs on one device (its batches follow a unique-site budget)")
    if resume:
        _check_model(out, config)
    free = ("num_workers", "epochs") if config.model == "sitenet" else ("num_workers",)
    note = " (CartNet's OneCycle schedule fixes the epochs)" if config.model == "cartnet" else ""
    old_metrics = engine.open_run(out, resume=resume, config=config.as_dict(), free=free, note=note)
    out.mkdir(parents=True, exist_ok=True)
    engine.seed(config.seed)

    featurizer = config.featurizer()
    ft = featurize_table(data, featurizer, cache, workers=workers, progress=progress)
    train_set, val_set, test_set = ft.dataset("train"), ft.dataset("val"), ft.dataset("test")
    if len(train_set) == 0 or len(val_set) == 0:
        raise XtalkitError(
            f"{data.path}: {len(train_set)} training and {len(val_set)} validation structures; need both"
        )
    t_mean, t_std = target_statistics(train_set.targets)
    clamp = False
    if config.model == "sitenet":
        clamp = is_band_gap(data.target) if config.clamp_output is None else bool(config.clamp_output)
    skipped = [*data.skipped, *ft.failures]
    split_info = {
        **data.split_spec,
        "sizes": {"train": len(train_set), "val": len(val_set), "test": len(test_set)},
    }
    engine.record_run(
        out,
        {"task": "property", "model": config.model, "config": config.as_dict(), "data": data.path,
         "target": data.target, "split": split_info, "featurizer": featurizer.params()},
        {"train": train_set.ids, "val": val_set.ids, "test": test_set.ids},
    )  # fmt: skip
    _write_skipped(out / "skipped.csv", skipped)

    train_loader = make_loader(train_set, config, train=True)
    val_loader = make_loader(val_set, config, train=False)
    module = _lightning_module_class()(config.model, config.as_dict(), t_mean, t_std, clamp)
    run = engine.fit(
        module, train_loader, val_loader, out, monitor="val_mae", epochs=config.epochs, resume=resume,
        old_metrics=old_metrics, devices=devices, strategy=strategy, max_time_minutes=max_time_minutes,
        progress=progress, sanity_val_steps=0, sync_batchnorm=devices > 1 and config.model == "cartnet",
        stop_after_epochs=stop_after_epochs,
    )  # fmt: skip
    model = module.model.cpu().eval()
    if not run.rank_zero:
        return engine.TrainResult(model, {}, out)
    batch = config.batch_size if config.model == "cartnet" else 64
    val = evaluate_dataset(model, val_set, batch_size=batch, max_sites=getattr(config, "max_sites", 1200))
    test = None
    if evaluate_test and len(test_set):
        test = evaluate_dataset(
            model, test_set, batch_size=batch, max_sites=getattr(config, "max_sites", 1200)
        )
    summary = engine.summary(
        "property", model, config.as_dict(), run, monitor="val_mae",
        element_counts=train_set.element_counts(), devices=devices, strategy=strategy, model=config.model,
        target=data.target, units=data.units,
        data=data.path, format=data.format, split=split_info, skipped_rows=len(skipped),
        featurizer=featurizer.params(), target_mean=t_mean, target_std=t_std, clamp_output=clamp,
        val_mae=val["mae"], test_mae=None if test is None else test["mae"],
        test_rmse=None if test is None else test["rmse"],
    )  # fmt: skip
    return engine.save(out, model, summary)
