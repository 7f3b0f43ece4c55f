"""Time ORTEP figures and HTML views of the largest shared experimental structures on one core.

    python benchmarks/plot_speed.py

Writes ``benchmarks/results/plot_speed.md``. Times are wall seconds of
``plot_ellipsoids`` (PNG, 200 dpi) and ``write_html`` in this process, with one
torch/BLAS thread, after one warm-up figure; the atoms drawn are those of the
grown asymmetric unit (:func:`xtalkit.adp.ortep.grow_scene`).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from xtalkit.adp.html_view import write_html
from xtalkit.adp.ortep import grow_scene
from xtalkit.adp.plot import plot_ellipsoids
from xtalkit.crystal.cif import read_crystal
from xtalkit.errors import CrystalError
from xtalkit.examples import path as example_path
from xtalkit.io import atomic_write

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("XTALKIT_SHARED", ROOT.parent / "shared")) / "data" / "adp"


def main() -> None:
    files = [p for p in sorted(SHARED.glob("experimental*/**/*.cif"))]
    crystals = []
    for f in files:
        try:
            c = read_crystal(f)
        except CrystalError:  # unreadable or refused files are not figures to time
            continue
        if len(c) >= 600:
            crystals.append(c)
    # the worst case: a cell of ≤ 1,000 atoms whose asymmetric unit is the whole cell (P 1)
    biggest = max((c for c in crystals if len(c) <= 1000), key=len)
    crystals.append(biggest.replace(asym_index=np.arange(len(biggest)), symops=("x,y,z",),
                                    source=biggest.source.replace(".cif", "_as_P1.cif")))  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        plot_ellipsoids(read_crystal(example_path("rutile")), Path(tmp) / "warm.png")
        rows = []
        for c in sorted(crystals, key=len):
            t0 = time.perf_counter()
            scene = grow_scene(c)
            t1 = time.perf_counter()
            plot_ellipsoids(c, Path(tmp) / "f.png")
            t2 = time.perf_counter()
            write_html(c, Path(tmp) / "f.html")
            t3 = time.perf_counter()
            rows.append((Path(c.source).name[-42:], len(c), len(scene), t1 - t0, t2 - t1, t3 - t2))
            print(rows[-1], flush=True)
    header = "| structure | atoms in cell | atoms drawn | scene s | PNG s | HTML s |"
    lines = ["# ORTEP figure and HTML view time, one thread", "", header, "|---|---|---|---|---|---|"]
    lines += [f"| {n} | {a} | {d} | {s:.2f} | {p:.2f} | {h:.2f} |" for n, a, d, s, p, h in rows]
    atomic_write(ROOT / "benchmarks" / "results" / "plot_speed.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
