"""Pictures of ADP analyses: parity of predicted against experimental ellipsoids.

:func:`plot_parity` draws two panels that answer "is the model right about size,
and about shape?": predicted against experimental U_eq (Å², log–log, with the
y = x line and ±25 % bands), and predicted against experimental anisotropy
λmax/λmin (the ratio of the largest to the smallest eigenvalue; 1 is a sphere).
The temperature scan (:mod:`xtalkit.adp.temperature`) and ``adp check --plot``
(flagged atoms in red, :func:`xtalkit.adp.plot.plot_ellipsoids`) complete the set.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from xtalkit.io import atomic_write


def parity_values(U_true: np.ndarray, U_pred: np.ndarray) -> dict[str, np.ndarray]:
    """U_eq (Å²) and anisotropy λmax/λmin of both sets, over atoms with both tensors positive definite."""
    lt, lp = np.linalg.eigvalsh(U_true), np.linalg.eigvalsh(U_pred)
    ok = (lt[:, 0] > 0) & (lp[:, 0] > 0)
    return {
        "ueq_true": lt[ok].mean(axis=1),
        "ueq_pred": lp[ok].mean(axis=1),
        "aniso_true": lt[ok, 2] / lt[ok, 0],
        "aniso_pred": lp[ok, 2] / lp[ok, 0],
    }


def plot_parity(U_true: np.ndarray, U_pred: np.ndarray, path: str | os.PathLike, *, title: str = "") -> Path:
    """Write the two parity panels (module docstring) to PNG/SVG/PDF, atomically.

    Args:
        U_true: (n, 3, 3) experimental tensors, Å².
        U_pred: (n, 3, 3) predicted tensors, Å².
        path: output figure.
        title: figure title (e.g. model and test split).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    v = parity_values(np.asarray(U_true, float), np.asarray(U_pred, float))
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4.8))
    for ax, t, p, name, unit in ((a1, v["ueq_true"], v["ueq_pred"], "U_eq", " (Å²)"),
                                 (a2, v["aniso_true"], v["aniso_pred"], "λmax/λmin", "")):  # fmt: skip
        ax.scatter(t, p, s=6, alpha=0.35, color="#2e6fd1", edgecolors="none")
        lo, hi = min(t.min(), p.min()) * 0.9, max(t.max(), p.max()) * 1.1
        ax.plot([lo, hi], [lo, hi], color="k", lw=1)
        ax.fill_between([lo, hi], [lo * 0.75, hi * 0.75], [lo * 1.25, hi * 1.25], color="0.85", zorder=0)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        for axis in (ax.xaxis, ax.yaxis):  # plain numbers, not 2×10⁰; minor labels within a decade only
            axis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
            minor = (
                matplotlib.ticker.FormatStrFormatter("%g")
                if hi / lo < 12
                else matplotlib.ticker.NullFormatter()
            )
            axis.set_minor_formatter(minor)
        ax.set_aspect("equal")
        ax.set_xlabel(f"experimental {name}{unit}")
        ax.set_ylabel(f"predicted {name}{unit}")
        ratio = np.median(p / t)
        within = 100 * np.mean(np.abs(np.log(p / t)) < np.log(1.25))
        ax.set_title(f"{name}: median ratio {ratio:.2f}, {within:.0f} % within ±25 %", fontsize=9)
    fig.suptitle(f"{title} ({len(v['ueq_true'])} atoms)".strip(), fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format=Path(path).suffix.lstrip(".").lower() or "png", dpi=150)
    plt.close(fig)
    return atomic_write(path, buf.getvalue())
