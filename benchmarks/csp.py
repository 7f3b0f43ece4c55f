"""AlphaCrystal-II against a random symmetric search at equal candidate and relaxation budget (Table 3).

Formulas. From fold 8 of ``shared/data/materials/mp.csv.gz`` (never seen by
the models, which train on folds 0-7): per reduced formula the polymorph with
the lowest ``e_above_hull``; its conventional cell in pyxtal's setting
(:func:`xtalkit.csp.reconstruct.standard_setting`) must have ≤ 12 atoms; in a
seeded random order (``--seed``), the first ``N/3`` binary, ternary and
quaternary ones (``--formulas N``, default 30 = 10 + 10 + 10 as in the paper's
Table 3). The formula given to the predictors is that conventional cell's
contents (the number of formula units per cell is given, as in the usual CSP
benchmarks).

Methods, same settings otherwise (:class:`xtalkit.csp.pipeline.CSPConfig`):
``alphacrystal`` (distance matrix → GA reconstruction) and ``random``
(:mod:`xtalkit.csp.baseline`: pyxtal random structures), both in the same
predicted space groups and lattices, ``--candidates`` per formula (paper: 50),
CHGNet relaxation of every candidate (``--relax-steps``), ranking by energy.

Metrics per formula and method: match within the top 10 and top 20 distinct
structures (pymatgen StructureMatcher, ltol 0.3, stol 0.5, 10°, against the
fold-8 structure), the best (smallest) RMS among the matches, the best
superpose distance (Å; the paper's Table 3 metric) within the top 10 / 20, the
energy distance of rank 1 (CHGNet, eV/atom) and the wall time of the
prediction (generation + relaxation + ranking, one process). Summaries: match
rates, mean best RMS over matched formulas, mean wall time per formula.

Models: ``--model`` (a ``model.pt`` or run directory of ``xtalkit csp train``)
and ``--lattice-model``; when not given they are trained into ``--work-dir``
(full: the ``cpu`` preset, ``--epochs`` (default 125, the paper's), on folds
0-6/7 of the conventional-cell dataset,
lattice model on folds 0-7; ``--quick``: a 2-epoch model on 300 rows). The
predictions go to ``--work-dir/<method>/`` and are resumed there.

Results: ``benchmarks/results/csp.{json,md}`` (``--quick``:
``benchmarks/results/tmp/csp_quick.{json,md}``), written atomically. Usage::

    python benchmarks/csp.py [--quick] [--formulas 30] [--candidates 50] [--model RUN_DIR] [--workers 1]

``--quick``: 3 formulas, 8 candidates over 2 space groups, 20 relaxation
steps, a small GA; checks the whole path in a few minutes, not a measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("XTALKIT_SHARED", REPO.parent / "shared"))
MP = SHARED / "data" / "materials" / "mp.csv.gz"
TYPES = {2: "binary", 3: "ternary", 4: "quaternary"}


def select_formulas(path: Path, n: int, seed: int, max_atoms: int = 12, fold: int = 8) -> list[dict]:
    """The benchmark formulas (module docstring) of one fold: ``[{id, type, formula, reduced, structure}, ...]``."""
    import pandas as pd
    from pymatgen.core import Structure

    from xtalkit.csp.reconstruct import standard_setting
    from xtalkit.errors import XtalkitError

    df = pd.read_csv(path)
    df = df[(df.formula_fold == fold) & (df.nsites <= max_atoms)]
    df = df.sort_values(["reduced_formula", "e_above_hull", "material_id"]).drop_duplicates("reduced_formula")
    order = np.random.default_rng(seed).permutation(len(df))
    quota = {k: n // 3 + (1 if i < n % 3 else 0) for i, k in enumerate(TYPES)}
    chosen = []
    for i in order:
        row = df.iloc[int(i)]
        s = Structure.from_str(row.cif, fmt="cif")
        k = len(s.composition.elements)
        if quota.get(k, 0) <= 0:
            continue
        try:
            conv, sg = standard_setting(s, max_atoms=max_atoms)
        except XtalkitError:
            continue
        formula = conv.composition.formula.replace(" ", "")
        chosen.append(
            {"id": row.material_id, "type": TYPES[k], "formula": formula, "reduced": row.reduced_formula,
             "space_group": sg, "n_atoms": len(conv), "structure": s}
        )  # fmt: skip
        quota[k] -= 1
        if not any(quota.values()):
            break
    return sorted(chosen, key=lambda c: (list(TYPES.values()).index(c["type"]), c["id"]))


def ensure_models(args, work: Path) -> tuple[Path, Path]:
    """The distance-matrix and lattice model files: given, or trained into ``work`` (module docstring)."""
    from xtalkit.csp.data import build_dataset
    from xtalkit.csp.lattice import LatticeConfig, fit_lattice_model
    from xtalkit.training.distmat import make_config, train_distmat

    if args.model:
        from xtalkit.csp.pipeline import default_lattice_model_path

        model = Path(args.model)
        model = model / "model.pt" if model.is_dir() else model
        lattice = Path(args.lattice_model) if args.lattice_model else default_lattice_model_path(model)
        if lattice is None:
            raise SystemExit("--lattice-model is needed (no lattice.npz beside --model)")
        return model, lattice
    run = work / "model"
    if not (run / "model.pt").is_file() or not (run / "lattice.npz").is_file():
        rows = None
        if args.quick:
            import pandas as pd

            df = pd.read_csv(args.data, usecols=["formula_fold", "nsites"])
            rows = np.flatnonzero((df.formula_fold.to_numpy() <= 7) & (df.nsites.to_numpy() <= 12))[:300]
        ds = build_dataset(args.data, cell="conventional", rows=rows, progress=sys.stderr.isatty())
        if not (run / "model.pt").is_file():
            cfg = make_config("cpu", epochs=2 if args.quick else args.epochs, seed=args.seed)
            resume = (run / "checkpoints" / "last.ckpt").is_file()
            train_distmat(cfg, ds, run, resume=resume, progress=sys.stderr.isatty(), evaluate_test=False)
        trees = 30 if args.quick else 100
        fit_lattice_model(ds, config=LatticeConfig(n_estimators=trees, seed=args.seed)).save(
            run / "lattice.npz"
        )
    return run / "model.pt", run / "lattice.npz"


def score(entry: dict, pred_root: Path, tops: tuple[int, ...]) -> dict:
    """Metrics of one formula's prediction against its fold-8 structure."""
    from xtalkit.csp.pipeline import evaluate_prediction

    d = pred_root / entry["formula_dir"]
    if not (d / "summary.json").is_file():
        return {"error": "no prediction"}
    summary = json.loads((d / "summary.json").read_text())
    ev = evaluate_prediction(d, entry["structure"], top=max(tops), energy=True)
    out = {
        "seconds": summary["seconds"]["total"],
        "n_generated": summary["n_generated"],
        "n_relaxations": summary["n_relaxations"],
        "n_written": len(summary["top"]),
        "rank1_energy_distance": ev["candidates"][0]["energy_distance"] if ev["candidates"] else None,
        "match_rank": ev["match_rank"],
    }
    for k in tops:
        rows = [r for r in ev["candidates"] if r["rank"] <= k]
        rms = [r["rms"] for r in rows if r["match"] and r["rms"] is not None]
        sup = [r["superpose_distance"] for r in rows if r["superpose_distance"] is not None]
        out[f"match_top{k}"] = any(r["match"] for r in rows)
        out[f"best_rms_top{k}"] = min(rms) if rms else None
        out[f"best_superpose_top{k}"] = min(sup) if sup else None
    return out


def aggregate(results: list[dict], method: str, tops: tuple[int, ...], kind: str | None = None) -> dict:
    """Match rates, mean best RMS over matches and mean wall time of one method (and formula type)."""
    rows = [r[method] for r in results if "error" not in r[method] and (kind is None or r["type"] == kind)]
    out = {"n": len(rows)}
    for k in tops:
        m = [r[f"match_top{k}"] for r in rows]
        rms = [r[f"best_rms_top{k}"] for r in rows if r[f"best_rms_top{k}"] is not None]
        sup = [r[f"best_superpose_top{k}"] for r in rows if r[f"best_superpose_top{k}"] is not None]
        out[f"match_rate_top{k}"] = float(np.mean(m)) if m else None
        out[f"mean_best_rms_top{k}"] = float(np.mean(rms)) if rms else None
        out[f"mean_best_superpose_top{k}"] = float(np.mean(sup)) if sup else None
    secs = [r["seconds"] for r in rows]
    out["mean_seconds_per_formula"] = float(np.mean(secs)) if secs else None
    return out


def _f(v, fmt=".4f") -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    return format(v, fmt)


def markdown(doc: dict) -> str:
    """Per-formula table and summary."""
    tops = doc["tops"]
    c = doc["config"]
    lines = [
        "# AlphaCrystal-II vs random symmetric search (mp.csv.gz fold 8, equal budget)",
        "",
        ("Quick smoke run: not a measurement. " if doc["quick"] else "")
        + f"{c['n_candidates']} candidates per formula over {c['n_space_groups']} predicted space groups, "
        f"CHGNet relaxation ≤ {c['relax_steps']} steps (fmax {c['fmax']} eV/Å), top-{c['top_k']} distinct "
        f"structures, {doc['threads']} CPU thread(s), {doc['workers']} worker(s). Models: `{doc['model']}`, "
        f"`{doc['lattice_model']}`.",
        "",
        "| type | formula | mp id | SG | " + " | ".join(
            f"{m} match@{k} | {m} RMS@{k} | {m} superpose@{k} (Å)" for m in doc["methods"] for k in tops
        ) + " | " + " | ".join(f"{m} s" for m in doc["methods"]) + " |",
    ]  # fmt: skip
    ncol = 4 + 3 * len(tops) * len(doc["methods"]) + len(doc["methods"])
    lines.append("|" + "---|" * ncol)
    for r in doc["formulas"]:
        cells = [r["type"], r["formula"], r["id"], str(r["space_group"])]
        for m in doc["methods"]:
            for k in tops:
                x = r[m]
                if "error" in x:
                    cells += [x["error"], "", ""]
                    continue
                cells += [_f(x[f"match_top{k}"]), _f(x[f"best_rms_top{k}"]), _f(x[f"best_superpose_top{k}"])]
        cells += [_f(r[m].get("seconds"), ".0f") for m in doc["methods"]]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Summary", "", "| method | formulas | " + " | ".join(
        f"match rate@{k} | mean best RMS@{k} | mean best superpose@{k} (Å)" for k in tops
    ) + " | mean s / formula |", "|" + "---|" * (3 + 3 * len(tops))]  # fmt: skip
    for m in doc["methods"]:
        for kind in ("all", *TYPES.values()):
            a = doc["summary"][m][kind]
            cells = [f"{m} ({kind})", str(a["n"])]
            for k in tops:
                cells += [_f(a[f"match_rate_top{k}"], ".2f"), _f(a[f"mean_best_rms_top{k}"]),
                          _f(a[f"mean_best_superpose_top{k}"])]  # fmt: skip
            cells.append(_f(a["mean_seconds_per_formula"], ".0f"))
            lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Total wall time {doc['seconds']:.0f} s.", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=MP)
    ap.add_argument("--quick", action="store_true", help="3 formulas, 8 candidates, short relaxations")
    ap.add_argument("--formulas", type=int, default=None, help="number of formulas (default 30, quick 3)")
    ap.add_argument(
        "--candidates", type=int, default=None, help="candidates per formula (default 50, quick 8)"
    )
    ap.add_argument("--space-groups", type=int, default=None, help="predicted groups (default 5, quick 2)")
    ap.add_argument("--relax-steps", type=int, default=None, help="CHGNet steps (default 200, quick 20)")
    ap.add_argument("--methods", nargs="+", default=["alphacrystal", "random"])
    ap.add_argument("--model", default=None, help="distance-matrix model (default: train one)")
    ap.add_argument("--lattice-model", default=None)
    ap.add_argument(
        "--epochs", type=int, default=125, help="epochs of the distance-matrix model it trains (paper: 125)"
    )
    ap.add_argument("--workers", type=int, default=1, help="processes over formulas")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process")
    ap.add_argument(
        "--group-seconds", type=float, default=120.0, help="generation time per space group (0: no limit)"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work-dir", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None, help="output stem (without .json/.md)")
    args = ap.parse_args()
    import torch

    from xtalkit.csp.pipeline import CSPConfig, predict
    from xtalkit.io import atomic_write

    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    q = args.quick
    n_formulas = args.formulas or (3 if q else 30)
    tops = (10, 20)
    config = CSPConfig(
        top_k=max(tops), n_candidates=args.candidates or (8 if q else 50),
        n_space_groups=args.space_groups or (2 if q else 5),
        relax_steps=args.relax_steps or (20 if q else 200),
        population=16 if q else 48, generations=10 if q else 60, seed=args.seed,
        group_seconds=args.group_seconds,
    ).check()  # fmt: skip
    tmp = REPO / "benchmarks" / "results" / "tmp"
    work = args.work_dir or (tmp / ("csp_quick" if q else "csp"))
    out = args.out or (tmp / "csp_quick" if q else REPO / "benchmarks" / "results" / "csp")
    t0 = time.time()
    formulas = select_formulas(args.data, n_formulas, args.seed)
    print(f"{len(formulas)} formulas: {', '.join(f['formula'] for f in formulas)}", file=sys.stderr)
    model, lattice = ensure_models(args, work)
    from xtalkit.csp.encoding import encode_composition

    for f in formulas:
        f["formula_dir"] = encode_composition(f["formula"]).formula
    results = [
        {k: f[k] for k in ("id", "type", "formula", "reduced", "space_group", "n_atoms")} for f in formulas
    ]
    for method in args.methods:
        root = work / method
        t1 = time.time()
        outcomes = predict(
            [f["formula"] for f in formulas], root, model=model, lattice_model=lattice, config=config,
            method=method, workers=args.workers, threads_per_worker=args.threads,
            progress=sys.stderr.isatty(),
        )  # fmt: skip
        for o in outcomes:
            if o.status == "failed":
                print(f"{method}: {o.formula}: {o.message}", file=sys.stderr)
        for f, r in zip(formulas, results, strict=True):
            r[method] = score(f, root, tops)
        print(f"{method}: {time.time() - t1:.0f} s", file=sys.stderr)
    summary = {
        m: {
            kind: aggregate(results, m, tops, None if kind == "all" else kind)
            for kind in ("all", *TYPES.values())
        }
        for m in args.methods
    }
    doc = {
        "benchmark": "csp",
        "quick": q,
        "config": config.as_dict(),
        "tops": list(tops),
        "methods": args.methods,
        "model": str(model),
        "lattice_model": str(lattice),
        "workers": args.workers,
        "threads": args.threads,
        "formulas": results,
        "summary": summary,
        "seconds": time.time() - t0,
        "platform": platform.platform(),
        "torch": torch.__version__,
    }
    atomic_write(out.with_suffix(".json"), json.dumps(doc, indent=2) + "\n")
    atomic_write(out.with_suffix(".md"), markdown(doc))
    print(f"wrote {out.with_suffix('.json')} and .md ({doc['seconds']:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
