"""``xtalkit csp``: AlphaCrystal-II crystal structure prediction — train, predict, evaluate.

Usage::

    xtalkit csp train --data mp.csv.gz -o RUN_DIR [--preset cpu] [--groups 10] [--epochs 125] [--resume]
    xtalkit csp train-lattice --data mp.csv.gz -o lattice.npz
    xtalkit csp predict FORMULA... -o DIR [--top-k 10] [--candidates 50] [--model PATH] [--workers N]
    xtalkit csp evaluate PRED_DIR TRUE.cif [--top N] [--json]

Formulas are cell contents (``Na4Cl4`` is rock salt's conventional cell). A
formula with more than 12 atoms, an unknown element or an unreadable text is
reported on one line and the others go on (exit status 1 if any failed). A
formula without a charge-balanced assignment of common oxidation states is
predicted anyway with a one-line warning, or refused with ``--require-balanced``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from xtalkit.cli import options as opt
from xtalkit.cli.train_options import (
    add_config_option,
    add_run_options,
    merged,
    print_summary,
    settings_errors,
)
from xtalkit.csp.pipeline import CSPConfig
from xtalkit.errors import XtalkitError


def add_train_parser(acts: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    """Register the distance-matrix trainer as ``name`` (``xtalkit train distmat``, ``xtalkit csp train``)."""
    tr = acts.add_parser(
        name,
        help="train the distance-matrix network (and the lattice model) on a table of structures",
        description=(
            "Build (or read from the cache) the distance-matrix dataset of a table (structures with ≤ 12 "
            "atoms per cell; mp.csv.gz folds 0-6 train, 7 validation, 8 test), train DistMatNet with Adam "
            "1e-3 for 125 epochs keeping the best validation epoch, and fit the lattice/space-group model on "
            "folds 0-7. Writes RUN_DIR/model.pt and RUN_DIR/lattice.npz. --preset cpu: a 0.29 M-parameter "
            "network for one CPU; medium: the shipped 1.15 M-parameter network with 20 distance groups; "
            "paper: the §2.3 network (GPU)."
        ),
    )
    tr.add_argument("--data", required=True, help="table file (e.g. mp.csv.gz)")
    tr.add_argument("-o", "--out", required=True, metavar="RUN_DIR")
    tr.add_argument("--preset", default="paper", choices=["paper", "medium", "cpu"])
    tr.add_argument("--groups", type=opt.positive_int, default=None, help="distance groups N (default 10)")
    pos = opt.positive_int
    for option, typ in (("epochs", pos), ("batch-size", pos), ("lr", opt.positive_float),
                        ("seed", opt.nonnegative_int), ("max-train", pos)):  # fmt: skip
        tr.add_argument(f"--{option}", type=typ, default=None)
    tr.add_argument(
        "--bins-range", choices=["train", "paper"], default=None, help="eq. 5 range (default train)"
    )
    _data_args(tr)
    tr.add_argument("--no-lattice", action="store_true", help="do not fit the lattice model")
    add_config_option(tr)
    add_run_options(tr)
    tr.add_argument("--quiet", action="store_true")
    tr.set_defaults(func=run_train)
    return tr


def add_train_lattice_parser(acts: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    """Register the lattice fit as ``name`` (``xtalkit train lattice``, ``xtalkit csp train-lattice``)."""
    tl = acts.add_parser(
        name,
        help="fit the space-group and lattice predictor on a table",
        description="Random forests on composition features for crystal system, space group, volume per "
        "atom and cell shape, fitted on the train and validation rows (mp.csv.gz: folds 0-7); saved as .npz "
        "without pickle.",
    )
    tl.add_argument("--data", required=True, help="table file (e.g. mp.csv.gz)")
    tl.add_argument("-o", "--out", required=True, help="output .npz")
    tl.add_argument("--trees", type=opt.positive_int, default=100, help="trees per forest (default 100)")
    tl.add_argument("--seed", type=opt.nonnegative_int, default=0)
    _data_args(tl)
    tl.add_argument("--quiet", action="store_true")
    tl.set_defaults(func=run_train_lattice)
    return tl


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``xtalkit csp``."""
    p = sub.add_parser("csp", help="crystal structure prediction from the formula (AlphaCrystal-II)")
    acts = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    add_train_parser(acts, "train")
    add_train_lattice_parser(acts, "train-lattice")

    el = acts.add_parser(
        "evaluate-lattice",
        help="score a space-group and lattice model on a table's test split, beside baselines",
        description="Crystal system, space group within the first 1/5/10, volume per atom and cell of the "
        "true group, against composition-blind baselines fitted on the train and validation rows "
        "(xtalkit.csp.lattice_eval; the numbers of benchmarks/results/lattice.md).",
    )
    el.add_argument("--data", required=True, help="table file (e.g. mp.csv.gz)")
    el.add_argument(
        "--model", default=None, help="lattice .npz or shipped name (default alphacrystal-lattice)"
    )
    el.add_argument("--json", action="store_true")
    _data_args(el)
    el.add_argument("--quiet", action="store_true")
    el.set_defaults(func=run_evaluate_lattice)

    d = CSPConfig()
    pr = acts.add_parser(
        "predict",
        help="predict crystal structures of cell formulas",
        description=(
            "For every cell formula: distance matrix from the network, top space groups and lattices from "
            "the lattice model, candidates by the distance-matrix GA (or pyxtal random structures with "
            "--method random) split over the groups, CHGNet relaxation, ranking by energy per atom. Writes "
            "DIR/<formula>/rank_NN.cif, candidates.csv and summary.json, and DIR/summary.csv. Formulas "
            "with a summary.json are skipped (resume) unless --force."
        ),
    )
    pr.add_argument(
        "formulas", nargs="+", metavar="FORMULA",
        help="reduced formula (LiGaSi: every cell of ≤ 12 atoms is tried) or cell contents (Li2Ga2Si2)",
    )  # fmt: skip
    pr.add_argument("-o", "--out", required=True, metavar="DIR")
    pr.add_argument(
        "--model", default=None,
        help="distance-matrix model file or run directory (default: the shipped alphacrystal-distmat)",
    )  # fmt: skip
    pr.add_argument(
        "--lattice-model", default=None,
        help="lattice model .npz (default: lattice.npz beside --model, else the shipped "
        "alphacrystal-lattice)",
    )  # fmt: skip
    pr.add_argument("--method", default="alphacrystal", choices=["alphacrystal", "random"])
    pr.add_argument(
        "--top-k", type=opt.positive_int, default=10, help="structures written per formula (default 10)"
    )
    pr.add_argument(
        "--candidates",
        type=opt.positive_int,
        default=d.n_candidates,
        help=f"candidates generated per formula (default {d.n_candidates})",
    )
    pr.add_argument(
        "--relax",
        type=opt.nonnegative_int,
        default=d.n_relax,
        metavar="N",
        help=f"distinct candidates relaxed after screening (default {d.n_relax}; 0: all, no screening)",
    )
    pr.add_argument(
        "--screen",
        default=d.screen,
        choices=["distance", "random"],
        help="screening order: loss against the predicted distance matrix (default) or random",
    )
    pr.add_argument(
        "--pyxtal-share",
        type=opt.fraction,
        default=d.pyxtal_share,
        help=f"share of candidates drawn by pyxtal instead of the GA (default {d.pyxtal_share:g})",
    )
    pr.add_argument(
        "--cell-only",
        action="store_true",
        help="take a reduced formula as the cell contents (do not try 2, 3, ... formula units)",
    )
    pr.add_argument(
        "--space-groups", type=opt.positive_int, default=5, help="predicted groups used (default 5)"
    )
    pr.add_argument("--space-group", type=opt.space_group, action="append", default=None, metavar="G",
                    help="use this space group instead of predicted ones (repeatable)")  # fmt: skip
    pr.add_argument(
        "--relax-steps",
        type=opt.nonnegative_int,
        default=d.relax_steps,
        help=f"CHGNet steps per candidate (default {d.relax_steps})",
    )
    pr.add_argument("--fmax", type=opt.positive_float, default=0.1, help="eV/Å force threshold (default 0.1)")
    pr.add_argument("--population", type=opt.positive_int, default=48, help="GA population (default 48)")
    pr.add_argument("--generations", type=opt.positive_int, default=60, help="GA generations (default 60)")
    pr.add_argument(
        "--group-seconds", type=opt.nonnegative_float, default=120.0,
        help="time limit of candidate generation per space group, s (default 120; 0: none)",
    )  # fmt: skip
    pr.add_argument("--seed", type=opt.nonnegative_int, default=0)
    pr.add_argument("--require-balanced", action="store_true", help="refuse formulas without charge balance")
    pr.add_argument("--workers", type=opt.positive_int, default=1, help="processes over formulas (default 1)")
    pr.add_argument(
        "--threads", type=opt.positive_int, default=None,
        help="torch threads per process (default: every core with one worker, 1 with several)",
    )  # fmt: skip
    pr.add_argument("--force", action="store_true", help="recompute formulas that have a summary")
    pr.add_argument("--quiet", action="store_true", help="no progress bar")
    pr.set_defaults(func=run_predict, check=lambda a: opt.check_output(a.out, directory=True))

    ev = acts.add_parser(
        "evaluate",
        help="compare predicted structures with the true one",
        description=(
            "For the written top candidates of one formula directory: StructureMatcher match and RMS "
            "(ltol 0.3, stol 0.5, 10°), energy distance (CHGNet, eV/atom), Wyckoff RMSE (eq. 3, when "
            "matched), 8 Å distance-map overlap (eq. 4) and superpose distance (Å)."
        ),
    )
    ev.add_argument("pred_dir", metavar="PRED_DIR", help="a formula directory of `xtalkit csp predict`")
    ev.add_argument("true_cif", metavar="TRUE.cif")
    ev.add_argument("--top", type=opt.positive_int, default=None, help="only the first N ranks")
    ev.add_argument("--no-energy", action="store_true", help="skip CHGNet energy distances")
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(func=run_evaluate)


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cell",
        default="conventional",
        choices=["conventional", "file"],
        help="distance targets of the conventional cell (default) or of the table's cell",
    )
    p.add_argument("--cache", default=None, help="dataset cache directory (default ~/.cache/xtalkit/...)")
    p.add_argument("--no-cache", action="store_true", help="build the dataset in memory only")
    p.add_argument(
        "--workers", type=opt.positive_int, default=1, help="processes analysing structures (default 1)"
    )


def _progress(args: argparse.Namespace) -> bool:
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


def _dataset(args: argparse.Namespace):
    from xtalkit.csp.data import build_dataset

    ds = build_dataset(
        args.data, cell=args.cell, cache_dir=args.cache, use_cache=not args.no_cache, workers=args.workers,
        progress=_progress(args),
    )  # fmt: skip
    print(
        f"{args.data}: {len(ds)} structures ({int(ds.has_target.sum())} with {ds.cell}-cell targets), "
        f"{len(ds.meta['skipped'])} rows skipped",
        file=sys.stderr,
    )
    return ds


def run_train(args: argparse.Namespace) -> int:
    """Run ``xtalkit csp train``."""
    from xtalkit.csp.lattice import fit_lattice_model
    from xtalkit.training.distmat import make_config, train_distmat

    flags = {"num_groups": args.groups, "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
             "seed": args.seed, "max_train": args.max_train, "bins_range": args.bins_range}  # fmt: skip
    with settings_errors(args.config):
        config = make_config(args.preset, **merged(args.config, flags))
    ds = _dataset(args)
    result = train_distmat(
        config, ds, args.out, resume=args.resume, max_time_minutes=args.max_time, progress=_progress(args),
        devices=args.devices, strategy=args.strategy, stop_after_epochs=args.stop_after,
    )  # fmt: skip
    if not result.summary:  # not rank 0 of a multi-process run
        return 0
    if not args.no_lattice:
        fit_lattice_model(ds).save(Path(args.out) / "lattice.npz")
    print_summary(result.summary, args.out)
    return 0


def run_evaluate_lattice(args: argparse.Namespace) -> int:
    """Run ``xtalkit csp evaluate-lattice``."""
    import numpy as np

    from xtalkit.csp.lattice_eval import evaluate_lattice, lattice_markdown
    from xtalkit.pretrained import DEFAULT_LATTICE_MODEL, load

    loaded = load(args.model or DEFAULT_LATTICE_MODEL, task="lattice")
    ds = _dataset(args)
    train_idx = np.flatnonzero(np.isin(ds.split, ["train", "val"]))
    test_idx = np.flatnonzero(ds.split == "test")
    if test_idx.size == 0:
        raise XtalkitError(f"{args.data}: no test rows to score")
    doc = {"lattice_model": loaded.name, "data": str(args.data),
           "results": evaluate_lattice(loaded.model, ds, train_idx, test_idx)}  # fmt: skip
    print(json.dumps(doc, indent=1) if args.json else lattice_markdown(doc))
    return 0


def run_train_lattice(args: argparse.Namespace) -> int:
    """Run ``xtalkit csp train-lattice``."""
    from xtalkit.csp.lattice import LatticeConfig, fit_lattice_model

    if args.trees < 1:
        raise XtalkitError("--trees must be at least 1")
    ds = _dataset(args)
    model = fit_lattice_model(ds, config=LatticeConfig(n_estimators=args.trees, seed=args.seed))
    path = model.save(args.out)
    print(json.dumps({k: model.meta[k] for k in ("n_train", "space_groups_seen", "shape_rows")}, indent=1))
    print(f"lattice model: {path}", file=sys.stderr)
    return 0


def run_predict(args: argparse.Namespace) -> int:
    """Run ``xtalkit csp predict``."""
    from xtalkit.csp.pipeline import check_formula, default_lattice_model_path, predict

    config = CSPConfig(
        top_k=args.top_k, n_candidates=args.candidates, n_space_groups=args.space_groups,
        relax_steps=args.relax_steps, fmax=args.fmax, population=args.population,
        generations=args.generations, require_balanced=args.require_balanced, seed=args.seed,
        group_seconds=args.group_seconds, n_relax=args.relax, screen=args.screen,
        pyxtal_share=args.pyxtal_share, search_z=not args.cell_only,
    ).check()  # fmt: skip
    if args.threads is None:
        args.threads = max(1, os.cpu_count() or 1) if args.workers == 1 else 1
    if args.workers < 1 or args.threads < 1:
        raise XtalkitError("--workers and --threads must be at least 1")
    valid = []
    for f in args.formulas:  # bad formulas: one line each, before any model is loaded
        try:
            check_formula(f, config)
            valid.append(f)
        except XtalkitError as exc:
            print(f"xtalkit csp predict: {exc}", file=sys.stderr)
    if valid:
        import torch

        torch.set_num_threads(args.threads)
        lattice = args.lattice_model or default_lattice_model_path(args.model)
        outcomes = predict(
            valid, args.out, model=args.model, lattice_model=lattice, config=config, method=args.method,
            workers=args.workers, threads_per_worker=args.threads, space_groups=args.space_group,
            force=args.force, progress=_progress(args),
        )  # fmt: skip
    else:
        outcomes = []
    failed = len(args.formulas) - len(valid)
    for o in outcomes:
        if o.status == "failed":
            failed += 1
            print(f"xtalkit csp predict: {o.message}", file=sys.stderr)
            continue
        if o.message:
            print(f"xtalkit csp predict: warning: {o.message}", file=sys.stderr)
        s = o.summary or {}
        top = s.get("top") or []
        best = ""
        if top:
            t = top[0]
            where = f"{t.get('cell', s.get('formula'))}, generated in space group {t['space_group']}"
            best = f"best {t['energy_per_atom']:.4f} eV/atom ({where}) -> {Path(o.directory) / t['file']}"
        if o.status == "skipped":
            what = "skipped (summary.json exists)"
        else:
            if s.get("reduced"):
                print(f"{s['formula']}: reduced formula; cells tried: {', '.join(s['cells'])}")
            secs = s.get("seconds", {})
            what = (
                f"{s.get('n_generated')} candidates, {s.get('n_relaxations')} relaxed in "
                f"{secs.get('total', 0):.0f} s (generation {secs.get('generate', 0):.0f} s, relaxation "
                f"{secs.get('relax', 0):.0f} s)"
            )
        print(f"{s.get('formula', o.formula)}: {what}, {len(top)} written; {best}".rstrip("; "))
    return 1 if failed else 0


def _cell(v, fmt: str = ".4f") -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    return format(v, fmt)


def run_evaluate(args: argparse.Namespace) -> int:
    """Run ``xtalkit csp evaluate``."""
    from xtalkit.csp.pipeline import evaluate_prediction

    if not Path(args.true_cif).is_file():
        raise XtalkitError(f"{args.true_cif}: no such file")
    res = evaluate_prediction(args.pred_dir, args.true_cif, top=args.top, energy=not args.no_energy)
    if args.json:
        print(json.dumps(res, indent=1))
        return 0
    where = f"{res['directory']} ({res['method']})"
    print(f"{where} vs {args.true_cif} ({res['true_formula']}): {res['n']} candidates")
    head = ("rank", "E eV/atom", "match", "RMS", "dE eV/atom", "Wyckoff RMSE", "DM overlap", "superpose A")
    print("  ".join(f"{h:>12}" for h in head))
    for r in res["candidates"]:
        cells = (
            str(r["rank"]), _cell(r["energy_per_atom"]), _cell(r["match"]), _cell(r["rms"]),
            _cell(r["energy_distance"]), _cell(r["wyckoff_rmse"]), _cell(r["distance_map_overlap"]),
            _cell(r["superpose_distance"]),
        )  # fmt: skip
        print("  ".join(f"{c:>12}" for c in cells))
    if res["match_rank"] is not None:
        print(f"matched at rank {res['match_rank']} of {res['n']}; best RMS {_cell(res['best_rms'])}")
    else:
        print(f"no match within the top {res['n']}")
    print(
        f"best superpose distance {_cell(res['best_superpose'])} A; "
        f"best energy distance {_cell(res['best_energy_distance'])} eV/atom"
    )
    return 0
