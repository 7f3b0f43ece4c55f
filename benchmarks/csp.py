"""AlphaCrystal-II against a random symmetric search at equal budget (Table 3), with the shipped models.

Formulas. From fold 8 of ``shared/data/materials/mp.csv.gz`` (never seen by
the models, which train on folds 0-7): per reduced formula the polymorph with
the lowest ``e_above_hull``; its conventional cell in pyxtal's setting
(:func:`xtalkit.csp.reconstruct.standard_setting`) must have ≤ 12 atoms; in a
seeded random order (``--seed``), the first ``N/3`` binary, ternary and
quaternary ones (``--formulas N``, default 30 = 10 + 10 + 10 as in the paper's
Table 3). The formula given to the predictors is that conventional cell's
contents (the number of formula units is given, as in the usual CSP
benchmarks; ``search_z`` off).

Methods, all with the default :class:`xtalkit.csp.pipeline.CSPConfig`
otherwise — the same predicted space groups, lattices, ``n_candidates``
candidates per formula and relaxation steps:

* ``alphacrystal``: the default pipeline — candidates from the distance-matrix
  GA (and pyxtal, ``pyxtal_share``), duplicates removed, the ``n_relax`` best
  by loss against the predicted distance matrix relaxed;
* ``no-distance-matrix``: the same pipeline with the distance-matrix term
  switched off — pyxtal candidates, duplicates removed, ``n_relax`` of them in
  a seeded random order relaxed;
* ``random``: random symmetric search — the pyxtal candidates, all relaxed
  (``n_relax = 0``; twice the relaxations of the two others at the defaults).

Metrics per formula and method: match within the top 1, 10 and 20 distinct
structures against the fold-8 structure with pymatgen's default
``StructureMatcher`` tolerances (ltol 0.2, stol 0.3, 5°) and with the looser
ones used so far (ltol 0.3, stol 0.5, 10°), the best RMS among the matches
(loose tolerances), the best superpose distance (Å), the number of CHGNet
relaxations and the wall time of the prediction. Summaries: formulas matched,
mean best RMS over matched formulas, mean relaxations and seconds per
formula, and the time split between generation, screening and relaxation.

Models: the shipped ``alphacrystal-distmat`` and ``alphacrystal-lattice``
(default), or ``--model`` / ``--lattice-model``. The predictions go to
``--work-dir/<method>/`` and are resumed there.

Results: ``benchmarks/results/csp.{json,md}`` (``--quick``:
``benchmarks/results/tmp/csp_quick.{json,md}``), written atomically. Usage::

    python benchmarks/csp.py [--quick] [--formulas 30] [--workers 2] [--model M --lattice-model L]
    python benchmarks/csp.py --methods random --out R   # one method per process, then
    python benchmarks/csp.py --merge R.json A.json N.json   # one table

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
    """The formulas of one fold (module docstring): ``[{id, type, formula, reduced, structure}, ...]``.

    The table is read and its fold chosen by :func:`xtalkit.data.tables.load_splits` (the
    ``formula_fold`` convention of training), and each structure by xtalkit's reader.
    """
    from xtalkit.csp.reconstruct import standard_setting
    from xtalkit.data.tables import SplitSpec, load_splits, structure_to_crystal
    from xtalkit.errors import XtalkitError

    spec = SplitSpec(method="fold", val_folds=(), test_folds=(fold,))
    table = load_splits(path, "formation_energy_per_atom", split=spec).select("test")
    table = table.subset(np.flatnonzero(table.columns["nsites"] <= max_atoms))
    reduced = table.columns["reduced_formula"].astype(str)
    # per reduced formula the polymorph lowest above the hull (ties: material id)
    by_hull = np.lexsort((np.array(table.ids), table.columns["e_above_hull"].astype(float), reduced))
    rows = [int(i) for k, i in enumerate(by_hull) if k == 0 or reduced[i] != reduced[by_hull[k - 1]]]
    order = np.random.default_rng(seed).permutation(len(rows))
    quota = {k: n // 3 + (1 if i < n % 3 else 0) for i, k in enumerate(TYPES)}
    chosen = []
    for i in order:
        r = rows[int(i)]
        s = structure_to_crystal(table.structures[r]).to_pymatgen()
        k = len(s.composition.elements)
        if quota.get(k, 0) <= 0:
            continue
        try:
            conv, sg = standard_setting(s, max_atoms=max_atoms)
        except XtalkitError:
            continue
        formula = conv.composition.formula.replace(" ", "")
        chosen.append(
            {"id": table.ids[r], "type": TYPES[k], "formula": formula, "reduced": reduced[r],
             "space_group": sg, "n_atoms": len(conv), "structure": s}
        )  # fmt: skip
        quota[k] -= 1
        if not any(quota.values()):
            break
    return sorted(chosen, key=lambda c: (list(TYPES.values()).index(c["type"]), c["id"]))


def ensure_models(args) -> tuple[Path, Path]:
    """The distance-matrix and lattice model files: given, or the shipped ones."""
    from xtalkit.csp.pipeline import default_lattice_model_path, default_models

    model = Path(args.model) / "model.pt" if args.model and Path(args.model).is_dir() else args.model
    lattice = args.lattice_model or default_lattice_model_path(model)
    model, lattice = default_models(model, lattice)
    return Path(model), Path(lattice)


METHODS = {
    "alphacrystal": ("alphacrystal", {}),
    "no-distance-matrix": ("random", {"screen": "random"}),
    "random": ("random", {"n_relax": 0}),
}
"""Benchmark method → (pipeline method, CSPConfig overrides) (module docstring)."""
TOLERANCES = {"default": (0.2, 0.3, 5.0), "loose": (0.3, 0.5, 10.0)}


def score(entry: dict, pred_root: Path, tops: tuple[int, ...]) -> dict:
    """Metrics of one formula's prediction against its fold-8 structure."""
    from xtalkit.csp.metrics import structure_match
    from xtalkit.csp.outputs import read_structure
    from xtalkit.csp.pipeline import evaluate_prediction

    d = pred_root / entry["formula_dir"]
    if not (d / "summary.json").is_file():
        return {"error": "no prediction"}
    summary = json.loads((d / "summary.json").read_text())
    ev = evaluate_prediction(d, entry["structure"], top=max(tops), energy=False)
    secs = summary["seconds"]
    out = {
        "seconds": secs["total"],
        "seconds_split": {k: secs.get(k, 0.0) for k in ("generate", "screen", "relax", "rank")},
        "n_generated": summary["n_generated"],
        "n_relaxations": summary["n_relaxations"],
        "n_written": len(summary["top"]),
    }
    default = [
        structure_match(read_structure(d / t["file"]), entry["structure"], ltol=0.2, stol=0.3, angle_tol=5.0)
        for t in summary["top"][: max(tops)]
    ]
    for k in tops:
        rows = [r for r in ev["candidates"] if r["rank"] <= k]
        rms = [r["rms"] for r in rows if r["match"] and r["rms"] is not None]
        sup = [r["superpose_distance"] for r in rows if r["superpose_distance"] is not None]
        out[f"match_top{k}"] = any(default[:k])
        out[f"loose_match_top{k}"] = any(r["match"] for r in rows)
        out[f"best_rms_top{k}"] = min(rms) if rms else None
        out[f"best_superpose_top{k}"] = min(sup) if sup else None
    return out


def aggregate(results: list[dict], method: str, tops: tuple[int, ...], kind: str | None = None) -> dict:
    """Formulas matched, mean best RMS over matches, relaxations and wall time of one method (and type)."""
    rows = [r[method] for r in results if "error" not in r[method] and (kind is None or r["type"] == kind)]
    out = {"n": len(rows)}
    for k in tops:
        for prefix in ("", "loose_"):
            out[f"{prefix}matched_top{k}"] = int(sum(r[f"{prefix}match_top{k}"] for r in rows))
        rms = [r[f"best_rms_top{k}"] for r in rows if r[f"best_rms_top{k}"] is not None]
        sup = [r[f"best_superpose_top{k}"] for r in rows if r[f"best_superpose_top{k}"] is not None]
        out[f"mean_best_rms_top{k}"] = float(np.mean(rms)) if rms else None
        out[f"mean_best_superpose_top{k}"] = float(np.mean(sup)) if sup else None
    out["mean_relaxations"] = float(np.mean([r["n_relaxations"] for r in rows])) if rows else None
    out["mean_seconds_per_formula"] = float(np.mean([r["seconds"] for r in rows])) if rows else None
    out["mean_seconds_split"] = {
        k: float(np.mean([r["seconds_split"][k] for r in rows])) if rows else None
        for k in ("generate", "screen", "relax", "rank")
    }
    return out


def _f(v, fmt=".4f") -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    return format(v, fmt)


def _marks(x: dict, tops, prefix: str = "") -> str:
    return "/".join("✓" if x[f"{prefix}match_top{k}"] else "·" for k in tops)


def markdown(doc: dict) -> str:
    """Summary table, time split and per-formula table."""
    tops = doc["tops"]
    c = doc["config"]
    ms = doc["methods"]
    topstr = "/".join(str(k) for k in tops)
    lines = [
        "# AlphaCrystal-II vs random symmetric search (mp.csv.gz fold 8, shipped models)",
        "",
        ("Quick smoke run: not a measurement. " if doc["quick"] else "")
        + f"{doc['n_formulas']} held-out formulas (cell contents given)"
        + (
            f"; not finished by every method in the time available, left out: {', '.join(doc['unfinished'])}"
            if doc.get("unfinished")
            else ""
        )
        + ". Default settings: "
        f"{c['n_candidates']} candidates per formula over {c['n_space_groups']} predicted space groups, "
        f"{c['n_relax']} distinct candidates relaxed after screening (random search: all), "
        f"CHGNet ≤ {c['relax_steps']} steps (fmax {c['fmax']} eV/Å), top-{max(tops)} distinct structures; "
        f"{doc['threads']} CPU thread(s) per worker, {doc['workers']} worker(s). "
        f"Models: `{doc['model']}`, `{doc['lattice_model']}`.",
        "",
        f"## Formulas matched (top {topstr}) out of {doc['n_formulas']}",
        "",
        "| method | default tolerances (ltol 0.2, stol 0.3, 5°) | loose (0.3, 0.5, 10°) | mean best RMS@10 | "
        "mean best superpose@10 (Å) | CHGNet relaxations / formula | s / formula |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in ms:
        a = doc["summary"][m]["all"]
        d = "/".join(str(a[f"matched_top{k}"]) for k in tops)
        lo = "/".join(str(a[f"loose_matched_top{k}"]) for k in tops)
        lines.append(
            f"| {m} | {d} | {lo} | {_f(a['mean_best_rms_top10'])} | {_f(a['mean_best_superpose_top10'])} | "
            f"{_f(a['mean_relaxations'], '.1f')} | {_f(a['mean_seconds_per_formula'], '.0f')} |"
        )
    head = "| method | " + " | ".join(TYPES.values()) + " |"
    lines += ["", "By formula type, default tolerances, top 10:", "", head, "|---|" + "---|" * len(TYPES)]
    for m in ms:
        cells = [
            f"{doc['summary'][m][t]['matched_top10']} / {doc['summary'][m][t]['n']}" for t in TYPES.values()
        ]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines += ["", "## Time per formula (s, mean; one worker process each)", ""]
    lines += [
        "| method | generation | screening | relaxation | ranking | total |",
        "|---|---|---|---|---|---|",
    ]
    for m in ms:
        a = doc["summary"][m]["all"]
        sp = a["mean_seconds_split"]
        lines.append(
            f"| {m} | {_f(sp['generate'], '.1f')} | {_f(sp['screen'], '.1f')} | {_f(sp['relax'], '.1f')} | "
            f"{_f(sp['rank'], '.1f')} | {_f(a['mean_seconds_per_formula'], '.1f')} |"
        )
    cols = " | ".join(f"{m} default | {m} loose | {m} s" for m in ms)
    lines += ["", f"## Per formula (✓ = match in the top {topstr}; default / loose tolerances)", ""]
    lines += [f"| type | formula | mp id | SG | {cols} |", "|" + "---|" * (4 + 3 * len(ms))]
    for r in doc["formulas"]:
        cells = [r["type"], r["formula"], r["id"], str(r["space_group"])]
        for m in ms:
            x = r[m]
            if "error" in x:
                cells += [x["error"], "", ""]
                continue
            cells += [_marks(x, tops), _marks(x, tops, "loose_"), _f(x["seconds"], ".0f")]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Wall time summed over the methods' runs: {doc['seconds']:.0f} s.", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=MP)
    ap.add_argument("--quick", action="store_true", help="3 formulas, 8 candidates, short relaxations")
    ap.add_argument("--formulas", type=int, default=None, help="number of formulas (default 30, quick 3)")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--model", default=None, help="distance-matrix model (default: the shipped one)")
    ap.add_argument("--lattice-model", default=None, help="lattice model (default: the shipped one)")
    ap.add_argument("--workers", type=int, default=1, help="processes over formulas")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work-dir", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None, help="output stem (without .json/.md)")
    ap.add_argument(
        "--score-only", action="store_true", help="score the predictions already in --work-dir (no new ones)"
    )
    ap.add_argument(
        "--merge", type=Path, nargs="+", default=None, metavar="JSON",
        help="combine results of runs made with different --methods (same formulas) into --out",
    )  # fmt: skip
    args = ap.parse_args()
    if args.merge:
        merge(args.merge, args.out or REPO / "benchmarks" / "results" / "csp")
        return
    import dataclasses

    import torch

    from xtalkit.csp.encoding import encode_composition
    from xtalkit.csp.pipeline import CSPConfig, predict
    from xtalkit.io import atomic_write

    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    q = args.quick
    n_formulas = args.formulas or (3 if q else 30)
    tops = (1, 10, 20)
    base = CSPConfig(top_k=max(tops), seed=args.seed, search_z=False)
    if q:
        base = dataclasses.replace(
            base, n_candidates=8, n_relax=4, n_space_groups=2, relax_steps=20, population=16, generations=10
        )
    tmp = REPO / "benchmarks" / "results" / "tmp"
    work = args.work_dir or (tmp / ("csp_quick" if q else "csp"))
    out = args.out or (tmp / "csp_quick" if q else REPO / "benchmarks" / "results" / "csp")
    t0 = time.time()
    formulas = select_formulas(args.data, n_formulas, args.seed)
    print(f"{len(formulas)} formulas: {', '.join(f['formula'] for f in formulas)}", file=sys.stderr)
    model, lattice = ensure_models(args)
    for f in formulas:
        f["formula_dir"] = encode_composition(f["formula"]).formula
    results = [
        {k: f[k] for k in ("id", "type", "formula", "reduced", "space_group", "n_atoms")} for f in formulas
    ]
    for name in args.methods:
        method, overrides = METHODS[name]
        config = dataclasses.replace(base, **overrides).check()
        root = work / name
        t1 = time.time()
        if args.score_only:
            for f, r in zip(formulas, results, strict=True):
                r[name] = score(f, root, tops)
            continue
        outcomes = predict(
            [f["formula"] for f in formulas], root, model=model, lattice_model=lattice, config=config,
            method=method, workers=args.workers, threads_per_worker=args.threads,
            progress=sys.stderr.isatty(),
        )  # fmt: skip
        for o in outcomes:
            if o.status == "failed":
                print(f"{name}: {o.formula}: {o.message}", file=sys.stderr)
        for f, r in zip(formulas, results, strict=True):
            r[name] = score(f, root, tops)
        print(f"{name}: {time.time() - t1:.0f} s", file=sys.stderr)
    unfinished = []
    if args.score_only:  # compare on the formulas every method finished
        unfinished = [r["formula"] for r in results if any("error" in r[m] for m in args.methods)]
        results = [r for r in results if r["formula"] not in unfinished]
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
        "config": base.as_dict(),
        "method_overrides": {m: METHODS[m][1] for m in args.methods},
        "tops": list(tops),
        "methods": args.methods,
        "n_formulas": len(results),
        "model": str(model),
        "lattice_model": str(lattice),
        "workers": args.workers,
        "threads": args.threads,
        "formulas": results,
        "unfinished": unfinished,
        "summary": summary,
        "seconds": time.time() - t0,
        "platform": platform.platform(),
        "torch": torch.__version__,
    }
    atomic_write(out.with_suffix(".json"), json.dumps(doc, indent=2) + "\n")
    atomic_write(out.with_suffix(".md"), markdown(doc))
    print(f"wrote {out.with_suffix('.json')} and .md ({doc['seconds']:.0f} s)", file=sys.stderr)


def merge(paths: list[Path], out: Path) -> None:
    """One results file from runs of the same formulas with different ``--methods``."""
    from xtalkit.io import atomic_write

    docs = [json.loads(p.read_text()) for p in paths]
    doc = docs[0]
    for other in docs[1:]:
        if [f["id"] for f in other["formulas"]] != [f["id"] for f in doc["formulas"]]:
            raise SystemExit(f"{other.get('methods')}: other formulas than {doc.get('methods')}")
        for mine, theirs in zip(doc["formulas"], other["formulas"], strict=True):
            mine.update({m: theirs[m] for m in other["methods"]})
        doc["summary"].update(other["summary"])
        doc["method_overrides"].update(other["method_overrides"])
        doc["methods"] += other["methods"]
        doc["seconds"] += other["seconds"]
    order = [m for m in METHODS if m in doc["methods"]]
    doc["methods"] = order
    atomic_write(out.with_suffix(".json"), json.dumps(doc, indent=2) + "\n")
    atomic_write(out.with_suffix(".md"), markdown(doc))
    print(f"wrote {out.with_suffix('.json')} and .md", file=sys.stderr)


if __name__ == "__main__":
    main()
