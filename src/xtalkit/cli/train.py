"""``xtalkit train``: train models."""

from __future__ import annotations

import argparse
import json

from xtalkit.cli import options as opt
from xtalkit.errors import XtalkitError


def _flag(p: argparse.ArgumentParser, name: str, help: str) -> None:
    p.add_argument(f"--no-{name}", dest=name.replace("-", "_"), action="store_false", default=None, help=help)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``xtalkit train``."""
    p = sub.add_parser("train", help="train a model: cartnet-adp, property, distmat, lattice")
    models = p.add_subparsers(dest="model", metavar="MODEL", required=True)
    c = models.add_parser(
        "cartnet-adp",
        help="CartNet for thermal ellipsoids (ADPs)",
        description=(
            "Train CartNet on the train splits of one or more ADP datasets (xtalkit dataset adp build), "
            "selecting the epoch with the lowest validation MAE (or loss, --monitor). Defaults: "
            "--preset paper (SI Table S1, the paper's Cholesky head); --preset cpu is sized for a laptop; "
            "--preset harmonic is the exactly equivariant harmonic + rigid-body head (the shipped "
            "harmonic-adp). Every setting can be overridden."
        ),
    )
    c.add_argument("--data", action="append", required=True, help="dataset directory (repeatable)")
    c.add_argument("-o", "--out", required=True, help="run directory")
    c.add_argument("--preset", default="paper", choices=["paper", "cpu", "harmonic"])
    c.add_argument("--head", choices=["cholesky", "harmonic"], default=None, help="ADP head")
    c.add_argument("--loss", choices=["l1", "size_shape", "size_shape_l1"], default=None, help="loss")
    c.add_argument("--monitor", choices=["val_mae", "val_loss"], default=None, help="selects the best epoch")
    add_config_option(c)
    pos, real = opt.positive_int, opt.positive_float
    for name, typ in (
        ("dim", pos), ("num-layers", pos), ("num-rbf", pos), ("cutoff", real), ("batch-size", pos),
        ("accumulate", pos), ("lr", real), ("pct-start", opt.fraction), ("epochs", pos),
        ("seed", opt.nonnegative_int), ("num-workers", opt.nonnegative_int),
    ):  # fmt: skip
        c.add_argument(f"--{name}", type=typ, default=None)
    _flag(c, "hydrogens", "build graphs without H atoms (ablation 2)")
    _flag(c, "envelope", "no neighbour equalization envelope (ablation 3)")
    _flag(c, "direction", "no direction vectors on edges (ablation 4)")
    _flag(c, "temperature", "no temperature input (ablation 5)")
    _flag(c, "augment", "no SO(3) augmentation (ablation 6)")
    _flag(c, "rigid-body", "harmonic head without the rigid-body (TLS) part for molecules")
    _flag(c, "head-directions", "harmonic head without directions: spherical ellipsoids (a control)")
    add_run_options(c)
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    c.set_defaults(func=run_cartnet_adp)
    # one front door for every trainer; the task's own spellings (`xtalkit property train`,
    # `xtalkit csp train`, `xtalkit csp train-lattice`) stay as aliases
    from xtalkit.cli import csp, property

    property.add_train_parser(models, "property")
    csp.add_train_parser(models, "distmat")
    csp.add_train_lattice_parser(models, "lattice")


def load_settings(path: str | None) -> dict:
    """Settings from a YAML/JSON file: a flat mapping, or a run's ``config.json`` ({"config": {...}}).

    Every trainer's ``make_config`` refuses unknown keys; ``None`` gives an empty mapping.
    """
    from pathlib import Path

    import yaml

    from xtalkit.errors import XtalkitError

    if path is None:
        return {}
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise XtalkitError(f"{path}: cannot read settings ({type(exc).__name__})") from None
    if isinstance(doc, dict) and isinstance(doc.get("config"), dict):
        doc = doc["config"]
    if not isinstance(doc, dict):
        raise XtalkitError(f"{path}: settings must be a mapping")
    return doc


def add_config_option(p: argparse.ArgumentParser) -> None:
    """``--config FILE`` for every trainer: YAML or JSON settings that the flags override."""
    help_ = "YAML or JSON file of settings (e.g. a previous run's config.json); flags override it"
    p.add_argument("--config", default=None, help=help_)


def add_run_options(p: argparse.ArgumentParser, *, devices: bool = True) -> None:
    """The options every trainer shares: devices, strategy, resume, time limit, stop-after."""
    if devices:
        p.add_argument(
            "--devices", type=opt.positive_int, default=1, help="processes or accelerators (default 1)"
        )
        p.add_argument("--strategy", default="auto", help="Lightning strategy, e.g. ddp (default auto)")
    p.add_argument("--resume", action="store_true", help="continue the run in the output directory")
    p.add_argument("--max-time", type=opt.positive_float, default=None, help="minutes of training at most")
    p.add_argument(
        "--stop-after", type=opt.positive_int, default=None, metavar="N",
        help="stop after epoch N (the schedule still spans --epochs); continue later with --resume",
    )  # fmt: skip


def merged(settings_file: str | None, flags: dict) -> dict:
    """Settings from ``--config`` with the given (non-None) flags on top."""
    out = load_settings(settings_file)
    out.update({k: v for k, v in flags.items() if v is not None})
    return out


def run_cartnet_adp(args: argparse.Namespace) -> int:
    """Run ``xtalkit train cartnet-adp``."""
    from xtalkit.training.cartnet_adp import make_config, train

    names = (
        "dim", "num_layers", "num_rbf", "cutoff", "batch_size", "accumulate", "lr", "pct_start", "epochs",
        "seed", "num_workers", "hydrogens", "envelope", "direction", "temperature", "augment", "head", "loss",
        "monitor", "rigid_body", "head_directions",
    )  # fmt: skip
    settings = merged(args.config, {name: getattr(args, name) for name in names})
    try:
        config = make_config(args.preset, **settings)
    except XtalkitError as exc:
        raise XtalkitError(f"{args.config or 'settings'}: {exc}") from None
    summary = train(
        config,
        args.data,
        args.out,
        devices=args.devices,
        strategy=args.strategy,
        resume=args.resume,
        max_time_minutes=args.max_time,
        progress=not args.quiet,
        stop_after_epochs=args.stop_after,
    ).summary
    if summary:
        print(json.dumps({k: v for k, v in summary.items() if k != "config"}, indent=1))
    return 0
