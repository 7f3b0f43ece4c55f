"""``xtalkit evaluate``: score a trained model on a dataset split."""

from __future__ import annotations

import argparse
import json

from xtalkit.cli import options as opt


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``xtalkit evaluate``."""
    p = sub.add_parser(
        "evaluate",
        help="MAE, S12 and IoU of an ADP model on a dataset split",
        description=(
            "Score a model file on the split of each --data directory: MAE (Å²), S12 (%%), IoU (%%) and "
            "relative volume error, averaged over scored atoms. --rotation-check R adds the equivariance "
            "check of CartNet §6.5; --average-rotations K averages predictions over K rotations."
        ),
    )
    p.add_argument("--model", required=True, help="model file (model.pt) or shipped model name")
    p.add_argument("--data", action="append", required=True, help="dataset directory (repeatable)")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--batch-size", type=opt.positive_int, default=8)
    p.add_argument("--average-rotations", type=opt.nonnegative_int, default=0, metavar="K")
    p.add_argument("--rotation-check", type=opt.nonnegative_int, default=0, metavar="R")
    p.add_argument("--seed", type=opt.nonnegative_int, default=0)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--plot", default=None, metavar="FIG.png",
                   help="parity plots of U_eq and anisotropy (one per --data)")  # fmt: skip
    p.set_defaults(func=run, check=_check)


def _check(args: argparse.Namespace) -> None:
    if args.plot:
        from xtalkit.adp.plot import FORMATS

        opt.check_suffix(args.plot, FORMATS, "a figure")
        opt.check_output(args.plot, directory=False)


def run(args: argparse.Namespace) -> int:
    """Run ``xtalkit evaluate``."""
    from xtalkit.adp.evaluate import evaluate, rotation_check
    from xtalkit.data.graphs import ADPGraphDataset
    from xtalkit.data.store import ADPStore
    from xtalkit.pretrained import load

    loaded = load(args.model, task="adp")
    model, name = loaded.model, loaded.name
    results = {}
    for d in args.data:
        ds = ADPGraphDataset([ADPStore(d, args.split)], cutoff=model.cutoff, hydrogens=model.hydrogens)
        res = evaluate(
            model,
            ds,
            batch_size=args.batch_size,
            average_rotations=args.average_rotations,
            seed=args.seed,
            return_tensors=bool(args.plot),
        )
        if args.plot:
            from pathlib import Path

            from xtalkit.adp.analysis_plots import plot_parity

            fig = Path(args.plot)
            if len(args.data) > 1:
                fig = fig.with_name(f"{fig.stem}_{Path(d).name}{fig.suffix}")
            title = f"{name} on {Path(d).name} [{args.split}]"
            res["plot"] = str(plot_parity(res.pop("U_true"), res.pop("U_pred"), fig, title=title))
        if args.rotation_check:
            res["rotation_check"] = rotation_check(
                model, ds, rotations=args.rotation_check, batch_size=args.batch_size, seed=args.seed,
                average_rotations=args.average_rotations,
            )  # fmt: skip
        results[d] = res
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    for d, r in results.items():
        print(f"{d} [{args.split}]: {r['structures']} structures, {r['atoms']} atoms")
        print(f"  MAE {r['mae']:.3e} Å²   S12 {r['s12']:.2f} %   IoU {r['iou']:.2f} %   "
              f"volume error {100 * r['volume_relative_error']:.1f} %")  # fmt: skip
        print(f"  shape IoU {r['shape_iou']:.2f} %   median U_eq ratio {r['median_ueq_ratio']:.3f}   "
              f"λmax/λmin {r['median_anisotropy']:.2f} (data {r['median_anisotropy_true']:.2f})")  # fmt: skip
        if "rigid_bond_delta" in r:
            print(f"  rigid-bond Δ (median over {r['bonds']} bonds) {r['rigid_bond_delta']:.4f} Å² "
                  f"(data {r['rigid_bond_delta_true']:.4f} Å²)")  # fmt: skip
        if "rotation_check" in r:
            rc = r["rotation_check"]
            print(f"  rotation check ({rc['rotations']} rotations): MAE {rc['mae']:.3e} Å²   "
                  f"S12 {rc['s12']:.3f} %   IoU {rc['iou']:.2f} %")  # fmt: skip
    return 0
