"""``xtalkit dataset adp build``: curate an ADP training set."""

from __future__ import annotations

import argparse
import sys

from xtalkit.cli import options as opt
from xtalkit.data.adp_filters import FILTER_ORDER, ADPFilterConfig


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``xtalkit dataset``."""
    p = sub.add_parser("dataset", help="build training datasets")
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)
    adp = kinds.add_parser("adp", help="ADP datasets").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    b = adp.add_parser(
        "build",
        help="filter experimental structures into an ADP dataset (CartNet §3)",
        description=(
            "Read SOURCEs (directories of CIFs, 'amcsd' for the AMCSD database in the larixite "
            "wheel, 'csd' for the CSD Python API), apply the quality filters of CartNet §3 and write "
            "a sharded dataset with grouped train/val/test splits to OUT. Rerunning the same command "
            "resumes an interrupted build."
        ),
    )
    b.add_argument("sources", nargs="+", metavar="SOURCE")
    b.add_argument("-o", "--out", required=True, help="dataset directory")
    d = ADPFilterConfig()
    b.add_argument(
        "--max-r1",
        type=opt.positive_float,
        default=d.max_r1,
        help="exclude R1 at or above (default %(default)s)",
    )
    b.add_argument(
        "--max-eigenvalue-ratio",
        type=opt.positive_float,
        default=d.max_eigenvalue_ratio,
        help="exclude structures with an ellipsoid whose λmax/λmin is above this (default %(default)s)",
    )
    b.add_argument(
        "--max-volume", type=opt.positive_float, default=d.max_volume, help="Å³ (default %(default)s)"
    )
    b.add_argument(
        "--max-vol-cov", type=opt.positive_float, default=d.max_vol_cov, help="(default %(default)s)"
    )
    b.add_argument(
        "--min-vol-cov-hot",
        type=opt.nonnegative_float,
        default=d.min_vol_cov_hot,
        help="(default %(default)s)",
    )
    b.add_argument(
        "--hot-temperature", type=opt.kelvin, default=d.hot_temperature, help="K (default %(default)s)"
    )
    b.add_argument("--max-atoms", type=opt.positive_int, default=d.max_atoms, help="(default %(default)s)")
    b.add_argument(
        "--assume-temperature",
        type=opt.kelvin,
        default=None,
        help="K given to structures without a temperature (flagged); AMCSD entries get 293 K unless set",
    )
    b.add_argument("--disable", nargs="*", default=[], choices=FILTER_ORDER, metavar="FILTER",
                   help=f"filters to skip: {', '.join(FILTER_ORDER)}")  # fmt: skip
    b.add_argument(
        "--split", nargs=3, type=opt.fraction, default=(0.8, 0.1, 0.1), metavar=("TRAIN", "VAL", "TEST")
    )
    b.add_argument("--seed", type=opt.nonnegative_int, default=0, help="seed of the grouped split")
    b.add_argument("--workers", type=opt.positive_int, default=1, help="processes (default %(default)s)")
    b.add_argument(
        "--chunk-size", type=opt.positive_int, default=200, help="inputs per shard (default %(default)s)"
    )
    b.set_defaults(func=run_build)


def run_build(args: argparse.Namespace) -> int:
    """Run ``xtalkit dataset adp build``."""
    from xtalkit.data.adp_build import build

    config = ADPFilterConfig(
        max_r1=args.max_r1,
        max_eigenvalue_ratio=args.max_eigenvalue_ratio,
        max_volume=args.max_volume,
        max_vol_cov=args.max_vol_cov,
        min_vol_cov_hot=args.min_vol_cov_hot,
        hot_temperature=args.hot_temperature,
        max_atoms=args.max_atoms,
        assumed_temperature=args.assume_temperature,
        disabled=tuple(args.disable),
    )
    report = build(
        args.sources,
        args.out,
        config,
        workers=args.workers,
        chunk_size=args.chunk_size,
        fractions=tuple(args.split),
        seed=args.seed,
        log=lambda msg: print(msg, file=sys.stderr),
    )
    from xtalkit.data.adp_build import format_report

    print(format_report(report))
    return 0
