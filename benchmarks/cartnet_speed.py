"""CartNet throughput on this machine, and where the time goes.

On the readable CIFs of ../shared/data/adp/experimental (or --dirs), in
batches of --batch-size structures, for each training preset of
``xtalkit.training.cartnet_adp`` (``paper``: width 256; ``cpu``: width 128,
the shipped paper model; ``harmonic``: the equivariant head on a width-64,
3-layer invariant backbone, the shipped harmonic-adp):

* inference and training throughput: structures/s and edges/s (a training
  step is forward + the preset's loss + backward + Adam step, with SO(3)
  augmentation where the preset uses it);
* the split of one training step's CPU time by operation kind, from
  ``torch.profiler`` self times: dense layers (GEMMs of the edge and node
  MLPs), gathers (h[src], h[dst], embedding), scatter (index_add of messages),
  batch norm, element-wise (activations, gates, products), other;
* the time to build the radius graphs and collate a batch, measured
  separately (it runs in the data loader, outside the step).

Usage::

    python benchmarks/cartnet_speed.py [--presets paper cpu harmonic] [--batch-size 4] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from xtalkit import CifError, read_cif
from xtalkit.data.graphs import collate, crystal_graph
from xtalkit.geometry.rotations import random_rotations
from xtalkit.io import atomic_write
from xtalkit.training.adp_losses import adp_loss
from xtalkit.training.cartnet_adp import PRESETS, build_model, make_config

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DIR = ROOT.parent / "shared" / "data" / "adp" / "experimental"

CATEGORIES = {
    "dense (GEMM)": ("addmm", "aten::mm", "aten::bmm", "matmul", "linear"),
    "gather": ("index_select", "aten::index", "embedding", "gather"),
    "scatter": ("index_add", "scatter", "index_put"),
    "batch norm": ("batch_norm",),
    "element-wise": (
        "silu",
        "sigmoid",
        "aten::mul",
        "aten::add",
        "aten::sub",
        "aten::div",
        "exp",
        "cos",
        "softplus",
        "aten::abs",
        "aten::sum",
        "aten::mean",
        "where",
        "sign",
        "aten::neg",
        "aten::fill",
        "zero",
        "copy",
        "aten::cat",
        "pow",
        "clamp",
    ),
}


def categorize(name: str) -> str:
    for cat, keys in CATEGORIES.items():
        if any(k in name for k in keys):
            return cat
    return "other"


def load_samples(dirs: list[Path]) -> list[dict]:
    samples = []
    for d in dirs:
        for path in sorted(d.rglob("*.cif")):
            try:
                crystals = read_cif(path)
            except CifError:
                continue
            for c in crystals:
                samples.append(
                    {
                        "numbers": c.numbers,
                        "frac": c.frac,
                        "lattice": c.lattice,
                        "temperature": c.temperature or 293.0,
                        "U": c.U_cart,
                        "ident": c.source,
                    }
                )
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dirs", nargs="*", type=Path, default=[DEFAULT_DIR])
    parser.add_argument("--presets", nargs="*", choices=list(PRESETS), default=list(PRESETS))
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-batches", type=int, default=12, help="batches timed per measurement")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    raw = load_samples(args.dirs)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(raw))
    t = time.perf_counter()
    graphs = [crystal_graph(**{k: v for k, v in raw[i].items()}) for i in order]
    graph_seconds = time.perf_counter() - t
    batches = [collate(graphs[k : k + args.batch_size]) for k in range(0, len(graphs), args.batch_size)]
    batches = batches[: args.max_batches]
    n_struct = sum(b.n_graphs for b in batches)
    n_edges = sum(len(b.src) for b in batches)
    result = {
        "threads": args.threads,
        "batch_size": args.batch_size,
        "structures": n_struct,
        "edges": n_edges,
        "graph_build_structures_per_s": len(graphs) / graph_seconds,
        "graph_build_edges_per_s": sum(len(g["src"]) for g in graphs) / graph_seconds,
        "presets": {},
    }
    for preset in args.presets:
        config = make_config(preset)
        model = build_model(config, temperature_mean=200.0, temperature_std=80.0)
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)

        def step(batch, model=model, opt=opt, config=config):
            if config.augment:
                batch = batch.rotated(random_rotations(batch.n_graphs))
            loss = adp_loss(config.loss, model(batch), batch.target[batch.scored])
            opt.zero_grad()
            loss.backward()
            opt.step()

        model.eval()
        with torch.no_grad():
            model(batches[0])
            t = time.perf_counter()
            for b in batches:
                model(b)
            t_inf = time.perf_counter() - t
        model.train()
        step(batches[0])
        t = time.perf_counter()
        for b in batches:
            step(b)
        t_train = time.perf_counter() - t
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            for b in batches[:3]:
                step(b)
        split: dict[str, float] = defaultdict(float)
        for ev in prof.key_averages():
            if ev.key.startswith("aten::") or "Backward" in ev.key:
                split[categorize(ev.key)] += ev.self_cpu_time_total
        total = sum(split.values())
        result["presets"][preset] = {
            "width": config.dim,
            "layers": config.num_layers,
            "head": config.head,
            "parameters": sum(p.numel() for p in model.parameters()),
            "inference_structures_per_s": n_struct / t_inf,
            "inference_edges_per_s": n_edges / t_inf,
            "training_structures_per_s": n_struct / t_train,
            "training_edges_per_s": n_edges / t_train,
            "training_step_split_percent": {
                k: 100 * v / total for k, v in sorted(split.items(), key=lambda kv: -kv[1])
            },
        }
    lines = [
        f"# CartNet speed, {args.threads} threads, batches of {args.batch_size} structures "
        f"({n_struct} structures, {n_edges} edges timed)",
        "",
        f"Graph building (radius graph + arrays) runs at {result['graph_build_structures_per_s']:.0f} "
        f"structures/s ({result['graph_build_edges_per_s'] / 1e6:.2f} M edges/s), in the data loader.",
        "",
        "| preset | head | width × layers | parameters | inference structures/s | inference edges/s "
        "| training structures/s | training edges/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for w, r in result["presets"].items():
        lines.append(
            f"| {w} | {r['head']} | {r['width']} × {r['layers']} | {r['parameters'] / 1e6:.2f} M | "
            f"{r['inference_structures_per_s']:.2f} | "
            f"{r['inference_edges_per_s']:.0f} | {r['training_structures_per_s']:.2f} | "
            f"{r['training_edges_per_s']:.0f} |"
        )
    lines += ["", "Share of a training step's CPU time (torch.profiler self time):", ""]
    cats = sorted({c for r in result["presets"].values() for c in r["training_step_split_percent"]})
    lines.append("| preset | " + " | ".join(cats) + " |")
    lines.append("|---|" + "---|" * len(cats))
    for w, r in result["presets"].items():
        split = r["training_step_split_percent"]
        lines.append(f"| {w} | " + " | ".join(f"{split.get(c, 0):.0f} %" for c in cats) + " |")
    text = "\n".join(lines)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out / "cartnet_speed.md", text + "\n")
    atomic_write(args.out / "cartnet_speed.json", json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
