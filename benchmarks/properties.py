r"""Property prediction benchmark: CartNet, Site-Net and composition-only baselines on real data.

One table of test MAE and training time on this machine for

* CartNet (scalar head, :mod:`xtalkit.training.property`),
* Site-Net with supercells of N = 100 atoms (and N = 500 with ``--sitenet-500``),
* the Site-Net 5 Å attention-cutoff ablation (paper Table 2) on the tasks of
  ``--ablation-tasks`` (default: formation energy),
* :class:`~xtalkit.property.baselines.CompositionBaseline` (gradient boosting on
  element fractions and element-property means) and
  :class:`~xtalkit.property.baselines.MeanPredictor` (the training mean),

on four tasks (``--tasks``; files under ``--data``, default ``../shared/data/materials``):

* ``formation-energy`` — ``mp.csv.gz`` ``formation_energy_per_atom`` (eV/atom), folds 0–6 train,
  7 val, 8 test;
* ``band-gap`` — ``mp.csv.gz`` ``band_gap`` (eV), same folds (rows without a band gap left out);
* ``bulk-modulus`` — ``aflow/bulk_modulus/{train,val,test}.csv.gz``, log10(GPa);
* ``shear-modulus`` — ``aflow/shear_modulus/{train,val,test}.csv.gz``, log10(GPa).

The AFLOW files hold moduli in GPa; as in Matformer (and CartNet's Table 2,
which uses Matformer's splits), models learn and are scored on ``log10(GPa)``:
:func:`log10_table` takes the logarithm and leaves out rows with a modulus ≤ 0
(none in the current files). Models trained on the two ``mp.csv.gz`` tasks are
also scored on ``wbm_10k.csv.gz`` (WBM structures, a different distribution than
MP) as an out-of-distribution test; nothing is trained on WBM.

Training sets can be subsampled (``--max-train``, likewise ``--max-val``,
``--max-test``, ``--max-wbm``): a seeded choice without replacement
(``numpy.random.default_rng([seed, k])`` with k = 0, 1, 2, 3 for train, val,
test, WBM, so the validation rows do not change with the training size), the
same for every model of a task.

Layout under ``--work`` (default ``work``)::

    properties/cache/                     feature cache (shared by all runs)
    properties/runs/<task>/<run name>/    training run (xtalkit.training.property) + benchmark.json

A run name holds the model and every setting that changes training
(``cartnet_cpu_n3000_vall_e30_s0``). The script resumes: a run whose
``benchmark.json`` matches the evaluation settings is read back, a run with a
``model.pt`` is only evaluated, a run with ``checkpoints/last.ckpt`` continues
training. Results go to ``benchmarks/results/properties.{json,md}`` (written
atomically after every run; rows of an earlier invocation with the same
settings are kept, other settings start a new file).

Usage::

    python benchmarks/properties.py --max-train 3000 --max-val 1000 --epochs 30 --threads 2
    python benchmarks/properties.py --tasks formation-energy band-gap --models cartnet composition mean
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import logging
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from xtalkit.data.property_cache import CompositionFeaturizer, FeatureCache, featurize_table
from xtalkit.data.tables import PropertyTable, load_splits, load_table
from xtalkit.data.transforms import log10_table, seeded_choice, subsample
from xtalkit.io import atomic_write

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "materials"


@dataclasses.dataclass(frozen=True)
class Task:
    """One benchmark task.

    Attributes:
        path: table file or directory of split files, relative to the data directory.
        target: target column of the file.
        log10: learn and score ``log10`` of the target (moduli in GPa → log10 GPa).
        wbm: also score the task's models on ``wbm_10k.csv.gz`` (same target column).
        label: name in tables.
    """

    path: str
    target: str
    log10: bool
    wbm: bool
    label: str


TASKS: dict[str, Task] = {
    "formation-energy": Task("mp.csv.gz", "formation_energy_per_atom", False, True, "MP formation energy"),
    "band-gap": Task("mp.csv.gz", "band_gap", False, True, "MP band gap"),
    "bulk-modulus": Task("aflow/bulk_modulus", "bulk_modulus", True, False, "AFLOW bulk modulus"),
    "shear-modulus": Task("aflow/shear_modulus", "shear_modulus", True, False, "AFLOW shear modulus"),
}

#: name -> (network or baseline, config overrides, table label). ``*-cut5`` are the ablation rows.
MODELS: dict[str, tuple[str, dict, str]] = {
    "cartnet": ("cartnet", {}, "CartNet"),
    "sitenet100": ("sitenet", {"max_atoms": 100}, "Site-Net N=100"),
    "sitenet500": ("sitenet", {"max_atoms": 500}, "Site-Net N=500"),
    "sitenet100-cut5": (
        "sitenet",
        {"max_atoms": 100, "distance_cutoff": 5.0},
        "Site-Net N=100, 5 Å attention",
    ),
    "sitenet500-cut5": (
        "sitenet",
        {"max_atoms": 500, "distance_cutoff": 5.0},
        "Site-Net N=500, 5 Å attention",
    ),
    "composition": ("composition", {}, "composition baseline (gradient boosting)"),
    "mean": ("mean", {}, "training mean"),
}
NETWORKS = ("cartnet", "sitenet")

#: Published test MAEs for context (full data sets, 500 epochs or more on GPUs, other splits).
REFERENCE = [
    {"task": "formation-energy", "model": "CartNet", "mae": 0.01747, "units": "eV/atom",
     "source": "CartNet Table 2: MP 2018.6.1, Matformer split (60 000 train), 500 epochs, mean of 4 seeds"},
    {"task": "formation-energy", "model": "Site-Net N=500", "mae": 0.034, "units": "eV/atom",
     "source": "Site-Net §4: Matbench mp_e_form fold 0, same architecture as the band-gap model"},
    {"task": "band-gap", "model": "CartNet", "mae": 0.19079, "units": "eV",
     "source": "CartNet Table 2: MP 2018.6.1, Matformer split, 500 epochs"},
    {"task": "band-gap", "model": "Site-Net N=500", "mae": 0.234, "units": "eV",
     "source": "Site-Net Table 2: Matbench mp_gap fold 0 (84 890 train), ~500 epochs (~7 days on one GPU)"},
    {"task": "band-gap", "model": "Site-Net N=100", "mae": 0.246, "units": "eV",
     "source": "Site-Net Table 2"},
    {"task": "band-gap", "model": "Site-Net N=500, 5 Å attention", "mae": 0.273, "units": "eV",
     "source": "Site-Net Table 2 (the paper's cutoff ablation is on the band gap)"},
    {"task": "band-gap", "model": "Site-Net N=100, 10^3 / 10^4 training structures", "mae": "0.78 / 0.49",
     "units": "eV", "source": "Site-Net Table 3: the small-data regime of this benchmark"},
    {"task": "bulk-modulus", "model": "CartNet", "mae": 0.033, "units": "log10 GPa",
     "source": "CartNet Table 2: MP elastic set (~5 500 structures, Matformer split), not AFLOW"},
    {"task": "shear-modulus", "model": "CartNet", "mae": 0.0637, "units": "log10 GPa",
     "source": "CartNet Table 2: MP elastic set (~5 500 structures, Matformer split), not AFLOW"},
]  # fmt: skip


# --------------------------------------------------------------------------------------------- data
def load_task(name: str, data_dir: Path, args: argparse.Namespace) -> PropertyTable:
    """The (subsampled, transformed) table of a task with split labels."""
    task = TASKS[name]
    table = load_splits(data_dir / task.path, task.target)
    if task.log10:
        table = log10_table(table)
    return subsample(table, args.max_train, args.max_val, args.max_test, args.seed)


def load_wbm(task: Task, data_dir: Path, args: argparse.Namespace) -> PropertyTable | None:
    """WBM rows with the task's target (every row labelled, optionally subsampled), or None."""
    path = data_dir / "wbm_10k.csv.gz"
    if not task.wbm or not path.is_file():
        return None
    table = load_table(path, task.target, split="all")
    table = table.subset(seeded_choice(np.arange(len(table)), args.max_wbm, args.seed, 3))
    table.split_spec = {**table.split_spec, "max_wbm": args.max_wbm, "seed": args.seed}
    return table


# ------------------------------------------------------------------------------------------- runs
def run_name(model: str, args: argparse.Namespace) -> str:
    """Directory name of a run: the model and every setting that changes its training."""

    def lim(v):
        return "all" if v is None else str(v)

    epochs = "preset" if args.epochs is None else str(args.epochs)
    return f"{model}_{args.preset}_n{lim(args.max_train)}_v{lim(args.max_val)}_e{epochs}_s{args.seed}"


def eval_settings(args: argparse.Namespace) -> dict:
    """Settings that change the evaluation of a finished run (not its training)."""
    return {"max_test": args.max_test, "max_wbm": args.max_wbm, "seed": args.seed}


def _mae(pred: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    err = np.asarray(pred, float) - np.asarray(y, float)
    return float(np.abs(err).mean()), float(np.sqrt((err**2).mean()))


def run_baseline(
    model: str, table: PropertyTable, wbm: PropertyTable | None, cache: FeatureCache, args: argparse.Namespace
) -> dict:
    """Fit a composition baseline or the mean predictor on the training rows; score test (and WBM)."""
    from xtalkit.property.baselines import CompositionBaseline, MeanPredictor, composition_features

    def features(t: PropertyTable):
        t0 = time.time()
        ft = featurize_table(t, CompositionFeaturizer(), cache, in_memory=True)
        counts = np.stack([it["counts"] for it in ft.items]) if ft.items else np.zeros((0, 103))
        return composition_features(counts), t.y[ft.index], t.split[ft.index], time.time() - t0

    X, y, labels, feat_s = features(table)
    tr, te = labels == "train", labels == "test"
    t0 = time.time()
    est = MeanPredictor() if model == "mean" else CompositionBaseline(seed=args.seed, n_threads=args.threads)
    est.fit(X[tr], y[tr])
    fit_s = time.time() - t0
    rec = {"n_train": int(tr.sum()), "n_val": int((labels == "val").sum()), "n_test": int(te.sum()),
           "epochs": None, "epochs_run": None, "params": None, "featurize_seconds": feat_s,
           "train_seconds": fit_s, "val_mae": None}  # fmt: skip
    if (labels == "val").any():
        rec["val_mae"] = _mae(est.predict(X[labels == "val"]), y[labels == "val"])[0]
    rec["test_mae"], rec["test_rmse"] = _mae(est.predict(X[te]), y[te]) if te.any() else (None, None)
    if wbm is not None:
        Xw, yw, _, _ = features(wbm)
        rec["wbm_mae"], rec["wbm_rmse"] = _mae(est.predict(Xw), yw)
        rec["wbm_n"] = len(yw)
    return rec


def _featurize_seconds(
    table: PropertyTable, featurizer, cache: FeatureCache, workers: int = 0
) -> tuple[float, int]:
    misses = cache.misses
    t0 = time.time()
    featurize_table(table, featurizer, cache, workers=workers, in_memory=False)
    return time.time() - t0, cache.misses - misses


def evaluate_run(
    run: Path, table: PropertyTable | None, wbm: PropertyTable | None, cache: FeatureCache
) -> dict:
    """Test (when ``table`` is given) and WBM metrics of a run's ``model.pt``."""
    from xtalkit.property.predict import PropertyPredictor, evaluate_table

    pred = PropertyPredictor(run / "model.pt", cache=cache)
    out: dict = {}
    if table is not None:
        res = evaluate_table(pred, table, "test")
        out.update(test_mae=res["mae"], test_rmse=res["rmse"], n_test=res["n"])
    if wbm is not None:
        t0 = time.time()
        res = evaluate_table(pred, wbm, "all")
        out.update(wbm_mae=res["mae"], wbm_rmse=res["rmse"], wbm_n=res["n"],
                   wbm_failed=len(res["skipped"]), wbm_seconds=time.time() - t0)  # fmt: skip
    return out


def run_network(
    model: str,
    task_name: str,
    table: PropertyTable,
    wbm: PropertyTable | None,
    cache: FeatureCache,
    args: argparse.Namespace,
) -> dict:
    """Train (or resume, or read back) one network run and score it."""
    from xtalkit.pretrained import load
    from xtalkit.training.property import make_config, train

    t_start = time.time()
    arch, overrides, _ = MODELS[model]
    run = args.work / "properties" / "runs" / task_name / run_name(model, args)
    record_file = run / "benchmark.json"
    previous = json.loads(record_file.read_text()) if record_file.is_file() else {}
    if previous and (run / "model.pt").is_file() and previous.get("eval") == eval_settings(args):
        print(f"  {model}: finished run read back from {run}")
        return previous
    config = make_config(arch, args.preset, epochs=args.epochs, seed=args.seed, **overrides)
    feat_s, misses = 0.0, 0
    trained_now = False
    if not (run / "model.pt").is_file():
        feat_s, misses = _featurize_seconds(table, config.featurizer(), cache, args.workers)
        resume = (run / "checkpoints" / "last.ckpt").is_file()
        print(f"  {model}: featurized in {feat_s:.0f} s ({misses} new); training in {run}"
              + (" (resumed)" if resume else ""), flush=True)  # fmt: skip
        train(config, table, run, cache=cache, resume=resume, progress=False,
              max_time_minutes=args.max_minutes)  # fmt: skip
        trained_now = True
    loaded = load(run, task="property")
    net, meta = loaded.model, loaded.metadata
    sizes = meta["split"]["sizes"]
    rec = {
        "n_train": sizes["train"], "n_val": sizes["val"], "n_test": sizes["test"],
        "epochs": config.epochs, "epochs_run": meta["epochs_run"],
        "params": int(sum(p.numel() for p in net.parameters())),
        "featurize_seconds": feat_s if trained_now else None,
        "featurize_new": misses if trained_now else None,
        "train_seconds": meta["train_seconds"], "val_mae": meta["val_mae"],
        "test_mae": meta["test_mae"], "test_rmse": meta["test_rmse"],
        "config": meta["config"], "run_dir": str(run),
    }  # fmt: skip
    if wbm is not None and args.workers > 0:  # fill the cache in parallel before scoring
        _featurize_seconds(wbm, config.featurizer(), cache, args.workers)
    # a model trained in this invocation was tested on this table's test rows; an older one is re-scored
    rec.update(evaluate_run(run, None if trained_now else table, wbm, cache))
    rec["eval"] = eval_settings(args)
    rec["wall_seconds"] = time.time() - t_start if trained_now else previous.get("wall_seconds")
    if not trained_now:  # featurization and training happened in an earlier invocation
        rec["featurize_seconds"] = previous.get("featurize_seconds")
        rec["featurize_new"] = previous.get("featurize_new")
    atomic_write(record_file, json.dumps(rec, indent=1))
    return rec


# ---------------------------------------------------------------------------------------- results
def settings_of(args: argparse.Namespace) -> dict:
    """Settings that define the numbers of a results file."""
    return {
        "max_train": args.max_train, "max_val": args.max_val, "max_test": args.max_test,
        "max_wbm": args.max_wbm, "epochs": args.epochs, "preset": args.preset, "seed": args.seed,
        "max_minutes_per_run": args.max_minutes,
    }  # fmt: skip


def machine() -> dict:
    """Where the numbers were measured."""
    import torch

    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}  # fmt: skip


def _fmt(x, digits: int = 4) -> str:
    if x is None:
        return "–"
    if isinstance(x, str):
        return x
    return f"{x:.{digits}g}"


def _seconds(x) -> str:
    if x is None:
        return "–"
    return f"{x:.0f}" if x >= 10 else f"{x:.1f}"


def format_markdown(results: dict) -> str:
    """The Markdown report of a results document (:func:`main` writes both)."""
    s = results["settings"]
    m = results.get("machine", {})
    lines = [
        "# Property prediction benchmark",
        "",
        f"Written {results.get('written', '?')} by `python benchmarks/properties.py` with "
        f"preset `{s['preset']}`, epochs {s['epochs'] or 'of the preset'}, training rows "
        f"{s['max_train'] or 'all'}, validation rows {s['max_val'] or 'all'}, "
        f"test rows {s['max_test'] or 'all'}, "
        f"WBM rows {s['max_wbm'] or 'all'}, seed {s['seed']}"
        + (f", at most {s['max_minutes_per_run']} min per run" if s.get("max_minutes_per_run") else "")
        + ".",
        f"Machine: {m.get('cpus', '?')} CPUs, {m.get('torch_threads', '?')} torch thread(s), torch "
        f"{m.get('torch', '?')}, {m.get('platform', '?')}; load average at the end "
        f"{', '.join(f'{x:.1f}' for x in m.get('load_average') or []) or '?'} (other jobs share the machine, "
        "so the seconds are upper bounds).",
        "",
        "MAE on the test split in the target's units (eV/atom for formation energy, eV for band gap, "
        "log10 GPa for the moduli); WBM: the same MP-trained model scored on `wbm_10k.csv.gz` "
        "(out of distribution, no training on it). Seconds, measured when the run was made: featurization of "
        "the task's rows that were not yet in the feature cache (near 0 when another run had filled it; "
        "for the baselines, composition features including cache reads) and training (Lightning fit "
        "including per-epoch validation; for the baselines, the fit). Epochs: run / asked.",
        "",
        "| task | model | train / val / test | epochs | params | test MAE | test RMSE | WBM MAE (n) "
        "| featurize s | train s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for task_name, task in results["tasks"].items():
        for model, r in task["rows"].items():
            label = MODELS[model][2] if model in MODELS else model
            epochs = "–" if r.get("epochs") is None else f"{r['epochs_run']}/{r['epochs']}"
            wbm = "–" if r.get("wbm_mae") is None else f"{_fmt(r['wbm_mae'])} ({r['wbm_n']})"
            params = "–" if r.get("params") is None else f"{r['params'] / 1e3:.0f} k"
            lines.append(
                f"| {task_name} ({task['units']}) | {label} | {r['n_train']} / {r['n_val']} / {r['n_test']} "
                f"| {epochs} | {params} | {_fmt(r['test_mae'])} | {_fmt(r.get('test_rmse'))} | {wbm} "
                f"| {_seconds(r.get('featurize_seconds'))} | {_seconds(r.get('train_seconds'))} |"
            )
    lines += [
        "",
        "## What the numbers mean against the papers",
        "",
        "Published test MAEs (not comparable one to one; see below):",
        "",
        "| task | model | MAE | units | source |",
        "|---|---|---|---|---|",
    ]
    for ref in results.get("reference", REFERENCE):
        lines.append(
            f"| {ref['task']} | {ref['model']} | {_fmt(ref['mae'])} | {ref['units']} | {ref['source']} |"
        )
    lines += [
        "",
        "- The papers train on full data sets (60 000–85 000 MP structures for formation energy and band "
        "gap) for 500 epochs or more on GPUs (Site-Net: about 7 days per model), with the full-width "
        "networks (preset `paper`). Here the networks see a subsample of a smaller set "
        "(`mp.csv.gz`: 24 528 MP-20/MPTS-52 structures with ≤ 52 sites) for tens of epochs, usually "
        "with the narrow `cpu` preset, on CPUs. Expect errors several times the published ones; "
        "Site-Net's Table 3 shows how strongly the error depends on the training size "
        "(band gap, N=100: 0.78 eV with 10^3 structures, 0.49 eV with 10^4, 0.246 eV with 84 890).",
        "- Splits differ: `mp.csv.gz` is split by a hash of the reduced formula (folds 0–6 train, 7 "
        "validation, 8 test), so no formula is in two splits — harder than the random splits of "
        "Matformer and Matbench, where polymorphs of a test formula are often in the training set.",
        "- The moduli come from the AFLOW elastic set (3 433 / 735 / 736 structures), not the MP elastic set "
        "of Matformer/CartNet; both are log10 GPa, so the scale is comparable but not the data.",
        "- The Site-Net attention-cutoff ablation is on the band gap in the paper (Table 2: 0.234 → 0.273 eV "
        "at N=500); here it is run on the tasks of `--ablation-tasks` (default formation energy, where the "
        "paper finds long-range interactions matter least), at the N of the Site-Net rows.",
        "- The training mean's MAE is the mean absolute deviation of the test targets around the training "
        "mean (the MAD of Matformer/ALIGNN tables); a model below the composition baseline has learned "
        "something from the structure beyond the formula.",
        "- WBM structures are hypothetical materials made by element substitution of known prototypes; "
        "higher WBM errors than test errors measure the shift from MP's distribution.",
    ]
    return "\n".join(lines) + "\n"


def merge_from_disk(results: dict, out: Path) -> dict:
    """Add rows another invocation with the same settings wrote meanwhile (this invocation's rows win)."""
    try:
        disk = json.loads((out / "properties.json").read_text())
    except (OSError, ValueError):
        return results
    if disk.get("settings") != results["settings"]:
        return results
    for task_name, entry in disk.get("tasks", {}).items():
        mine = results["tasks"].setdefault(task_name, {k: v for k, v in entry.items() if k != "rows"})
        rows = mine.setdefault("rows", {})
        for model, rec in entry.get("rows", {}).items():
            rows.setdefault(model, rec)
    return results


def write_results(results: dict, out: Path) -> None:
    """Write ``properties.json`` and ``properties.md`` atomically.

    Rows written meanwhile by another invocation with the same settings (e.g. a second
    process running other tasks) are merged in first, so parallel runs may share ``--out``.
    """
    import torch

    merge_from_disk(results, out)
    order = {name: k for k, name in enumerate([*TASKS, *MODELS])}
    tasks = sorted(results["tasks"].items(), key=lambda kv: order.get(kv[0], 99))
    results["tasks"].clear()  # reorder in place: callers hold references to the entries
    for task_name, entry in tasks:
        entry["rows"] = dict(sorted(entry.get("rows", {}).items(), key=lambda kv: order.get(kv[0], 99)))
        results["tasks"][task_name] = entry
    results["written"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    results["machine"] = machine()
    results["machine"]["torch_threads"] = torch.get_num_threads()
    atomic_write(out / "properties.json", json.dumps(results, indent=1))
    atomic_write(out / "properties.md", format_markdown(results))


def load_previous(out: Path, settings: dict) -> dict:
    """Rows of an earlier results file with the same settings, else an empty document."""
    try:
        old = json.loads((out / "properties.json").read_text())
    except (OSError, ValueError):
        old = None
    if old is not None and old.get("settings") == settings:
        return old
    if old is not None:
        print(f"{out / 'properties.json'}: other settings; starting a new results file", file=sys.stderr)
    return {"settings": settings, "tasks": {}, "reference": REFERENCE}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", nargs="+", choices=list(TASKS), default=list(TASKS))
    p.add_argument("--models", nargs="+", choices=list(MODELS), default=None,
                   help="default: cartnet sitenet100 composition mean (+ sitenet500 with --sitenet-500) "
                        "and the ablation")  # fmt: skip
    p.add_argument("--sitenet-500", action="store_true", help="also Site-Net with N = 500 (and its ablation)")
    p.add_argument("--ablation-tasks", nargs="*", choices=list(TASKS), default=["formation-energy"],
                   help="tasks of the 5 Å attention-cutoff ablation (none: no ablation)")  # fmt: skip
    p.add_argument("--max-train", type=int, default=None, help="training rows per task (seeded subsample)")
    p.add_argument("--max-val", type=int, default=None, help="validation rows per task")
    p.add_argument("--max-test", type=int, default=None, help="test rows per task (default: all)")
    p.add_argument("--max-wbm", type=int, default=None, help="WBM rows (default: all 10 000)")
    p.add_argument("--epochs", type=int, default=None, help="epochs (default: the preset's)")
    p.add_argument("--preset", choices=("cpu", "paper"), default="cpu")
    p.add_argument("--max-minutes", type=float, default=None, help="wall-time limit per training run")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch and scikit-learn threads")
    p.add_argument("--workers", type=int, default=0, help="processes featurizing structures (0: this one)")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="materials data directory")
    p.add_argument("--work", type=Path, default=ROOT / "work")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    return p.parse_args(argv)


def models_for(task_name: str, args: argparse.Namespace) -> list[str]:
    """Models run on a task: the chosen ones, plus the ablation where asked."""
    if args.models is not None:
        chosen = list(args.models)
    else:
        chosen = [
            "cartnet",
            "sitenet100",
            *(["sitenet500"] if args.sitenet_500 else []),
            "composition",
            "mean",
        ]
        if task_name in args.ablation_tasks:
            chosen.insert(
                chosen.index("composition"), "sitenet500-cut5" if args.sitenet_500 else "sitenet100-cut5"
            )
    return [m for m in chosen if not m.endswith("-cut5") or task_name in args.ablation_tasks]


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark; returns the results document."""
    import torch
    from threadpoolctl import threadpool_limits

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    with threadpool_limits(args.threads):
        return _run(args)


def _quiet_lightning() -> None:
    """Keep Lightning's per-run banners and known harmless warnings out of the benchmark log."""
    import lightning.pytorch  # noqa: F401  (it sets its loggers' levels when imported)

    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*Experiment logs directory.*exists and is not empty.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")


def _run(args: argparse.Namespace) -> dict:
    _quiet_lightning()
    args.work = args.work.resolve()
    cache = FeatureCache(args.work / "properties" / "cache")
    settings = settings_of(args)
    results = load_previous(args.out, settings)
    t_all = time.time()
    for task_name in args.tasks:
        task = TASKS[task_name]
        t0 = time.time()
        table = load_task(task_name, args.data, args)
        wbm = load_wbm(task, args.data, args)
        sizes = table.split_sizes()
        print(f"{task_name}: {table.target} ({table.units}), train/val/test {sizes['train']}/{sizes['val']}/"
              f"{sizes['test']}" + (f", WBM {len(wbm)}" if wbm is not None else "")
              + f" (loaded in {time.time() - t0:.0f} s)", flush=True)  # fmt: skip
        entry = results["tasks"].setdefault(task_name, {"rows": {}})
        entry.update(target=table.target, units=table.units, data=table.path, label=task.label,
                     split=table.split_spec, skipped_rows=len(table.skipped))  # fmt: skip
        for model in models_for(task_name, args):
            t0 = time.time()
            if MODELS[model][0] in NETWORKS:
                rec = run_network(model, task_name, table, wbm, cache, args)
            else:
                rec = run_baseline(model, table, wbm, cache, args)
                rec["wall_seconds"] = time.time() - t0
            entry["rows"][model] = rec
            print(f"  {model}: test MAE {_fmt(rec['test_mae'])} {table.units}"
                  + (f", WBM MAE {_fmt(rec['wbm_mae'])}" if rec.get("wbm_mae") is not None else "")
                  + f" ({time.time() - t0:.0f} s)", flush=True)  # fmt: skip
            write_results(results, args.out)
    print(f"total {time.time() - t_all:.0f} s; wrote {args.out / 'properties.md'}")
    return results


if __name__ == "__main__":
    main()
