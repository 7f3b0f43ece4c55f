"""``xtalkit property``: train, predict, evaluate and baseline scalar crystal properties."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path

from xtalkit.cli import options as opt
from xtalkit.cli.common import Batch, Job, add_scale_options, run_sharded, sharded
from xtalkit.cli.train_options import (
    add_config_option,
    add_run_options,
    merged,
    print_summary,
    settings_errors,
)
from xtalkit.errors import XtalkitError
from xtalkit.io import atomic_write

_SPLIT_HELP = (
    "Splits: a table with a formula_fold column uses folds 0-6/7/8 (train/val/test); a 'split' column is "
    "used as given; JARVIS JSON uses Matformer's random split (80/10/10, seed 123); Matbench JSON uses "
    "KFold(5, shuffle, random_state=18012019) fold --matbench-fold with 20% of the rest for validation; "
    "other tables a seeded random 80/10/10 split. A directory with train/val/test files is split by file."
)


def _add_data_args(p: argparse.ArgumentParser, *, target_required: bool) -> None:
    p.add_argument(
        "--data", required=True, help="table file (CSV/JSON, .gz) or directory of train/val/test files"
    )
    p.add_argument("--target", required=target_required, default=None, help="target column")
    p.add_argument("--format", default="auto", choices=["auto", "csv", "json", "jarvis", "matbench"])
    p.add_argument("--val-data", default=None, help="validation table (then --data is all training)")
    p.add_argument("--test-data", default=None, help="test table")
    p.add_argument(
        "--split-method",
        default="auto",
        choices=["auto", "fold", "column", "random", "matformer", "matbench", "all"],
        help="how a single table is split (default auto, see above)",
    )
    p.add_argument(
        "--split-seed",
        type=opt.nonnegative_int,
        default=None,
        help="seed of random/matformer/matbench splits",
    )
    p.add_argument(
        "--fractions", type=opt.fraction, nargs=3, default=None, metavar=("TRAIN", "VAL", "TEST"),
        help="fractions of random (and matformer) splits (default 0.8 0.1 0.1)",
    )  # fmt: skip
    p.add_argument("--fold-column", default=None, help="fold column (default formula_fold)")
    p.add_argument(
        "--matbench-fold", type=opt.nonnegative_int, default=0, help="Matbench test fold 0-4 (default 0)"
    )
    p.add_argument(
        "--cache", default=None, help="feature cache directory (default $XTALKIT_CACHE_DIR or ~/.cache)"
    )
    p.add_argument("--no-cache", action="store_true", help="featurize in memory only")
    p.add_argument("--transform", choices=["none", "log10"], default="none",
                   help="learn and score log10 of the target (moduli; rows ≤ 0 skipped)")  # fmt: skip
    for split in ("train", "val", "test"):
        p.add_argument(f"--max-{split}", type=opt.positive_int, default=None, metavar="N",
                       help=f"at most N {split} rows, seeded draw (--subsample-seed)")  # fmt: skip
    p.add_argument("--subsample-seed", type=opt.nonnegative_int, default=0)


def _table(args: argparse.Namespace, target: str | None):
    from xtalkit.data.tables import SplitSpec, load_splits

    spec = SplitSpec(method=args.split_method, seed=args.split_seed, matbench_fold=args.matbench_fold)
    if args.fractions:
        spec.fractions = tuple(args.fractions)
    if args.fold_column:
        spec.fold_column = args.fold_column
    from xtalkit.data.transforms import apply_transforms

    table = load_splits(
        args.data, target, split=spec, val_data=args.val_data, test_data=args.test_data, format=args.format
    )
    return apply_transforms(table, transform=args.transform, max_train=args.max_train, max_val=args.max_val,
                            max_test=args.max_test, seed=args.subsample_seed)  # fmt: skip


def _progress(args: argparse.Namespace) -> bool:
    return not args.quiet and sys.stderr.isatty()


def _cache(args: argparse.Namespace):
    from xtalkit.data.property_cache import FeatureCache, default_cache_dir

    if getattr(args, "no_cache", False):
        return FeatureCache(None)
    return FeatureCache(args.cache or default_cache_dir())


def add_train_parser(acts: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    """Register the property trainer as ``name`` (``xtalkit train property``, ``xtalkit property train``)."""
    tr = acts.add_parser(
        name,
        help="train CartNet or Site-Net on a table of structures",
        description=(
            "Train CartNet (scalar head; --preset paper = SI Tables S2/S3: width 256, batch 64, Adam 1e-3 "
            "OneCycle, L1, 500 epochs, 5 Å graphs) or Site-Net (--preset paper = Table 1: AdamW 8.12e-4, "
            "1200 unique sites per batch, 500-atom supercells; band gaps clamped at 0) on the training rows, "
            "keeping the epoch with the lowest validation MAE. --preset cpu is sized for a laptop. "
            "Writes RUN_DIR/model.pt. " + _SPLIT_HELP
        ),
    )
    tr.add_argument("model", choices=["cartnet", "sitenet"])
    _add_data_args(tr, target_required=True)
    tr.add_argument("-o", "--out", required=True, metavar="RUN_DIR", help="run directory")
    tr.add_argument("--preset", default="paper", choices=["paper", "cpu"])
    pos, non, real = opt.positive_int, opt.nonnegative_int, opt.positive_float
    for option, typ in (("epochs", pos), ("batch-size", pos), ("lr", real), ("seed", non), ("dim", pos),
                        ("num-layers", pos), ("cutoff", real), ("max-atoms", pos), ("max-sites", pos),
                        ("attention-cutoff", real), ("num-workers", non)):  # fmt: skip
        tr.add_argument(f"--{option}", type=typ, default=None)
    tr.add_argument("--loss", choices=["l1", "mse"], default=None)
    tr.add_argument(
        "--clamp",
        choices=["auto", "yes", "no"],
        default="auto",
        help="Site-Net: clamp outputs at 0 (auto: gaps)",
    )
    tr.add_argument(
        "--workers", type=opt.nonnegative_int, default=0, help="processes featurizing structures (default 0)"
    )
    add_run_options(tr)
    tr.add_argument("--quiet", action="store_true", help="no progress bars")
    add_config_option(tr)
    tr.set_defaults(func=run_train)
    return tr


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``xtalkit property``."""
    p = sub.add_parser("property", help="scalar crystal properties: train, predict, evaluate, baseline")
    acts = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    add_train_parser(acts, "train")

    pr = acts.add_parser(
        "predict",
        help="predict a property for CIF files",
        description=(
            "Predict with a model file (or shipped model name) for CIF files and directories (searched "
            "recursively for *.cif). Every data block is one row of the CSV (file, block, formula, "
            "prediction, units). Unreadable files are listed at the end; the others are written."
        ),
    )
    pr.add_argument("files", nargs="+", metavar="FILE_OR_DIR")
    pr.add_argument("--model", required=True, help="model file (model.pt) or shipped model name")
    pr.add_argument("-o", "--out", required=True, help="output CSV")
    pr.add_argument("--batch-size", type=opt.positive_int, default=64, help="structures per batch (CartNet)")
    pr.add_argument("--quiet", action="store_true", help="no progress bar")
    add_scale_options(pr)
    pr.set_defaults(func=run_predict, check=_check_predict)

    ev = acts.add_parser(
        "evaluate",
        help="MAE of a model on a split of a table",
        description="Score a model on one split of a table (same split conventions as training). "
        + _SPLIT_HELP,
    )
    ev.add_argument("--model", required=True, help="model file or shipped model name")
    _add_data_args(ev, target_required=False)
    ev.add_argument("--split", default="test", choices=["train", "val", "test", "all"])
    ev.add_argument("--predictions", default=None, help="also write id,target,prediction to this CSV")
    ev.add_argument("--json", action="store_true")
    ev.add_argument("--quiet", action="store_true")
    ev.set_defaults(func=run_evaluate)

    bl = acts.add_parser(
        "baseline",
        help="composition-only baselines (mean, gradient boosting) on a table",
        description="Fit the mean predictor and gradient boosting on element fractions to the training rows "
        "and report validation and test MAE. " + _SPLIT_HELP,
    )
    _add_data_args(bl, target_required=True)
    bl.add_argument("--no-means", action="store_true", help="element fractions only")
    bl.add_argument("--json", action="store_true")
    bl.add_argument("--quiet", action="store_true")
    bl.set_defaults(func=run_baseline)


def run_train(args: argparse.Namespace) -> int:
    """Run ``xtalkit property train``."""
    from xtalkit.training.property import make_config, train

    overrides = {
        "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
        "loss": args.loss, "num_workers": args.num_workers,
    }  # fmt: skip
    model_only = {
        "cartnet": {"dim": args.dim, "num_layers": args.num_layers, "cutoff": args.cutoff},
        "sitenet": {
            "max_atoms": args.max_atoms,
            "max_sites": args.max_sites,
            "distance_cutoff": args.attention_cutoff,
        },
    }
    for other, values in model_only.items():
        given = [k for k, v in values.items() if v is not None]
        if other != args.model and given:
            flag = {"distance_cutoff": "attention-cutoff"}.get(given[0], given[0].replace("_", "-"))
            raise XtalkitError(f"--{flag} does not apply to {args.model}")
    overrides.update(model_only[args.model])
    if args.model == "sitenet":
        if overrides.pop("batch_size") is not None:
            raise XtalkitError("Site-Net batches by unique sites: use --max-sites, not --batch-size")
        overrides["clamp_output"] = {"auto": None, "yes": True, "no": False}[args.clamp]
    with settings_errors(args.config):
        config = make_config(args.model, args.preset, **merged(args.config, overrides))
    table = _table(args, args.target)
    result = train(
        config, table, args.out, cache=_cache(args), workers=args.workers, resume=args.resume,
        max_time_minutes=args.max_time, progress=_progress(args), devices=args.devices,
        stop_after_epochs=args.stop_after,
        strategy=args.strategy,
    )  # fmt: skip
    if result.summary:
        print_summary(result.summary, args.out)
    return 0


def _check_predict(args: argparse.Namespace) -> None:
    opt.check_suffix(args.out, (".csv",), "the table of predictions")
    opt.check_output(args.out, directory=False)


def run_predict(args: argparse.Namespace) -> int:
    """Run ``xtalkit property predict``: structures are read as they come and predicted in chunks."""
    from xtalkit.property.predict import PropertyPredictor

    predictor = PropertyPredictor(args.model, batch_size=args.batch_size)
    batch = Batch(args.files, "predict", debug=getattr(args, "debug", False),
                  show_progress=False if args.quiet else None)  # fmt: skip
    column = predictor.target or "prediction"
    rows: list[list[str]] = []
    if sharded(args):
        out = Path(args.out)
        run, status = run_sharded(
            batch, lambda b: _predict_files(b, predictor, args, []), network=predictor.model,
            shards=out.parent / f".{out.name}.shards", args=args, files_per_step=args.batch_size,
            progress=not args.quiet,
        )  # fmt: skip
        if not run.rank_zero:
            return status
        _write_table(args.out, column, run.rows)
    else:
        with batch.session():
            try:
                _predict_files(batch, predictor, args, rows)
            finally:
                _write_table(args.out, column, rows)  # what was finished, also when interrupted
        status = batch.finish()
    units = f" ({predictor.units})" if predictor.units else ""
    print(f"{args.out}: {batch.outputs} predictions of {column}{units} with {predictor.name}")
    return status


def _write_table(path: str, column: str, rows: list[list[str]]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["file", "block", "formula", column, "units"])
    w.writerows(rows)
    atomic_write(path, buf.getvalue())


def _predict_files(batch: Batch, predictor, args: argparse.Namespace, rows: list) -> list:
    """The loop of ``property predict`` over a batch, predicting ``--batch-size`` structures at a time.

    Appends ``[file, block, formula, value, units]`` to ``rows`` as they are finished and returns it.
    """
    pending: list[Job] = []

    def flush() -> None:
        jobs = list(pending)
        pending.clear()
        values, errors = predictor.predict_with_errors([job.crystal for job in jobs])
        for job, value, err in zip(jobs, values, errors, strict=True):
            if err is not None:
                batch.report.add(f"{job.where}: {err}")
                continue
            with batch.guard(job):
                for warning in predictor.warnings(job.crystal):
                    print(f"{job.where}: warning: {warning}", file=sys.stderr)
                formula = job.crystal.formula.replace(" ", "")
                rows.append([str(job.path), job.block, formula, f"{value:.6g}", predictor.units])
                batch.wrote(job.path)

    chunk = max(1, args.batch_size)
    for job in batch.jobs():
        pending.append(job)
        if len(pending) >= chunk:
            with batch.guard(f"{pending[0].path} … {pending[-1].path}"):
                flush()
    with batch.guard("last chunk"):
        flush()
    return rows


def run_evaluate(args: argparse.Namespace) -> int:
    """Run ``xtalkit property evaluate``."""
    from xtalkit.property.predict import PropertyPredictor, evaluate_table

    predictor = PropertyPredictor(args.model)
    target = args.target or predictor.target
    if not target:
        raise XtalkitError(f"{predictor.name}: the model names no target; give --target")
    table = _table(args, target)
    res = evaluate_table(predictor, table, args.split, cache=_cache(args), progress=_progress(args))
    if args.predictions:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["id", target, "prediction"])
        for i, t, p in zip(res["ids"], res["targets"], res["predictions"], strict=True):
            w.writerow([i, f"{t:.6g}", f"{p:.6g}"])
        atomic_write(args.predictions, buf.getvalue())
    units = res["units"]
    if args.json:
        doc = {k: res[k] for k in ("split", "n", "mae", "rmse", "units")}
        doc.update(
            model=predictor.name, data=table.path, target=target, skipped=[str(s) for s in res["skipped"]]
        )
        print(json.dumps(doc, indent=1))
        return 0
    print(f"{table.path} [{args.split}]: {res['n']} structures, {len(res['skipped'])} skipped")
    print(f"  MAE {res['mae']:.4g} {units}   RMSE {res['rmse']:.4g} {units}".rstrip())
    for s in res["skipped"][:10]:
        print(f"  skipped: {s}", file=sys.stderr)
    return 0


def run_baseline(args: argparse.Namespace) -> int:
    """Run ``xtalkit property baseline``."""
    import numpy as np

    from xtalkit.data.property_cache import CompositionFeaturizer, featurize_table
    from xtalkit.property.baselines import CompositionBaseline, MeanPredictor, composition_features

    table = _table(args, args.target)
    ft = featurize_table(
        table, CompositionFeaturizer(), _cache(args), progress=_progress(args), in_memory=True
    )
    counts = np.stack([item["counts"] for item in ft.items]) if ft.items else np.zeros((0, 103))
    X = composition_features(counts, weighted_means=not args.no_means)
    labels = table.split[ft.index]
    y = table.y[ft.index]
    tr = labels == "train"
    if not tr.any():
        raise XtalkitError(f"{table.path}: no training rows")
    models = {
        "mean": MeanPredictor().fit(X[tr], y[tr]),
        "gradient_boosting": CompositionBaseline().fit(X[tr], y[tr]),
    }
    results = {}
    for split in ("val", "test"):
        m = labels == split
        if m.any():
            results[split] = {
                name: float(np.mean(np.abs(model.predict(X[m]) - y[m]))) for name, model in models.items()
            }
            results[split]["n"] = int(m.sum())
    doc = {"data": table.path, "target": table.target, "units": table.units, "train": int(tr.sum()),
           "skipped": len(table.skipped) + len(ft.failures), "mae": results}  # fmt: skip
    if args.json:
        print(json.dumps(doc, indent=1))
        return 0
    print(f"{table.path}: {table.target} ({table.units or 'units unknown'}), {int(tr.sum())} training rows")
    for split, r in results.items():
        print(
            f"  {split} ({r['n']}): MAE mean {r['mean']:.4g}   gradient boosting {r['gradient_boosting']:.4g}"
        )
    return 0
