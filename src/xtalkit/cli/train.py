"""``xtalkit train``: train models."""

from __future__ import annotations

import argparse
import json


def _flag(p: argparse.ArgumentParser, name: str, help: str) -> None:
    p.add_argument(f"--no-{name}", dest=name.replace("-", "_"), action="store_false", default=None, help=help)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``xtalkit train``."""
    p = sub.add_parser("train", help="train a model")
    models = p.add_subparsers(dest="model", metavar="MODEL", required=True)
    c = models.add_parser(
        "cartnet-adp",
        help="CartNet for thermal ellipsoids (ADPs)",
        description=(
            "Train CartNet on the train splits of one or more ADP datasets (xtalkit dataset adp build), "
            "selecting the epoch with the lowest validation MAE. Defaults: --preset paper (SI Table S1); "
            "--preset cpu is sized for a laptop. Every setting can be overridden."
        ),
    )
    c.add_argument("--data", action="append", required=True, help="dataset directory (repeatable)")
    c.add_argument("-o", "--out", required=True, help="run directory")
    c.add_argument("--preset", default="paper", choices=["paper", "cpu"])
    for name, typ in (
        ("dim", int), ("num-layers", int), ("num-rbf", int), ("cutoff", float), ("batch-size", int),
        ("accumulate", int), ("lr", float), ("pct-start", float), ("epochs", int), ("seed", int),
        ("num-workers", int),
    ):  # fmt: skip
        c.add_argument(f"--{name}", type=typ, default=None)
    _flag(c, "hydrogens", "build graphs without H atoms (ablation 2)")
    _flag(c, "envelope", "no neighbour equalization envelope (ablation 3)")
    _flag(c, "direction", "no direction vectors on edges (ablation 4)")
    _flag(c, "temperature", "no temperature input (ablation 5)")
    _flag(c, "augment", "no SO(3) augmentation (ablation 6)")
    c.add_argument("--devices", type=int, default=1, help="processes or accelerators (default 1)")
    c.add_argument("--strategy", default="auto", help="Lightning strategy, e.g. ddp (default auto)")
    c.add_argument("--resume", action="store_true", help="continue the run in --out")
    c.add_argument("--max-time", type=float, default=None, help="minutes of training at most")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    c.set_defaults(func=run_cartnet_adp)


def run_cartnet_adp(args: argparse.Namespace) -> int:
    """Run ``xtalkit train cartnet-adp``."""
    from xtalkit.training.cartnet_adp import make_config, train

    config = make_config(
        args.preset,
        dim=args.dim, num_layers=args.num_layers, num_rbf=args.num_rbf, cutoff=args.cutoff,
        batch_size=args.batch_size, accumulate=args.accumulate, lr=args.lr, pct_start=args.pct_start,
        epochs=args.epochs, seed=args.seed, num_workers=args.num_workers, hydrogens=args.hydrogens,
        envelope=args.envelope, direction=args.direction, temperature=args.temperature, augment=args.augment,
    )  # fmt: skip
    summary = train(
        config,
        args.data,
        args.out,
        devices=args.devices,
        strategy=args.strategy,
        resume=args.resume,
        max_time_minutes=args.max_time,
        progress=not args.quiet,
    )
    if summary:
        print(json.dumps({k: v for k, v in summary.items() if k != "config"}, indent=1))
    return 0
