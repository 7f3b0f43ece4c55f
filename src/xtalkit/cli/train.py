"""``xtalkit train``: train models."""

from __future__ import annotations

import argparse

from xtalkit.cli import options as opt
from xtalkit.cli.train_options import (
    add_config_option,
    add_run_options,
    merged,
    print_summary,
    settings_errors,
)


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


def run_cartnet_adp(args: argparse.Namespace) -> int:
    """Run ``xtalkit train cartnet-adp``."""
    from xtalkit.training.cartnet_adp import make_config, train

    names = (
        "dim", "num_layers", "num_rbf", "cutoff", "batch_size", "accumulate", "lr", "pct_start", "epochs",
        "seed", "num_workers", "hydrogens", "envelope", "direction", "temperature", "augment", "head", "loss",
        "monitor", "rigid_body", "head_directions",
    )  # fmt: skip
    settings = merged(args.config, {name: getattr(args, name) for name in names})
    with settings_errors(args.config):
        config = make_config(args.preset, **settings)
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
        print_summary(summary, args.out)
    return 0
