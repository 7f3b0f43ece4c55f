"""Checking a refinement's ADPs: model comparison, positive definiteness, rigid bonds.

For each independent (asymmetric-unit) atom with an anisotropic tensor, the
file's tensor U_file is compared with the model's prediction U_pred for the
same geometry and temperature: MAE (Å²), S12 (%), IoU (%) and the volume ratio
``V_file / V_pred``. The flag statistic is built from the principal
mean-square-displacement ratios of the two tensors, ``g_k = ln λ_k`` with λ_k
the eigenvalues of ``U_pred^{-1/2} U_file U_pred^{-1/2}`` (k = 1…3; all g_k = 0
when the tensors agree, and ``Σ g_k = ln(V_file/V_pred)²``). A model's errors
are correlated within a structure (a slightly wrong temperature scales every
ellipsoid), so the structure's scale ``m`` — the median over the *other*
compared atoms of ``mean_k g_k`` — is removed, and the atom's deviation is
``max_k |g_k − m|``: how far, in log units, its ellipsoid departs along its
worst direction from what the model expects after that common rescaling.

* ``anomalous`` — deviation > ``axis_log_tolerance`` (default 1.0: some
  principal mean-square displacement e ≈ 2.7 times larger or smaller than
  expected). The report says which (``larger``/``smaller``).

The default was set on the held-out test splits of the shipped model (see
``benchmarks/results/adp_check_calibration.md``): it flags 1–3 % of honest
atoms and nearly every atom whose ellipsoid is stretched 3× along its longest
principal axis; a 3× stretch along the *shortest* axis makes an ellipsoid
rounder and is much harder to see against a model whose own shape
predictions are imperfect.

Checks that need no model:

* ``non_positive_definite`` — an eigenvalue ≤ 0;
* Hirshfeld's rigid-bond test for every bonded pair of non-H atoms with
  anisotropic tensors: ``Δ = |uᵀU_A u − uᵀU_B u|`` along the unit bond vector u;
  pairs with ``Δ > hirshfeld_threshold`` (default 0.001 Å², Hirshfeld 1976)
  are listed as bond flags.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from xtalkit.adp import metrics
from xtalkit.adp.ortep import bonds
from xtalkit.crystal.core import Crystal


@dataclasses.dataclass(frozen=True)
class CheckThresholds:
    """Thresholds of :func:`check_adps` (see module docstring)."""

    axis_log_tolerance: float = 1.0
    hirshfeld_threshold: float = 0.001


@dataclasses.dataclass
class AtomCheck:
    """One independent atom: file and predicted tensors compared (None where not comparable)."""

    label: str
    element: str
    index: int
    u_eq_file: float | None
    u_eq_model: float | None
    mae: float | None
    s12: float | None
    iou: float | None
    volume_ratio: float | None
    deviation: float | None
    flags: list[str]


@dataclasses.dataclass
class BondCheck:
    """Hirshfeld rigid-bond test of one bonded pair."""

    label_a: str
    label_b: str
    distance: float
    delta: float
    flagged: bool


@dataclasses.dataclass
class CheckReport:
    """Result of :func:`check_adps`."""

    source: str
    block: str
    temperature: float | None
    model: str | None
    atoms: list[AtomCheck]
    bonds: list[BondCheck]
    warnings: list[str]

    @property
    def flagged_atoms(self) -> list[AtomCheck]:
        """Atoms with at least one flag."""
        return [a for a in self.atoms if a.flags]

    def flagged_mask(self, crystal: Crystal) -> np.ndarray:
        """(n,) True for every atom of ``crystal`` that is a flagged site or one of its symmetry images."""
        sites = [crystal.asym_index[a.index] for a in self.flagged_atoms]
        return np.isin(crystal.asym_index, sites)

    @property
    def flagged_bonds(self) -> list[BondCheck]:
        """Bonds failing the rigid-bond test."""
        return [b for b in self.bonds if b.flagged]

    def as_dict(self) -> dict:
        """Plain-data form (for ``--json``)."""
        return {
            "source": self.source,
            "block": self.block,
            "temperature": self.temperature,
            "model": self.model,
            "warnings": self.warnings,
            "atoms": [dataclasses.asdict(a) for a in self.atoms],
            "bonds": [dataclasses.asdict(b) for b in self.bonds],
        }


def principal_log_ratios(U_file: np.ndarray, U_model: np.ndarray) -> np.ndarray:
    """``ln`` of the eigenvalues of ``U_model^{-1/2} U_file U_model^{-1/2}`` (ascending), shape [3].

    Both tensors positive definite (Å²). The values are invariant to a common
    rotation of the two tensors; they are all zero when the tensors are equal,
    ``ln c`` when ``U_file = c U_model``, and sum to ``2 ln(V_file / V_model)``.
    """
    L_inv = np.linalg.inv(np.linalg.cholesky(U_model))
    return np.log(np.linalg.eigvalsh(L_inv @ U_file @ L_inv.T))


def hirshfeld(crystal: Crystal, threshold: float = 0.001) -> list[BondCheck]:
    """Rigid-bond test of bonded non-H pairs with anisotropic tensors (one row per independent pair)."""
    out, seen = [], set()
    for i, j, s in bonds(crystal):
        if crystal.is_hydrogen[i] or crystal.is_hydrogen[j]:
            continue
        if crystal.adp_type[i] != "Uani" or crystal.adp_type[j] != "Uani":
            continue
        key = tuple(sorted((int(crystal.asym_index[i]), int(crystal.asym_index[j]))))
        v = (crystal.frac[j] + s - crystal.frac[i]) @ crystal.lattice
        d = float(np.linalg.norm(v))
        key = (*key, round(d, 3))
        if key in seen:
            continue
        seen.add(key)
        u = v / d
        delta = abs(float(u @ crystal.U_cart[i] @ u - u @ crystal.U_cart[j] @ u))
        out.append(BondCheck(str(crystal.labels[i]), str(crystal.labels[j]), d, delta, delta > threshold))
    return out


def check_adps(
    crystal: Crystal,
    predicted: Crystal | None,
    *,
    thresholds: CheckThresholds = CheckThresholds(),
    model: str | None = None,
    warnings: list[str] | None = None,
) -> CheckReport:
    """Check the ADPs of a crystal against a prediction (or without one).

    Args:
        crystal: the refinement, with its own ADPs.
        predicted: the same crystal with predicted ADPs (from :class:`~xtalkit.adp.predict.ADPPredictor`),
            or None for the model-free checks only.
        thresholds: flag thresholds.
        model: model name for the report.
        warnings: warnings to carry into the report.
    """
    reps = np.array([np.flatnonzero(crystal.asym_index == a)[0] for a in np.unique(crystal.asym_index)])
    rows: list[AtomCheck] = []
    comparable = []
    for i in reps:
        flags: list[str] = []
        has = crystal.adp_type[i] == "Uani" and np.isfinite(crystal.U_cart[i]).all()
        pd = has and np.linalg.eigvalsh(crystal.U_cart[i])[0] > 0
        if has and not pd:
            flags.append("non_positive_definite")
        row = AtomCheck(
            label=str(crystal.labels[i]),
            element=crystal.symbols[i],
            index=int(i),
            u_eq_file=float(crystal.U_eq[i]) if has else None,
            u_eq_model=None,
            mae=None,
            s12=None,
            iou=None,
            volume_ratio=None,
            deviation=None,
            flags=flags,
        )
        if (
            pd
            and predicted is not None
            and not crystal.is_hydrogen[i]
            and np.isfinite(predicted.U_cart[i]).all()
        ):
            Uf, Up = crystal.U_cart[i], predicted.U_cart[i]
            row.u_eq_model = float(np.trace(Up) / 3)
            row.mae = float(metrics.mae(Up, Uf)[0])
            row.s12 = float(metrics.s12(Up, Uf)[0])
            row.iou = float(100 * metrics.iou(Up, Uf)[0])
            row.volume_ratio = float(metrics.ellipsoid_volume(Uf)[0] / metrics.ellipsoid_volume(Up)[0])
            comparable.append(row)
        rows.append(row)
    if comparable:
        g = np.array(
            [principal_log_ratios(crystal.U_cart[r.index], predicted.U_cart[r.index]) for r in comparable]
        )
        for n, r in enumerate(comparable):
            others = np.delete(g.mean(axis=1), n)
            m = float(np.median(others)) if len(others) else 0.0
            dev = g[n] - m
            k = int(np.argmax(np.abs(dev)))
            r.deviation = float(abs(dev[k]))
            if r.deviation > thresholds.axis_log_tolerance:
                r.flags.append("anomalous:" + ("larger" if dev[k] > 0 else "smaller"))
    return CheckReport(
        source=crystal.source,
        block=crystal.block,
        temperature=predicted.temperature if predicted is not None else crystal.temperature,
        model=model,
        atoms=rows,
        bonds=hirshfeld(crystal, thresholds.hirshfeld_threshold),
        warnings=list(warnings or []),
    )


def format_report(report: CheckReport) -> str:
    """Terminal table of a check report."""
    head = f"{report.source} [block {report.block}]"
    if report.model:
        head += f": model {report.model} at {report.temperature:g} K"
    lines = [head]
    lines += [f"  warning: {w}" for w in report.warnings]
    lines.append(
        f"  {'atom':<8}{'el':<4}{'Ueq file':>10}{'Ueq model':>11}{'MAE':>10}{'S12 %':>8}"
        f"{'IoU %':>8}{'V ratio':>9}{'dev':>6}  flags"
    )

    def f(x, fmt):
        return format(x, fmt) if x is not None else "-"

    for a in report.atoms:
        lines.append(
            f"  {a.label:<8}{a.element:<4}{f(a.u_eq_file, '10.4f')}{f(a.u_eq_model, '11.4f')}"
            f"{f(a.mae, '10.1e')}{f(a.s12, '8.2f')}{f(a.iou, '8.1f')}{f(a.volume_ratio, '9.2f')}"
            f"{f(a.deviation, '6.2f')}  " + ",".join(a.flags)
        )
    fa, fb = report.flagged_atoms, report.flagged_bonds
    lines.append(
        f"  {len(fa)} flagged atom(s)"
        + (": " + ", ".join(f"{a.label} ({'/'.join(a.flags)})" for a in fa) if fa else "")
    )
    lines.append(f"  Hirshfeld rigid-bond test: {len(fb)} of {len(report.bonds)} bonds above threshold")
    for b in sorted(fb, key=lambda b: -b.delta)[:20]:
        lines.append(f"    {b.label_a}-{b.label_b} {b.distance:.3f} Å  Δ = {b.delta:.4f} Å²")
    return "\n".join(lines)
