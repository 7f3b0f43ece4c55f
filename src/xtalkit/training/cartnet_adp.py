"""Training CartNet on ADP datasets with Lightning.

Defaults follow the CartNet SI Table S1 (preset ``paper``): width 256, 4
layers, radius graph 5 Å, Adam at 1e-3 with a OneCycle schedule (pct_start
0.01), L1 loss on the nine entries of U, batch 4 with gradient accumulation
16, 50 epochs, SO(3) augmentation. Preset ``cpu`` is what this repository
trains on a 2-core machine (see :data:`PRESETS`).

Outputs in the run directory::

    config.json            the resolved configuration
    checkpoints/last.ckpt  Lightning checkpoint of the latest epoch (resume)
    checkpoints/best.ckpt  lowest validation MAE so far
    metrics.csv            per-epoch training and validation metrics
    model.pt               the best network as a self-describing model file

Multi-process training uses Lightning's strategies (``devices=2,
strategy="ddp"`` on CPU uses the gloo backend); batch-norm statistics are
synchronized across processes and each process sees its own shard of the
training set.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import torch

from xtalkit.data.graphs import ADPGraphDataset, GraphBatch, collate
from xtalkit.data.splits import group_structures
from xtalkit.data.store import ADPStore
from xtalkit.elements import structures_per_element
from xtalkit.errors import XtalkitError
from xtalkit.geometry.rotations import random_rotations
from xtalkit.models.cartnet import CartNet, CartNetSettings
from xtalkit.training import engine
from xtalkit.training.adp_losses import LOSSES, adp_loss


@dataclasses.dataclass
class CartNetADPConfig(engine.RunSettings, CartNetSettings):
    """Hyperparameters of a CartNet ADP training run (all explicit, no globals).

    The backbone settings are those of :class:`~xtalkit.models.cartnet.CartNetSettings`, and
    ``lr``, ``epochs``, ``seed``, ``num_workers`` those of :class:`.engine.RunSettings`.

    Attributes:
        temperature: temperature input (ablation 5 when False).
        augment: random SO(3) rotation per structure in training (ablation 6 when False).
        batch_size: structures per batch.
        accumulate: batches per optimizer step.
        pct_start: fraction of the OneCycle schedule spent warming up.
        initial_uiso: Å², what the untrained Cholesky head predicts (times I).
        head: ``"cholesky"`` (the paper's, eqs. 15-18) or ``"harmonic"`` (exactly equivariant,
            physical; :mod:`xtalkit.models.harmonic_head`; needs ``direction=False``).
        rigid_body: harmonic head: TLS rigid-body part for finite molecules.
        head_directions: harmonic head: False gives the isotropic control.
        loss: ``"l1"`` (paper), ``"size_shape"`` or ``"size_shape_l1"``
            (:mod:`xtalkit.training.adp_losses`).
        monitor: validation metric that selects the best epoch: ``"val_mae"`` (Å²) or
            ``"val_loss"`` (the training loss on the validation split).
    """

    temperature: bool = True
    augment: bool = True
    batch_size: int = 4
    accumulate: int = 16
    pct_start: float = 0.01
    initial_uiso: float = 0.02
    head: str = "cholesky"
    rigid_body: bool = True
    head_directions: bool = True
    loss: str = "l1"
    monitor: str = "val_mae"

    def __post_init__(self):
        if self.head not in ("cholesky", "harmonic"):
            raise XtalkitError(f"unknown ADP head {self.head!r} (cholesky or harmonic)")
        if self.head == "harmonic" and self.direction:
            raise XtalkitError("the harmonic head needs an invariant backbone: set direction to false")
        if self.loss not in LOSSES:
            raise XtalkitError(f"unknown loss {self.loss!r}; choose from {', '.join(LOSSES)}")
        if self.monitor not in ("val_mae", "val_loss"):
            raise XtalkitError("monitor must be val_mae or val_loss")


#: Named presets. ``paper``: SI Table S1. ``cpu``: width 128 (4.5× less work per
#: edge than 256, measured with benchmarks/cartnet_speed.py), batch 8 without
#: accumulation (a ~700-structure training set then gives ~90 optimizer steps
#: per epoch instead of 11), 60 epochs, warm-up over 5 % of the steps.
#: ``harmonic``: the exactly equivariant head (no augmentation needed: rotating the input rotates
#: the output exactly) on an invariant backbone of width 64, 3 layers, temperature only through the
#: oscillator laws, L1 loss (it beat the size/shape loss on the molecular validation split; see the
#: README's ADP benchmark), 50 epochs (41 min on one CPU thread).
PRESETS: dict[str, dict] = {
    "paper": {},
    "cpu": {"dim": 128, "batch_size": 8, "accumulate": 1, "epochs": 60, "pct_start": 0.05},
    "harmonic": {
        "head": "harmonic", "direction": False, "temperature": False, "augment": False, "dim": 64,
        "num_layers": 3, "batch_size": 8, "accumulate": 1, "epochs": 50, "pct_start": 0.05,
        "loss": "l1", "monitor": "val_mae",
    },
}  # fmt: skip


def make_config(preset: str = "paper", **overrides) -> CartNetADPConfig:
    """A configuration from a preset name plus explicit overrides (None values ignored).

    Raises:
        XtalkitError: unknown preset or setting, or a value out of range (:func:`.engine.make_config`).
    """
    return engine.make_config(CartNetADPConfig, PRESETS, preset, overrides)


def leaking_training_ids(data_dirs: list[Path], tolerance: float = 0.03) -> set[str]:
    """Training structures that repeat a validation or test structure of *any* of the datasets.

    Each dataset's own split already keeps repeats together; this guards the
    union of several datasets (an AMCSD mineral may also be in a COD set).
    """
    formulas, sigs, ids, split = [], [], [], []
    for d in data_dirs:
        for name in ("train", "val", "test"):
            st = ADPStore(d, name)
            if not len(st):
                continue
            formulas += [str(x) for x in st.column("formula")]
            sigs.append(st.column("cell_signature"))
            ids += st.ids
            split += [name] * len(st)
    if not ids:
        return set()
    groups = group_structures(formulas, np.concatenate(sigs), rel_tol=tolerance)
    held = {g for g, s in zip(groups, split, strict=True) if s != "train"}
    return {i for i, g, s in zip(ids, groups, split, strict=True) if s == "train" and g in held}


def training_element_counts(dataset: ADPGraphDataset) -> dict[str, int]:
    """Structures containing each element (key: atomic number as text), as every model file records."""
    return structures_per_element(dataset.stores[s][i].numbers for s, i in dataset.index)


def build_model(
    config: CartNetADPConfig, temperature_mean: float = 0.0, temperature_std: float = 1.0
) -> CartNet:
    """The untrained network of a configuration (the one place that maps settings to a CartNet).

    Args:
        config: the run's settings.
        temperature_mean: K, training-set mean (standardizes the temperature input).
        temperature_std: K, training-set standard deviation.
    """
    c = config
    harmonic = (
        {"rigid_body": c.rigid_body, "head_directions": c.head_directions} if c.head == "harmonic" else {}
    )
    return CartNet(
        dim=c.dim, num_layers=c.num_layers, num_rbf=c.num_rbf, cutoff=c.cutoff, head=c.head,
        envelope=c.envelope, direction=c.direction, temperature=c.temperature,
        temperature_mean=temperature_mean, temperature_std=temperature_std,
        initial_uiso=c.initial_uiso, hydrogens=c.hydrogens, **harmonic,
    )  # fmt: skip


def _lightning_module_class():
    import lightning as L

    class ADPModule(L.LightningModule):
        """Lightning wrapper: loss, augmentation, metrics, optimizer and schedule."""

        def __init__(self, config: dict, temperature_mean: float, temperature_std: float):
            super().__init__()
            self.save_hyperparameters()
            self.cfg = CartNetADPConfig(**config)
            self.model = build_model(self.cfg, temperature_mean, temperature_std)

        def transfer_batch_to_device(self, batch: GraphBatch, device, dataloader_idx: int) -> GraphBatch:
            return batch.to(device)

        def training_step(self, batch: GraphBatch, batch_idx: int) -> torch.Tensor:
            if self.cfg.augment:
                batch = batch.rotated(random_rotations(batch.n_graphs).to(batch.vec.device))
            pred = self.model(batch)
            loss = adp_loss(self.cfg.loss, pred, batch.target[batch.scored])
            self.log("train_loss", loss, batch_size=int(batch.scored.sum()), on_epoch=True, on_step=False)
            return loss

        def validation_step(self, batch: GraphBatch, batch_idx: int) -> None:
            from xtalkit.adp.metrics import iou, s12

            pred = self.model(batch)
            true = batch.target[batch.scored]
            n = int(batch.scored.sum())
            if n == 0:
                return
            self.log("val_mae", (pred - true).abs().mean(), batch_size=n, sync_dist=True)
            self.log("val_loss", adp_loss(self.cfg.loss, pred, true), batch_size=n, sync_dist=True)
            p64, t64 = pred.detach().double().cpu().numpy(), true.double().cpu().numpy()
            # early in training a prediction can be numerically singular: score the others
            ok = np.linalg.eigvalsh(p64)[:, 0] > 1e-12
            self.log("val_singular_fraction", float(1 - ok.mean()), batch_size=n, sync_dist=True)
            if ok.any():
                m = int(ok.sum())
                self.log("val_s12", float(np.mean(s12(p64[ok], t64[ok]))), batch_size=m, sync_dist=True)
                self.log("val_iou", float(np.mean(iou(p64[ok], t64[ok]))), batch_size=m, sync_dist=True)

        def configure_optimizers(self):
            opt = torch.optim.Adam(self.parameters(), lr=self.cfg.lr)
            steps = max(1, int(self.trainer.estimated_stepping_batches))
            sched = torch.optim.lr_scheduler.OneCycleLR(
                opt, max_lr=self.cfg.lr, total_steps=steps, pct_start=self.cfg.pct_start
            )
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    return ADPModule


def train(
    config: CartNetADPConfig,
    data_dirs: list[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    devices: int = 1,
    strategy: str = "auto",
    resume: bool = False,
    max_time_minutes: float | None = None,
    progress: bool = True,
    limit_train_structures: int | None = None,
    validate_on_train: bool = False,
    stop_after_epochs: int | None = None,
) -> engine.TrainResult:
    """Train CartNet on the train splits of ``data_dirs``; select on their validation splits.

    Args:
        config: hyperparameters.
        data_dirs: dataset directories from ``xtalkit dataset adp build``.
        out_dir: run directory (created).
        devices: processes (CPU) or accelerators.
        strategy: Lightning strategy (``"ddp"`` for several processes).
        resume: continue from ``out_dir/checkpoints/last.ckpt``.
        max_time_minutes: stop training after this wall time (the best model so far is kept).
        progress: show Lightning's progress bar.
        limit_train_structures: use only the first N training structures (tests, overfitting).
        validate_on_train: validate (and select) on the training structures (overfit checks).
        stop_after_epochs: stop once this many epochs (counted from epoch 0) are done, leaving the run
            resumable; for training in chunks on time-limited machines. The learning-rate schedule
            still spans ``config.epochs``.

    Returns:
        :class:`~xtalkit.training.engine.TrainResult`; ``summary`` is ``model.pt``'s metadata.
    """
    out = Path(out_dir)
    data_dirs = [Path(d) for d in data_dirs]
    old_metrics = engine.open_run(out, resume=resume, config=config.as_dict(),
                                  note=" (the OneCycle schedule fixes the epochs)")  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    engine.seed(config.seed)

    leaks = leaking_training_ids(data_dirs)
    train_set = ADPGraphDataset(
        [ADPStore(d, "train") for d in data_dirs],
        cutoff=config.cutoff,
        hydrogens=config.hydrogens,
        molecules=config.head == "harmonic",
        exclude=leaks,
    )
    if limit_train_structures is not None:
        train_set.index = train_set.index[:limit_train_structures]
    if validate_on_train:
        val_set = train_set
    else:
        val_set = ADPGraphDataset(
            [ADPStore(d, "val") for d in data_dirs],
            cutoff=config.cutoff,
            hydrogens=config.hydrogens,
            molecules=config.head == "harmonic",
        )
    if len(train_set) == 0 or len(val_set) == 0:
        raise XtalkitError(f"no training or validation structures in {', '.join(map(str, data_dirs))}")
    temps = train_set.temperatures()
    element_counts = training_element_counts(train_set)
    t_mean, t_std = (
        float(temps.mean()),
        float(temps.std()) if len(temps) > 1 and temps.std() > 0 else 1.0,
    )

    loader_kw = {
        "collate_fn": collate,
        "num_workers": config.num_workers,
        "persistent_workers": config.num_workers > 0,
    }
    train_loader = torch.utils.data.DataLoader(
        train_set, batch_size=config.batch_size, shuffle=True, **loader_kw
    )
    val_loader = torch.utils.data.DataLoader(
        val_set, batch_size=config.batch_size, shuffle=False, **loader_kw
    )

    module = _lightning_module_class()(config.as_dict(), t_mean, t_std)
    engine.record_run(out, {"task": "adp", "config": config.as_dict(), "data": [str(d) for d in data_dirs]})
    run = engine.fit(
        module, train_loader, val_loader, out, monitor=config.monitor, epochs=config.epochs, resume=resume,
        old_metrics=old_metrics, devices=devices, strategy=strategy, accumulate=config.accumulate,
        max_time_minutes=max_time_minutes, stop_after_epochs=stop_after_epochs, progress=progress,
        sync_batchnorm=devices > 1,
    )  # fmt: skip
    if not run.rank_zero:
        return engine.TrainResult(module.model.cpu().eval(), {}, out)
    model = module.model.cpu().eval()
    summary = engine.summary(
        "adp", model, config.as_dict(), run, monitor=config.monitor, element_counts=element_counts,
        devices=devices, strategy=strategy, data=[str(d) for d in data_dirs], train_structures=len(train_set),
        val_structures=len(val_set), excluded_as_repeats_of_held_out=len(leaks), temperature_mean=t_mean,
        temperature_std=t_std, train_temperature_range=[float(temps.min()), float(temps.max())],
    )  # fmt: skip
    return engine.save(out, model, summary)
