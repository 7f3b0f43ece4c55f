"""Predicted ellipsoid size against temperature at fixed geometry (CartNet §5.2.3, SI S7).

The model is given one geometry and a range of input temperatures; the mean
ellipsoid volume ``(4/3)π sqrt(det U)`` over the non-H atoms is reported for
each. The paper shows that this tracks experiment near the temperature at
which the geometry was measured and drifts away from it, because the real
crystal also expands; the curve is a view of what the network learned about
temperature, not a thermal-expansion model.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from xtalkit.adp.metrics import ellipsoid_volume
from xtalkit.crystal.core import Crystal
from xtalkit.io import atomic_write


def temperature_scan(predictor, crystal: Crystal, temperatures) -> tuple[np.ndarray, np.ndarray]:
    """Mean predicted ellipsoid volume (Å³) of the non-H atoms at each temperature (K)."""
    temps = np.asarray(temperatures, float)
    heavy = ~crystal.is_hydrogen
    volumes = np.array(
        [ellipsoid_volume(predictor.predict(crystal, T).crystal.U_cart[heavy]).mean() for T in temps]
    )
    return temps, volumes


def plot_temperature_scan(
    temps: np.ndarray,
    volumes: np.ndarray,
    path: str | os.PathLike,
    *,
    geometry_temperature: float | None = None,
    experimental: tuple[float, float] | None = None,
    title: str = "",
) -> Path:
    """Line plot of mean predicted volume against input temperature, written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(temps, volumes, "o-", color="tab:orange", label="predicted, fixed geometry")
    if geometry_temperature is not None:
        ax.axvline(
            geometry_temperature,
            color="0.6",
            ls="--",
            label=f"geometry measured at {geometry_temperature:g} K",
        )
    if experimental is not None:
        ax.plot(*experimental, "s", color="tab:blue", label="experimental (file)")
    ax.set_xlabel("input temperature (K)")
    ax.set_ylabel("mean ellipsoid volume (Å³)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=150)
    plt.close(fig)
    return atomic_write(path, buf.getvalue())
