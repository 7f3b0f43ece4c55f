"""One training engine for every model: run directory, resume, Lightning set-up, best model.

Each task (:mod:`.cartnet_adp`, :mod:`.property`, :mod:`.distmat`) keeps only its
configuration, its LightningModule and its data preparation, and trains through:

* :func:`open_run`: the run-directory guard (a finished or interrupted run is never
  overwritten without ``resume``; ``resume`` needs ``checkpoints/last.ckpt``), the
  resume check against ``config.json`` with the task's free keys, and the metrics
  of the earlier part of a resumed run;
* :func:`fit`: ``L.Trainer`` with a CSV logger, best and last checkpoints on the
  monitored metric, optional stop-after and wall-time limits, the merge of resumed
  metrics on rank 0, and the best epoch's weights loaded back into the module;
* :func:`record_run`: ``config.json`` and ``split_ids.json`` of the run;
* :func:`summary` and :func:`save`: the one metadata schema of every model file
  (with :func:`versions`, :func:`finite` and
  :func:`xtalkit.elements.structures_per_element` for ``train_element_counts``), and ``model.pt``;
* :class:`TrainResult`: what every trainer returns.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Iterable
from pathlib import Path

import torch

from xtalkit.errors import XtalkitError
from xtalkit.training.runs import checkpoint_callbacks, merge_metrics, read_metrics


def changed_settings(out: Path, now: dict, free: Iterable[str] = ("num_workers",)) -> list[str]:
    """Keys of ``config.json``'s ``"config"`` whose values differ from ``now`` (``free`` keys aside)."""
    try:
        saved = json.loads((Path(out) / "config.json").read_text()).get("config", {})
    except (OSError, ValueError):
        return []
    free = set(free)
    return sorted(k for k, v in saved.items() if k not in free and now.get(k) != v)


def open_run(out: Path, *, resume: bool, config: dict, free: Iterable[str] = ("num_workers",),
             note: str = "") -> list[dict]:  # fmt: skip
    """Check the run directory and return the metrics of the earlier part of a resumed run.

    Args:
        out: run directory.
        resume: continue an existing run.
        config: the settings of this call (compared with ``config.json`` when resuming).
        free: settings that may change on resume.
        note: appended to the message when settings changed (e.g. why epochs are fixed).

    Raises:
        XtalkitError: nothing to resume, a run already there without ``resume``, or
            changed settings on resume.
    """
    last = Path(out) / "checkpoints" / "last.ckpt"
    if resume and not last.is_file():
        raise XtalkitError(f"{out}: nothing to resume (no checkpoints/last.ckpt)")
    if not resume and last.is_file():
        raise XtalkitError(f"{out}: a run is already there; pass --resume or choose another directory")
    if not resume:
        return []
    changed = changed_settings(out, config, free)
    if changed:
        raise XtalkitError(f"{out}: resume with the run's own settings; changed: {', '.join(changed)}{note}")
    return read_metrics(Path(out) / "metrics.csv")


@dataclasses.dataclass
class RunSettings:
    """Settings of every trainer's configuration (each task's dataclass derives from it).

    Attributes:
        lr: learning rate (the peak of a OneCycle schedule, or AdamW's constant rate).
        epochs: passes over the training set.
        seed: seed of initialization, shuffling and augmentation.
        num_workers: DataLoader worker processes.
    """

    lr: float = 1e-3
    epochs: int = 50
    seed: int = 0
    num_workers: int = 0

    def as_dict(self) -> dict:
        """Plain-data form (tuples as lists), as stored in ``config.json`` and model files."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


#: numeric settings that may be 0 (all others must be positive)
NONNEGATIVE_SETTINGS = frozenset({"seed", "num_workers", "weight_decay"})


def make_config(cls: type, presets: dict[str, dict], preset: str, overrides: dict, *, what: str = ""):
    """A task's configuration dataclass from a preset plus overrides (None values ignored), checked.

    Every trainer's ``make_config`` calls this, so that settings from the command line and from
    a ``--config`` file meet the same rules: known names only; ints for ``int`` fields,
    numbers for ``float`` fields, booleans for ``bool`` fields, text for ``str`` fields,
    positive integers for tuples; every number finite and positive (zero allowed for
    :data:`NONNEGATIVE_SETTINGS`; ``pct_start`` a fraction below 1).

    Args:
        cls: the configuration dataclass (string annotations, e.g. ``"int | None"``).
        presets: preset name → values.
        preset: the chosen preset.
        overrides: settings on top of it.
        what: prefix of messages (e.g. ``"sitenet: "``).

    Raises:
        XtalkitError: unknown preset or setting, or a value of the wrong kind or range (one line
            naming the setting).
    """
    if preset not in presets:
        raise XtalkitError(f"{what}unknown preset {preset!r}; choose from {', '.join(presets)}")
    fields = {f.name: str(f.type) for f in dataclasses.fields(cls)}
    unknown = sorted(k for k, v in overrides.items() if v is not None and k not in fields)
    if unknown:
        raise XtalkitError(f"{what}unknown settings {', '.join(unknown)}")
    values = {**presets[preset], **{k: v for k, v in overrides.items() if v is not None}}
    for name, value in values.items():
        values[name] = _checked(name, value, fields[name], what)
    return cls(**values)


def _checked(name: str, value, annotation: str, what: str):
    kinds = [k.strip() for k in annotation.split("|")]
    if value is None and "None" in kinds:
        return None
    kind = kinds[0]
    bad = f"{what}setting {name}: {value!r} is not"
    if kind == "bool":
        if not isinstance(value, bool):
            raise XtalkitError(f"{bad} true or false")
        return value
    if kind == "str":
        if not isinstance(value, str):
            raise XtalkitError(f"{bad} text")
        return value
    if kind.startswith("tuple"):
        if not isinstance(value, list | tuple) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value
        ):
            raise XtalkitError(f"{bad} a list of positive integers")
        return tuple(value)
    if kind in ("int", "float"):
        number = int if kind == "int" else (int, float)
        if isinstance(value, bool) or not isinstance(value, number) or not math.isfinite(value):
            raise XtalkitError(f"{bad} {'an integer' if kind == 'int' else 'a finite number'}")
        low_ok = name in NONNEGATIVE_SETTINGS
        if value < 0 or (value == 0 and not low_ok) or (name == "pct_start" and value >= 1):
            rule = "a fraction in (0, 1)" if name == "pct_start" else ("≥ 0" if low_ok else "positive")
            raise XtalkitError(f"{bad} {rule}")
        return float(value) if kind == "float" else value
    return value


def seed(value: int) -> None:
    """Seed Python, numpy and torch (and data-loader workers) for a run."""
    import lightning as L

    L.seed_everything(value, workers=True, verbose=False)


@dataclasses.dataclass
class Fit:
    """Outcome of :func:`fit`.

    Attributes:
        module: the LightningModule, holding the best epoch's weights on rank 0.
        best: the best monitored value (None if not finite or never logged).
        epochs_run: epochs completed (Lightning's ``current_epoch``).
        started_at_epoch: the epoch this call began with (0, or the epoch restored by a resume).
        seconds: wall time of ``trainer.fit``.
        rank_zero: whether this process is rank 0 (only it writes files).
    """

    module: object
    best: float | None
    epochs_run: int
    seconds: float
    rank_zero: bool
    started_at_epoch: int = 0


def finite(value) -> float | None:
    """``float(value)`` when finite, else None (metrics are numbers or absent, never NaN)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def fit(
    module,
    train_loader,
    val_loader,
    out: Path,
    *,
    monitor: str,
    epochs: int,
    resume: bool = False,
    old_metrics: list[dict] | None = None,
    devices: int = 1,
    strategy: str = "auto",
    accumulate: int = 1,
    max_time_minutes: float | None = None,
    stop_after_epochs: int | None = None,
    progress: bool = True,
    sanity_val_steps: int | None = None,
    sync_batchnorm: bool = False,
) -> Fit:
    """Train ``module`` with Lightning and load the best epoch back (see the module docstring).

    Args:
        module: a LightningModule that logs ``monitor`` on validation.
        train_loader: training batches.
        val_loader: validation batches.
        out: run directory (``checkpoints/``, ``metrics.csv``).
        monitor: metric whose lowest value selects the kept epoch.
        epochs: ``max_epochs``.
        resume: continue from ``out/checkpoints/last.ckpt``.
        old_metrics: rows of the earlier part of a resumed run (:func:`open_run`), merged back.
        devices: processes (CPU) or accelerators.
        strategy: Lightning strategy (``"ddp"`` for several processes).
        accumulate: gradient accumulation steps.
        max_time_minutes: stop after this wall time.
        stop_after_epochs: stop once this many epochs (from epoch 0) are done, leaving the run
            resumable (the schedule still spans ``epochs``).
        progress: Lightning's progress bar.
        sanity_val_steps: Lightning's ``num_sanity_val_steps`` (None: its default).
        sync_batchnorm: synchronize batch norm across processes (CUDA only).
    """
    from lightning.pytorch.loggers import CSVLogger

    out = Path(out)
    last = out / "checkpoints" / "last.ckpt"
    ckpt, latest = checkpoint_callbacks(out / "checkpoints", monitor=monitor)
    start = _start_epoch_callback()
    callbacks = [ckpt, latest, start] + ([_stop_after(stop_after_epochs)] if stop_after_epochs else [])
    extra = {} if sanity_val_steps is None else {"num_sanity_val_steps": sanity_val_steps}
    trainer = lightning_trainer(
        devices=devices, strategy=strategy, progress=progress, max_epochs=epochs, callbacks=callbacks,
        accumulate_grad_batches=accumulate, logger=CSVLogger(out, name="", version=""), default_root_dir=out,
        log_every_n_steps=max(1, min(50, len(train_loader))),
        sync_batchnorm=sync_batchnorm and torch.cuda.is_available(),  # SyncBatchNorm needs CUDA
        max_time={"minutes": max_time_minutes} if max_time_minutes else None, **extra,
    )  # fmt: skip
    t0 = time.time()
    trainer.fit(module, train_loader, val_loader, ckpt_path=str(last) if resume else None)
    seconds = time.time() - t0
    rank_zero = trainer.global_rank == 0
    if rank_zero:
        if old_metrics:
            merge_metrics(out / "metrics.csv", old_metrics)
        best_path = ckpt.best_model_path or str(last)
        state = torch.load(best_path, map_location="cpu", weights_only=True)["state_dict"]
        module.load_state_dict(state)
    return Fit(module, finite(ckpt.best_model_score), int(trainer.current_epoch), seconds, rank_zero,
               start.epoch)  # fmt: skip


def lightning_trainer(*, devices: int = 1, strategy: str = "auto", num_nodes: int = 1, progress: bool = True,
                      **options):  # fmt: skip
    """The ``L.Trainer`` of every fit and of batch prediction (:mod:`.sharded`).

    CPU processes unless CUDA is there, no model summary, and Lightning's progress bar
    when ``progress``; ``options`` are passed on (``max_epochs``, ``logger``, callbacks…).
    """
    import lightning as L

    return L.Trainer(
        accelerator="cpu" if not torch.cuda.is_available() else "auto",
        devices=devices,
        num_nodes=num_nodes,
        strategy=strategy,
        enable_progress_bar=progress,
        enable_model_summary=False,
        **options,
    )


@dataclasses.dataclass
class TrainResult:
    """What every trainer returns.

    Attributes:
        model: the best network (eval mode, CPU), the one saved in ``model.pt``.
        summary: the metadata stored in ``model.pt`` (empty on ranks other than 0).
        run_dir: the run directory.
    """

    model: torch.nn.Module
    summary: dict
    run_dir: Path


def summary(task: str, network: torch.nn.Module, config: dict, run: Fit, *, monitor: str,
            element_counts: dict[str, int], devices: int = 1, strategy: str = "auto",
            **fields) -> dict:  # fmt: skip
    """The metadata of every model file, in one schema, followed by the task's own ``fields``.

    Keys: ``task``; ``model_class``; ``config``; ``monitor`` and ``best`` (the lowest value
    of the monitored validation metric, also under its older name ``best_<monitor>``);
    ``epochs_run``; ``started_at_epoch`` (0, or where a resumed call went on);
    ``train_seconds``; ``train_element_counts`` (structures per element,
    :func:`xtalkit.elements.structures_per_element`); ``devices``; ``strategy``; the
    ``torch`` and ``xtalkit`` versions.
    """
    return {
        "task": task,
        "model_class": type(network).__name__,
        "config": config,
        "monitor": monitor,
        "best": run.best,
        f"best_{monitor}": run.best,
        "epochs_run": run.epochs_run,
        "started_at_epoch": run.started_at_epoch,
        "train_seconds": run.seconds,
        "train_element_counts": element_counts,
        "devices": devices,
        "strategy": strategy,
        **versions(),
        **fields,
    }


def save(out: Path, model: torch.nn.Module, metadata: dict) -> TrainResult:
    """Write ``out/model.pt`` (:func:`xtalkit.models.checkpoint.save_model`) and return the result."""
    from xtalkit.models.checkpoint import save_model

    save_model(Path(out) / "model.pt", model, metadata=metadata)
    return TrainResult(model, metadata, Path(out))


def record_run(out: Path, settings: dict, split_ids: dict[str, list] | None = None) -> None:
    """Write the run's ``config.json`` (read back by :func:`open_run` on resume) and ``split_ids.json``.

    Args:
        out: run directory.
        settings: ``{"config": {...}, ...}``: the task's settings and what it trains on.
        split_ids: row ids of each split, if the task has them.
    """
    from xtalkit.io import atomic_write

    atomic_write(Path(out) / "config.json", json.dumps(settings, indent=1))
    if split_ids is not None:
        atomic_write(Path(out) / "split_ids.json", json.dumps(split_ids))


def versions() -> dict[str, str]:
    """Versions recorded in every model file."""
    from xtalkit import __version__

    return {"torch": torch.__version__, "xtalkit": __version__}


def _stop_after(epochs: int):
    import lightning as L

    class StopAfter(L.Callback):
        """Stop (resumably) once ``epochs`` epochs are done."""

        def __init__(self, n: int):
            self.n = n

        def on_train_epoch_end(self, trainer, pl_module):
            if trainer.current_epoch + 1 >= self.n:
                trainer.should_stop = True

    return StopAfter(epochs)


def _start_epoch_callback():
    import lightning as L

    class StartEpoch(L.Callback):
        """Records the epoch a call starts with (restored from the checkpoint on resume)."""

        epoch = 0

        def on_train_start(self, trainer, pl_module):
            self.epoch = int(trainer.current_epoch)

    return StartEpoch()
