"""``xtalkit info``: what is in one or many CIF files."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from xtalkit.cli.common import Batch
from xtalkit.crystal.core import Crystal


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``xtalkit info``."""
    p = sub.add_parser(
        "info",
        help="summarize CIF files: formula, cell, space group, temperature, R1, ADP status",
        description=(
            "Summarize crystal structures. FILES may be CIF files or directories (searched "
            "recursively for *.cif). Files that cannot be read are listed at the end; the "
            "others are still reported. Exit status 1 if any input failed."
        ),
    )
    p.add_argument("files", nargs="*", metavar="FILE", help="CIF files or directories")
    p.add_argument(
        "--example",
        nargs="?",
        const="rutile",
        metavar="NAME",
        help="use a CIF shipped with xtalkit (default: rutile; see `xtalkit info --example list`)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print JSON with per-site species, Cartesian coordinates, U_cart and U_eq",
    )
    p.set_defaults(func=run)


def summary(crystal: Crystal) -> dict:
    """Crystal-level facts as a JSON-ready dict."""
    a, b, c, al, be, ga = crystal.cell_parameters
    heavy = ~crystal.is_hydrogen
    return {
        "source": crystal.source,
        "block": crystal.block,
        "formula": crystal.formula,
        "cell": {
            "a": a,
            "b": b,
            "c": c,
            "alpha": al,
            "beta": be,
            "gamma": ga,
            "volume": crystal.volume,
        },
        "lattice": crystal.lattice.tolist(),
        "space_group": crystal.space_group,
        "space_group_number": crystal.space_group_number,
        "n_symops": len(crystal.symops),
        "temperature": crystal.temperature,
        "r1": crystal.r1,
        "n_sites": len(crystal),
        "n_asymmetric_sites": int(np.unique(crystal.asym_index).size),
        "n_non_h_sites": int(heavy.sum()),
        "adp_status": crystal.adp_status,
        "n_aniso": int((crystal.adp_type == "Uani").sum()),
        "n_iso": int((crystal.adp_type == "Uiso").sum()),
        "n_non_positive_definite": int((crystal.has_adp & ~crystal.adp_positive_definite).sum()),
        "flags": sorted(str(f) for f in crystal.flags),
        "metadata": dict(crystal.metadata),
    }


def _nan_to_none(x):
    if isinstance(x, list):
        return [_nan_to_none(v) for v in x]
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return x


def sites(crystal: Crystal) -> list[dict]:
    """Per-site records: label, element, coordinates, occupancy, U_cart (Å²), U_eq (Å²)."""
    out = []
    cart = crystal.cart
    for i in range(len(crystal)):
        out.append(
            {
                "label": str(crystal.labels[i]),
                "element": crystal.symbols[i],
                "cart": cart[i].tolist(),
                "frac": crystal.frac[i].tolist(),
                "occupancy": float(crystal.occupancy[i]),
                "adp_type": str(crystal.adp_type[i]) or None,
                "U_cart": _nan_to_none(crystal.U_cart[i].tolist()),
                "U_eq": _nan_to_none(float(crystal.U_eq[i])),
                "asym_index": int(crystal.asym_index[i]),
            }
        )
    return out


def format_text(crystal: Crystal) -> str:
    """Human-readable summary of one crystal."""
    s = summary(crystal)
    c = s["cell"]
    where = f"{s['source']} [block {s['block']}]"
    t = "unknown" if s["temperature"] is None else f"{s['temperature']:g} K"
    r1 = "not given" if s["r1"] is None else f"{s['r1']:.4f}"
    sg = s["space_group"] or "unknown"
    if s["space_group_number"]:
        sg += f" (No. {s['space_group_number']})"
    adp_line = (
        f"{s['adp_status']}: {s['n_aniso']} anisotropic, {s['n_iso']} isotropic of {s['n_sites']} sites"
    )
    if s["n_non_positive_definite"]:
        adp_line += f"; {s['n_non_positive_definite']} NOT positive definite"
    unit, z = crystal.formula_units
    formula = f"{unit} (Z = {z})" if z > 1 else unit
    lines = [
        where,
        f"  formula      {formula}",
        f"  sites        {s['n_sites']} in the cell ({s['n_asymmetric_sites']} asymmetric, "
        f"{s['n_non_h_sites']} non-H)",
        f"  cell         a={c['a']:.4f} b={c['b']:.4f} c={c['c']:.4f} Å  "
        f"α={c['alpha']:.3f} β={c['beta']:.3f} γ={c['gamma']:.3f}°  V={c['volume']:.2f} Å³",
        f"  space group  {sg}, {s['n_symops']} operations",
        f"  temperature  {t}",
        f"  R1           {r1}",
        f"  ADPs         {adp_line}",
        f"  flags        {', '.join(s['flags']) or 'none'}",
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run ``xtalkit info``; returns the exit status."""
    from xtalkit import examples

    items = list(args.files)
    if args.example == "list":
        for name in examples.names():
            print(f"{name}\t{examples.path(name)}")
        return 0
    if args.example:
        try:
            items.append(str(examples.path(args.example)))
        except ValueError as exc:
            print(f"xtalkit info: {exc}", file=sys.stderr)
            return 2
    if not items:
        print("xtalkit info: give CIF files or directories, or --example", file=sys.stderr)
        return 2
    batch = Batch(items, "info", debug=getattr(args, "debug", False))
    records = []
    with batch.session():
        for job in batch.jobs():
            with batch.guard(job):
                if args.json:
                    records.append({**summary(job.crystal), "sites": sites(job.crystal)})
                else:
                    print(format_text(job.crystal) + "\n", flush=True)
                batch.wrote(job.path)
    if args.json:
        doc = {"crystals": records, "errors": batch.report.failures}
        sys.stdout.write(json.dumps(doc, indent=1, allow_nan=False) + "\n")
    return batch.finish()
