"""Fuzz the command line with damaged CIFs and count the outcomes per kind of damage.

    python benchmarks/fuzz.py --per-kind 150        # 3,150 files, one subprocess per kind

Writes ``benchmarks/results/fuzz.{md,json}``. The corpus is made by
:mod:`xtalkit.testing.cif_fuzz` from the shipped examples (seeded); the outcomes
are sorted by :mod:`xtalkit.testing.fuzz_cli` (see there for their meaning).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from xtalkit.io import atomic_write
from xtalkit.testing.cif_fuzz import KINDS, make_corpus
from xtalkit.testing.fuzz_cli import BAD, example_sources, run_corpus

OUTCOMES = ("ok", "warned", "refused", *BAD)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-kind", type=int, default=150, help="files per kind of damage")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--timeout", type=float, default=1800.0, help="s per subprocess before a hang")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "fuzz"))
    args = ap.parse_args()
    cases = make_corpus(example_sources(), args.per_kind * len(KINDS), seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        runs = run_corpus(cases, Path(tmp), per_kind=True, timeout=args.timeout)
    doc = {"files": len(cases), "seed": args.seed, "runs": {}}
    lines = [f"# CLI fuzzing: {len(cases)} damaged CIFs ({args.per_kind} per kind, seed {args.seed})", ""]
    for command, run in runs.items():
        counts = run.counts(cases)
        doc["runs"][command] = {"seconds": run.seconds, "counts": {k: dict(v) for k, v in counts.items()}}
        lines += [f"## `{'xtalkit info --json' if command == 'info' else 'xtalkit adp predict -T 150'}`"
                  f" ({run.seconds:.0f} s)", "", "| kind | " + " | ".join(OUTCOMES) + " |",
                  "|---|" + "---|" * len(OUTCOMES)]  # fmt: skip
        total = {o: 0 for o in OUTCOMES}
        for kind in KINDS:
            row = [counts.get(kind, {}).get(o, 0) for o in OUTCOMES]
            for o, v in zip(OUTCOMES, row, strict=True):
                total[o] += v
            lines.append(f"| {kind} | " + " | ".join(map(str, row)) + " |")
        lines += ["| **all** | " + " | ".join(f"**{total[o]}**" for o in OUTCOMES) + " |", ""]
    out = Path(args.out)
    atomic_write(out.with_suffix(".json"), json.dumps(doc, indent=1))
    atomic_write(out.with_suffix(".md"), "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
