"""Which candidates deserve the CHGNet relaxations? Screening policies measured on validation formulas.

The design experiment behind the pipeline's defaults (``n_candidates``,
``n_relax``, ``screen``, ``pyxtal_share`` of :class:`xtalkit.csp.pipeline.CSPConfig`).
Run on fold-7 (validation) formulas of ``mp.csv.gz`` so that the fold-8 test
formulas of ``benchmarks/csp.py`` stay unseen by the choice.

Per formula (cell contents of the lowest-energy polymorph's conventional cell,
≤ 12 atoms, as in ``benchmarks/csp.py``): the shipped (or ``--model``)
distance-matrix and lattice models plan ``--space-groups`` groups; a GA pool
and a pyxtal pool of ``--pool`` candidates each are generated over the same
groups and quotas, and **every** candidate is relaxed once (CHGNet,
``--relax-steps``). Each policy then picks which candidates it would have
relaxed, ranks those by energy (distinct structures, as the pipeline does) and
scores a match in its top 10 / top 20 (pymatgen's default StructureMatcher
tolerances, and the looser ltol 0.3, stol 0.5, 10°). Because all policies see
the same relaxed candidates, their differences are due to the choice alone.

Policies (relaxations per formula in brackets, P = ``--pool``):

* ``random [P]``: pyxtal pool, all relaxed (random symmetric search);
* ``ga [P]``: GA pool, all relaxed (AlphaCrystal-II as in the paper);
* ``ga+dm [P/2]``: GA pool, the P/2 best distinct by distance loss;
* ``mixed+dm [P/2]``: first half of each group's GA and pyxtal candidates, the P/2 best
  distinct by distance loss;
* ``pyxtal+dm [P/2]``: pyxtal pool, the P/2 best distinct by distance loss;
* ``pyxtal+random [P/2]``: pyxtal pool, P/2 distinct in a seeded random order (no distance matrix).

Usage::

    python benchmarks/csp_screening.py [--formulas 12] [--pool 24] [--model M --lattice-model L]

Results: ``benchmarks/results/csp_screening.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from csp import MP, REPO, select_formulas

TOLS = {"default": (0.2, 0.3, 5.0), "loose": (0.3, 0.5, 10.0)}
POLICIES = ["random", "ga", "ga+dm", "mixed+dm", "pyxtal+dm", "pyxtal+random"]


def _pick(records, policy: str, half: int, targets, seed: int, formula: str) -> list:
    """Relaxed records a policy keeps (module docstring)."""
    from xtalkit.csp.generate import distance_scores
    from xtalkit.csp.pipeline import formula_seed
    from xtalkit.csp.screen import screen

    ga = [r for r in records if r.source == "ga"]
    px = [r for r in records if r.source == "pyxtal"]
    if policy == "random":
        return px
    if policy == "ga":
        return ga
    if policy == "mixed+dm":
        pool = []
        for src in (ga, px):
            by_group: dict[int, list] = {}
            for r in src:
                by_group.setdefault(r.space_group, []).append(r)
            pool += [r for rs in by_group.values() for r in rs[: (len(rs) + 1) // 2]]
    else:
        pool = ga if policy.startswith("ga") else px
    if policy.endswith("+dm"):
        scores = distance_scores(pool, targets)
    else:
        scores = np.random.default_rng(formula_seed(seed, formula, len(pool))).permutation(len(pool))
    kept, _ = screen([r.structure for r in pool], scores, half)
    return [pool[i] for i in kept]


def _top_match(chosen: list, matches: dict, tops=(10, 20)) -> dict:
    """Match within the top-k distinct by energy (as :func:`xtalkit.csp.pipeline.rank_candidates`)."""
    import copy

    from xtalkit.csp.pipeline import rank_candidates

    recs = [copy.copy(r) for r in chosen if r.status == "ok"]
    for r in recs:
        r.duplicate_of = -1
    ranked = rank_candidates(recs, max(tops), unique=True)
    out = {}
    for tol in TOLS:
        for k in tops:
            out[f"{tol}@{k}"] = any(matches[tol][id(r.structure)] for r in ranked[:k])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=MP)
    ap.add_argument("--formulas", type=int, default=12)
    ap.add_argument("--pool", type=int, default=24, help="candidates per pool (GA and pyxtal)")
    ap.add_argument("--space-groups", type=int, default=5)
    ap.add_argument("--relax-steps", type=int, default=100)
    ap.add_argument("--model", default=None)
    ap.add_argument("--lattice-model", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "csp_screening")
    ap.add_argument("--from-json", type=Path, default=None, help="rewrite the tables of a (partial) run")
    args = ap.parse_args()
    if args.from_json:
        write(json.loads(args.from_json.read_text()), args.out)
        return
    import torch

    from xtalkit.csp.metrics import structure_match
    from xtalkit.csp.pipeline import (
        CSPConfig,
        default_models,
        generate_candidates,
        load_distmat_model,
        load_lattice_model,
        plan_space_groups,
        relax_candidates,
    )
    from xtalkit.io import atomic_write

    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    model, lattice = default_models(args.model, args.lattice_model)
    net, _ = load_distmat_model(model)
    lat = load_lattice_model(lattice)
    cfg = CSPConfig(
        n_candidates=args.pool, n_space_groups=args.space_groups, relax_steps=args.relax_steps,
        seed=args.seed, search_z=False, n_relax=0,
    ).check()  # fmt: skip
    half = args.pool // 2
    t0 = time.time()
    rows = []
    for f in select_formulas(args.data, args.formulas, args.seed, fold=7):
        t1 = time.time()
        cell = f["formula"]
        from xtalkit.csp.encoding import encode_composition, predict_distances

        cell = encode_composition(cell).formula
        targets = {cell: predict_distances(net, cell)}
        plan = plan_space_groups(cell, lat, cfg)
        ga, _ = generate_candidates(cell, plan, cfg, "alphacrystal", targets)
        px, _ = generate_candidates(cell, plan, cfg, "random")
        records = ga + px
        for i, r in enumerate(records):
            r.index = i
        relax_candidates(records, cfg)
        matches = {
            tol: {
                id(r.structure): bool(
                    r.status == "ok"
                    and structure_match(r.relaxed, f["structure"], ltol=t[0], stol=t[1], angle_tol=t[2])
                )
                for r in records
            }
            for tol, t in TOLS.items()
        }
        row = {k: f[k] for k in ("id", "type", "formula", "space_group")}
        row["true_group_planned"] = any(g["space_group"] == f["space_group"] for g in plan)
        row["any_match"] = {tol: any(m.values()) for tol, m in matches.items()}
        for p in POLICIES:
            chosen = _pick(records, p, half, targets, args.seed, cell)
            row[p] = {"relaxed": len(chosen), **_top_match(chosen, matches)}
        row["seconds"] = time.time() - t1
        rows.append(row)
        print(f"{cell}: {row['seconds']:.0f} s, any match {row['any_match']}", file=sys.stderr, flush=True)
        partial = {"partial": True, "formulas": rows, "pool": args.pool, "space_groups": args.space_groups,
                   "relax_steps": args.relax_steps, "model": str(model), "lattice_model": str(lattice),
                   "seconds": time.time() - t0}  # fmt: skip
        atomic_write(args.out.with_suffix(".json"), json.dumps(partial, indent=1))
    doc = {
        "benchmark": "csp_screening",
        "formulas": rows,
        "pool": args.pool,
        "space_groups": args.space_groups,
        "relax_steps": args.relax_steps,
        "config": cfg.as_dict(),
        "model": str(model),
        "lattice_model": str(lattice),
        "seconds": time.time() - t0,
    }
    write(doc, args.out)


def write(doc: dict, out: Path) -> None:
    """Summary counts, ``.json`` and ``.md`` (also for a partial run read back with ``--from-json``)."""
    from xtalkit.io import atomic_write

    rows = doc["formulas"]
    doc["summary"] = {
        p: {key: int(sum(r[p][key] for r in rows)) for key in rows[0][p] if key != "relaxed"}
        for p in POLICIES
    }
    pool, groups, steps = doc["pool"], doc["space_groups"], doc["relax_steps"]
    lines = [
        "# Screening policies before relaxation (mp.csv.gz fold 7, validation formulas)",
        "",
        ("**Partial run** (stopped to free the CPU for the test benchmark). " if doc.get("partial") else "")
        + f"{len(rows)} formulas; pools of {pool} GA and {pool} pyxtal candidates over "
        f"{groups} predicted groups, all relaxed once (CHGNet ≤ {steps} steps); each "
        "policy ranks only the candidates it would have relaxed. Formulas matched in the top 10 / 20.",
        f"A match was possible at all (some relaxed candidate matches, default / loose tolerances): "
        f"{sum(r['any_match']['default'] for r in rows)} / {sum(r['any_match']['loose'] for r in rows)}; "
        f"true group among the planned: {sum(r['true_group_planned'] for r in rows)}.",
        "",
        "| policy | relaxations / formula | default @10 | default @20 | loose @10 | loose @20 |",
        "|---|---|---|---|---|---|",
    ]
    for p in POLICIES:
        s = doc["summary"][p]
        n_rel = np.mean([r[p]["relaxed"] for r in rows])
        counts = " | ".join(str(s[k]) for k in ("default@10", "default@20", "loose@10", "loose@20"))
        lines.append(f"| {p} | {n_rel:.1f} | {counts} |")
    lines += ["", f"Wall time {doc['seconds']:.0f} s; models `{doc['model']}`, `{doc['lattice_model']}`.", ""]
    atomic_write(out.with_suffix(".json"), json.dumps(doc, indent=1) + "\n")
    atomic_write(out.with_suffix(".md"), "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
