"""Periodic radius graphs: xtalkit against pymatgen and against the dense method.

For every readable CIF of ../shared/data/adp/experimental (or the directories
given), times, in one run and on the same crystals:

* ``xtalkit``: :func:`xtalkit.geometry.radius_graph` (the shipped default);
* ``pymatgen``: ``Structure.get_neighbor_list`` (the Structure is built
  outside the timed region);
* ``dense``: all pairs × all periodic images in torch, float32, then a
  distance mask (the approach of the CartNet reference code), with images up
  to ``ceil(r·|a*_i|)`` cells along each axis so that it is exact.

Each time is the median of ``--repeat`` runs. Results are reported per size
bin as median times and as ratios (pymatgen / xtalkit, dense / xtalkit; > 1
means xtalkit is faster), and written to benchmarks/results/graphs.{json,md}.

Usage::

    python benchmarks/graphs.py [--repeat 5] [--cutoff 5.0] [DIR ...]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from xtalkit import CifError, read_cif
from xtalkit.geometry import radius_graph
from xtalkit.io import atomic_write

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DIR = ROOT.parent / "shared" / "data" / "adp" / "experimental"
BINS = [(1, 50), (50, 200), (200, 500), (500, 100_000)]


def dense_graph(lattice: np.ndarray, cart: np.ndarray, cutoff: float, max_elems: int = 30_000_000):
    """All pairs × all images within reach, float32 torch, chunked over centres."""
    L = torch.as_tensor(lattice, dtype=torch.float32)
    x = torch.as_tensor(cart, dtype=torch.float32)
    reach = np.ceil(cutoff * np.linalg.norm(np.linalg.inv(lattice), axis=0)).astype(int)
    axes = [torch.arange(-r, r + 1, dtype=torch.float32) for r in reach]
    shifts = torch.cartesian_prod(*axes)  # (K, 3)
    offsets = shifts @ L  # (K, 3)
    n, k = x.shape[0], shifts.shape[0]
    rows = max(1, max_elems // (n * k * 3))
    out = []
    for s in range(0, n, rows):
        d = x[None, :, None, :] + offsets[None, None] - x[s : s + rows, None, None, :]  # (r, n, K, 3)
        dist = torch.linalg.vector_norm(d, dim=-1)
        mask = (dist <= cutoff) & (dist > 1e-4)
        i, j, kk = torch.nonzero(mask, as_tuple=True)
        out.append((i + s, j, shifts[kk], dist[mask]))
    return out


def median_time(fn, repeat: int) -> float:
    fn()  # warm-up (allocations, caches)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    from pymatgen.core import Lattice, Structure

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="*", type=Path, default=[DEFAULT_DIR])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cutoff", type=float, default=5.0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    torch.set_num_threads(2)

    crystals = []
    for d in args.dirs:
        for path in sorted(d.rglob("*.cif")):
            with contextlib.suppress(CifError):
                crystals += read_cif(path)
    rows = []
    for c in crystals:
        s = Structure(Lattice(c.lattice), c.numbers.tolist(), c.frac)
        cart = c.cart
        t_x = median_time(lambda c=c: radius_graph(c, cutoff=args.cutoff), args.repeat)
        t_p = median_time(lambda s=s: s.get_neighbor_list(args.cutoff), args.repeat)
        t_d = median_time(
            lambda c=c, x=cart: dense_graph(c.lattice, x, args.cutoff), max(1, args.repeat // 2)
        )
        n_edges = len(radius_graph(c, cutoff=args.cutoff))
        rows.append(
            {
                "source": c.source,
                "n_atoms": len(c),
                "n_edges": n_edges,
                "xtalkit_s": t_x,
                "pymatgen_s": t_p,
                "dense_s": t_d,
            }
        )

    summary = []
    for lo, hi in BINS:
        sel = [r for r in rows if lo <= r["n_atoms"] < hi]
        if not sel:
            continue
        med = {k: statistics.median(r[k] for r in sel) for k in ("xtalkit_s", "pymatgen_s", "dense_s")}

        def ratio(key: str, sel: list = sel) -> float:
            return statistics.median(r[key] / r["xtalkit_s"] for r in sel)

        summary.append(
            {
                "atoms": f"{lo}-{hi - 1}" if hi < 100_000 else f">={lo}",
                "n_crystals": len(sel),
                "median_edges": int(statistics.median(r["n_edges"] for r in sel)),
                "xtalkit_ms": med["xtalkit_s"] * 1e3,
                "pymatgen_ms": med["pymatgen_s"] * 1e3,
                "dense_ms": med["dense_s"] * 1e3,
                "pymatgen_over_xtalkit": ratio("pymatgen_s"),
                "dense_over_xtalkit": ratio("dense_s"),
            }
        )
    total = {k: sum(r[k] for r in rows) for k in ("xtalkit_s", "pymatgen_s", "dense_s")}

    lines = [
        f"# Radius graphs, cutoff {args.cutoff} Å, {len(rows)} crystals, {torch.get_num_threads()} threads",
        "",
        "| atoms | crystals | median edges | xtalkit ms | pymatgen ms | dense ms "
        "| pymatgen / xtalkit | dense / xtalkit |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in summary:
        lines.append(
            f"| {s['atoms']} | {s['n_crystals']} | {s['median_edges']} | {s['xtalkit_ms']:.3f} "
            f"| {s['pymatgen_ms']:.3f} | {s['dense_ms']:.2f} | {s['pymatgen_over_xtalkit']:.2f}× "
            f"| {s['dense_over_xtalkit']:.1f}× |"
        )
    lines += [
        "",
        f"All crystals: xtalkit {total['xtalkit_s']:.3f} s, pymatgen {total['pymatgen_s']:.3f} s "
        f"({total['pymatgen_s'] / total['xtalkit_s']:.2f}×), dense {total['dense_s']:.2f} s "
        f"({total['dense_s'] / total['xtalkit_s']:.1f}×).",
        "Ratios are medians over crystals of (other time / xtalkit time); > 1 means xtalkit is faster.",
    ]
    text = "\n".join(lines)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out / "graphs.md", text + "\n")
    atomic_write(
        args.out / "graphs.json",
        json.dumps({"summary": summary, "total_s": total, "rows": rows}, indent=1),
    )


if __name__ == "__main__":
    main()
