"""Site-Net's attention analysis (paper Fig. 6): how far each head looks.

:func:`attention_distance_histogram` bins the attention weights of one block by
pair distance, :func:`plot_attention_histogram` draws the per-head
histograms. The long-range coefficient (eq. 8) stays with the model
(:func:`xtalkit.models.sitenet.long_range_coefficient`).
"""

from __future__ import annotations

import dataclasses
import io
import os
from collections.abc import Sequence

import numpy as np
import torch


@dataclasses.dataclass
class AttentionHistogram:
    """Counts of attention weights by pair distance (Fig. 6); add histograms to accumulate batches.

    Attributes:
        counts: (H, n_distance_bins, n_weight_bins) number of pairs.
        distance_edges: (n_distance_bins + 1,) Å.
        weight_edges: (n_weight_bins + 1,) attention weight (dimensionless).
    """

    counts: np.ndarray
    distance_edges: np.ndarray
    weight_edges: np.ndarray

    def __add__(self, other: AttentionHistogram) -> AttentionHistogram:
        if not (
            np.array_equal(self.distance_edges, other.distance_edges)
            and np.array_equal(self.weight_edges, other.weight_edges)
        ):
            raise ValueError("histograms with different bins")
        return dataclasses.replace(self, counts=self.counts + other.counts)

    def proportions(self) -> np.ndarray:
        """(H, n_distance_bins, n_weight_bins): counts normalized to sum to 1 in every distance bin.

        Distance bins without pairs are 0.
        """
        total = self.counts.sum(axis=2, keepdims=True)
        return np.divide(self.counts, total, out=np.zeros_like(self.counts, dtype=float), where=total > 0)


def attention_distance_histogram(
    attention: torch.Tensor | np.ndarray,
    distance: torch.Tensor | np.ndarray,
    distance_edges: np.ndarray | None = None,
    weight_edges: np.ndarray | None = None,
) -> AttentionHistogram:
    """2-D histogram of attention weight against pair distance per head (paper Fig. 6).

    Pairs outside the bins are left out (weights below the first weight edge,
    e.g. exact zeros of a distance cutoff, included).

    Args:
        attention: (P, H) weights of one block.
        distance: (P,) distances, Å.
        distance_edges: Å; default 0-30 Å in 0.5 Å bins.
        weight_edges: default 60 logarithmic bins from 10⁻⁶ to 1.

    Returns:
        :class:`AttentionHistogram`.
    """
    a = (
        attention.detach().cpu().double().numpy()
        if torch.is_tensor(attention)
        else np.asarray(attention, float)
    )
    d = distance.detach().cpu().double().numpy() if torch.is_tensor(distance) else np.asarray(distance, float)
    d_edges = (
        np.arange(0.0, 30.0 + 1e-9, 0.5) if distance_edges is None else np.asarray(distance_edges, float)
    )
    w_edges = np.logspace(-6, 0, 61) if weight_edges is None else np.asarray(weight_edges, float)
    counts = np.stack([np.histogram2d(d, a[:, h], bins=(d_edges, w_edges))[0] for h in range(a.shape[1])])
    return AttentionHistogram(counts=counts, distance_edges=d_edges, weight_edges=w_edges)


def plot_attention_histogram(
    hist: AttentionHistogram | Sequence[AttentionHistogram],
    path: str | os.PathLike,
    titles: Sequence[str] | None = None,
) -> None:
    """Draw Fig. 6-style panels (one row per block, one column per head) into a PNG, atomically.

    Args:
        hist: one histogram (one block) or one per block.
        path: output ``.png``.
        titles: one title per block (default "block k").
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from xtalkit.io import atomic_write

    hists = [hist] if isinstance(hist, AttentionHistogram) else list(hist)
    n_heads = hists[0].counts.shape[0]
    fig, axes = plt.subplots(len(hists), n_heads, figsize=(3.2 * n_heads, 2.8 * len(hists)), squeeze=False)
    for b, h in enumerate(hists):
        prop = h.proportions()
        for k in range(n_heads):
            ax = axes[b, k]
            mesh = ax.pcolormesh(h.distance_edges, h.weight_edges, prop[k].T, cmap="viridis", vmin=0.0)
            ax.set_yscale("log")
            ax.set_xlabel("distance (Å)")
            if k == 0:
                ax.set_ylabel("attention weight")
            name = titles[b] if titles else f"block {b + 1}"
            ax.set_title(f"{name}, head {k + 1}", fontsize=9)
            fig.colorbar(mesh, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    atomic_write(path, buf.getvalue())
