"""Writing crystals as CIF: the full cell in P 1 or the asymmetric unit with its operations.

:func:`write_cif` writes atomically. ADPs are written as ``_atom_site_aniso_U_ij``
in the CIF convention (:mod:`xtalkit.crystal.adp`), with
``_atom_site_U_iso_or_equiv`` = tr(U_cart)/3. Reading is :mod:`xtalkit.crystal.cif`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from xtalkit.crystal import adp
from xtalkit.crystal.core import Crystal
from xtalkit.elements import symbol
from xtalkit.io import atomic_write

__all__ = ["to_cif_string", "write_cif"]


def _quote(s: str) -> str:
    s = str(s)
    if s and not re.search(r"[\s'\"#$;\[\]_]", s[0]) and not re.search(r"\s", s) and s not in (".", "?"):
        return s
    if "'" not in s:
        return f"'{s}'"
    return f'"{s}"'


def _unique_labels(labels: Sequence[str]) -> list[str]:
    seen: dict[str, int] = {}
    taken = set(labels)
    out = []
    for lb in labels:
        lb = str(lb) or "X"
        if lb not in seen:
            seen[lb] = 1
            out.append(lb)
            continue
        k = seen[lb]
        while f"{lb}_{k}" in taken:
            k += 1
        seen[lb] = k + 1
        taken.add(f"{lb}_{k}")
        out.append(f"{lb}_{k}")
    return out


def to_cif_string(crystal: Crystal, *, symmetry: str = "P1", comment: str | None = None) -> str:
    """CIF text of a crystal.

    Args:
        crystal: The structure.
        symmetry: ``"P1"`` writes every atom of the cell with the single operation
            x,y,z. ``"original"`` writes the asymmetric unit with the crystal's
            symmetry operations (only for crystals read from a symmetric source).
        comment: Extra provenance lines, written as CIF comments at the top.

    Returns:
        The CIF text. ADPs are written as ``_atom_site_aniso_U_ij`` in the CIF
        convention, with ``_atom_site_U_iso_or_equiv`` = tr(U_cart)/3.
    """
    if symmetry not in ("P1", "original"):
        raise ValueError("symmetry must be 'P1' or 'original'")
    if symmetry == "original" and len(crystal.symops) > 1:
        from xtalkit.crystal.symmetrize import asymmetric_unit_adps

        idx, U_cart = asymmetric_unit_adps(crystal)
        ops = list(crystal.symops)
        sg_name, sg_number = crystal.space_group, crystal.space_group_number
    else:
        idx = np.arange(len(crystal))
        U_cart = crystal.U_cart
        ops = ["x,y,z"]
        sg_name, sg_number = "P 1", 1
    a, b, c, al, be, ga = crystal.cell_parameters
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", crystal.block or "xtalkit") or "xtalkit"
    lines = []
    if comment:
        lines += [f"# {ln}" for ln in comment.splitlines()]
    formula, z_units = crystal.formula_units
    lines += [
        f"data_{name}",
        f"_chemical_formula_sum {_quote(formula)}",
        f"_cell_formula_units_Z {z_units}",
    ]
    lines += [
        f"_cell_length_a {a:.8f}",
        f"_cell_length_b {b:.8f}",
        f"_cell_length_c {c:.8f}",
        f"_cell_angle_alpha {al:.8f}",
        f"_cell_angle_beta {be:.8f}",
        f"_cell_angle_gamma {ga:.8f}",
        f"_cell_volume {crystal.volume:.6f}",
    ]
    if crystal.temperature is not None:
        lines.append(f"_diffrn_ambient_temperature {crystal.temperature:.6g}")
    if crystal.r1 is not None:
        lines.append(f"_refine_ls_R_factor_gt {crystal.r1:.6g}")
    lines.append(f"_space_group_name_H-M_alt {_quote(sg_name or '?')}")
    if sg_number:
        lines.append(f"_space_group_IT_number {sg_number}")
    lines += ["loop_", "_space_group_symop_id", "_space_group_symop_operation_xyz"]
    lines += [f"{k + 1} {_quote(op)}" for k, op in enumerate(ops)]

    labels = _unique_labels([crystal.labels[i] for i in idx])
    has_dis = any(crystal.disorder_group[i] for i in idx)
    lines += ["", "loop_"] + [
        f"_atom_site_{x}"
        for x in (
            "label",
            "type_symbol",
            "fract_x",
            "fract_y",
            "fract_z",
            "U_iso_or_equiv",
            "adp_type",
            "occupancy",
        )
    ]
    if has_dis:
        lines.append("_atom_site_disorder_group")
    ueq = adp.u_equiv(U_cart)
    for r, i in enumerate(idx):
        x, y, z = crystal.frac[i]
        u = f"{ueq[r]:.8f}" if np.isfinite(ueq[r]) else "?"
        kind = crystal.adp_type[i] or "."
        row = (
            f"{_quote(labels[r])} {symbol(crystal.numbers[i])} {x:.10f} {y:.10f} {z:.10f} "
            f"{u} {kind} {crystal.occupancy[i]:.6g}"
        )
        if has_dis:
            row += f" {_quote(crystal.disorder_group[i]) if crystal.disorder_group[i] else '.'}"
        lines.append(row)
    aniso = [r for r, i in enumerate(idx) if crystal.adp_type[i] == "Uani"]
    if aniso:
        U_cif = adp.ucart_to_ucif(U_cart, crystal.lattice)
        lines += ["", "loop_", "_atom_site_aniso_label"]
        lines += [f"_atom_site_aniso_U_{ij}" for ij in adp.CIF_COMPONENTS]
        for r in aniso:
            comps = adp.to_components(U_cif[r])
            comps = np.where(np.abs(comps) < 5e-11, 0.0, comps)  # no "-0.0000000000"
            lines.append(_quote(labels[r]) + " " + " ".join(f"{v:.10f}" for v in comps))
    lines.append("")
    return "\n".join(lines)


def write_cif(
    crystal: Crystal,
    path: str | os.PathLike,
    *,
    symmetry: str = "P1",
    comment: str | None = None,
) -> Path:
    """Write a crystal to a CIF file atomically (see :func:`to_cif_string`).

    Returns:
        The path written.
    """
    text = to_cif_string(crystal, symmetry=symmetry, comment=comment)
    return atomic_write(path, text)
