r"""AlphaCrystal-II distance-matrix network (Song et al. 2024 preprint, §2.3, Fig. 2).

Input: the (B, L, 11) elemental feature matrix of a cell composition and its
(B, L) atom mask (L = 12, :mod:`xtalkit.csp.encoding`). Output: (B, N, L, L)
logits over the N distance groups of every atom pair.

1. Feature standardization with fixed per-feature statistics (buffers; default:
   mean and standard deviation over the elements Z = 1-103 of the packaged
   table), padding rows kept at zero.
2. 1D residual stack along the atom axis: a stem convolution to
   ``filters_1d`` channels, then ``blocks_1d`` blocks (paper: 9) whose width
   doubles every ``double_every`` blocks (paper: 3; 32 → 64 → 128).
3. Pairwise features: for atoms i, j the concatenation
   ``[h_i ‖ h_j ‖ h_i ⊙ h_j]`` — the sequential features of both atoms merged
   with their per-channel outer product ``h_c h_cᵀ`` (3·C channels).
4. 2D residual stack on the L × L map: a stem 1 × 1 convolution to
   ``filters_2d`` channels and ``blocks_2d`` blocks (paper: 9 blocks from 256
   filters, doubling every 3 → 1024).
5. A 1 × 1 convolution to N logits per pair, made symmetric by averaging with
   its transpose: ``(z + zᵀ) / 2``.

Residual block (paper: "two convolutional layers, a batch normalization layer,
and two nonlinear transformations"): ``y = conv₂(ReLU(BN(conv₁(x))))``,
``out = ReLU(P x + y)`` with P the identity, or a 1 × 1 convolution where the
width changes. Padded positions are set to zero after every block so that they
never feed real atoms through the convolutions (BatchNorm statistics do include
them, as in the paper's zero-padded tensors).

Loss (eq. 1): cross-entropy over the valid pairs only (both atoms present,
i ≠ j), :func:`masked_cross_entropy`. Eq. 1 is written as a binary
cross-entropy over the one-hot entries; ``kind="categorical"`` (default) is the
softmax cross-entropy of the N groups of each pair, ``kind="binary"`` the
literal eq. 1 (sigmoid per group, averaged over pairs × N).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from xtalkit.models.checkpoint import constructor_arguments

PAPER_D_MIN = 0.9488  # Å, Mp_12 minimum distance (§3.1)
PAPER_D_MAX = 23.3361  # Å, Mp_12 maximum distance (§3.1)

PRESETS: dict[str, dict] = {
    "paper": {"filters_1d": 32, "blocks_1d": 9, "filters_2d": 256, "blocks_2d": 9, "double_every": 3},
    "cpu": {"filters_1d": 16, "blocks_1d": 6, "filters_2d": 32, "blocks_2d": 6, "double_every": 3},
    "medium": {"filters_1d": 32, "blocks_1d": 6, "filters_2d": 64, "blocks_2d": 6, "double_every": 3},
}
"""Constructor widths: ``"paper"`` as §2.3 (≈ 75 M parameters), ``"cpu"`` a small CPU model
(0.29 M), ``"medium"`` the shipped size (1.15 M; about 2.6 × the training time of ``"cpu"``)."""


def _element_statistics(num_features: int) -> tuple[list[float], list[float]]:
    """Mean and standard deviation of the AlphaCrystal-II features over Z = 1-103."""
    from xtalkit.elements import Z_MAX, alphacrystal_features

    f = alphacrystal_features(np.arange(1, Z_MAX + 1))
    if f.shape[1] != num_features:
        return [0.0] * num_features, [1.0] * num_features
    std = f.std(axis=0)
    return f.mean(axis=0).tolist(), np.where(std > 0, std, 1.0).tolist()


class ResidualBlock(nn.Module):
    """conv → BN → ReLU → conv, plus (projected) input, → ReLU; 1D or 2D.

    Args:
        cin: Input channels.
        cout: Output channels.
        kernel: Odd kernel size.
        dim: 1 (atom sequence) or 2 (pair map).
    """

    def __init__(self, cin: int, cout: int, kernel: int, dim: int):
        super().__init__()
        conv = nn.Conv1d if dim == 1 else nn.Conv2d
        bn = nn.BatchNorm1d if dim == 1 else nn.BatchNorm2d
        pad = kernel // 2
        self.conv1 = conv(cin, cout, kernel, padding=pad, bias=False)
        self.bn = bn(cout)
        self.conv2 = conv(cout, cout, kernel, padding=pad)
        self.proj = nn.Identity() if cin == cout else conv(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, cin, L[, L]) → (B, cout, L[, L])."""
        y = self.conv2(F.relu(self.bn(self.conv1(x))))
        return F.relu(self.proj(x) + y)


def _widths(base: int, blocks: int, double_every: int) -> list[int]:
    return [base * 2 ** (b // double_every) if double_every > 0 else base for b in range(blocks)]


class DistMatNet(nn.Module):
    """Distance-matrix classifier of AlphaCrystal-II (Fig. 2).

    Args:
        num_groups: N, distance groups (paper: 5, 10, 20).
        d_min: Å, lower edge of group 0 (training-set minimum distance).
        d_max: Å, upper edge of group N−1 (training-set maximum distance).
        max_atoms: L, padded number of atoms (paper: 12).
        num_features: Elemental features per atom (paper: 11).
        filters_1d: Width of the first 1D blocks (paper: 32).
        blocks_1d: Number of 1D residual blocks (paper: 9).
        filters_2d: Width of the first 2D blocks (paper: 256).
        blocks_2d: Number of 2D residual blocks (paper: 9).
        double_every: Blocks between width doublings (paper: 3; 0 = never).
        kernel_1d: Kernel size along the atom axis (not stated in the paper; 3).
        kernel_2d: Kernel size of the pair map (not stated; 3).
        feature_mean: (num_features,) standardization means (default: element table).
        feature_std: (num_features,) standardization scales (default: element table).
    """

    def __init__(
        self,
        num_groups: int = 10,
        d_min: float = PAPER_D_MIN,
        d_max: float = PAPER_D_MAX,
        max_atoms: int = 12,
        num_features: int = 11,
        filters_1d: int = 32,
        blocks_1d: int = 9,
        filters_2d: int = 256,
        blocks_2d: int = 9,
        double_every: int = 3,
        kernel_1d: int = 3,
        kernel_2d: int = 3,
        feature_mean: list[float] | None = None,
        feature_std: list[float] | None = None,
    ):
        super().__init__()
        if num_groups < 2:
            raise ValueError("num_groups must be at least 2")
        if not d_max > d_min >= 0:
            raise ValueError("need 0 <= d_min < d_max")
        if kernel_1d % 2 == 0 or kernel_2d % 2 == 0:
            raise ValueError("kernel sizes must be odd")
        if feature_mean is None or feature_std is None:
            mean0, std0 = _element_statistics(num_features)
            feature_mean = mean0 if feature_mean is None else feature_mean
            feature_std = std0 if feature_std is None else feature_std
        feature_mean = [float(v) for v in feature_mean]
        feature_std = [float(v) for v in feature_std]
        if len(feature_mean) != num_features or len(feature_std) != num_features:
            raise ValueError("feature_mean and feature_std need num_features entries")
        self.init_args = constructor_arguments(type(self), locals())
        self.num_groups, self.max_atoms = int(num_groups), int(max_atoms)
        self.register_buffer("feature_mean", torch.tensor(feature_mean, dtype=torch.float32))
        self.register_buffer("feature_std", torch.tensor(feature_std, dtype=torch.float32))
        width = (float(d_max) - float(d_min)) / num_groups
        centres = float(d_min) + (torch.arange(num_groups, dtype=torch.float32) + 0.5) * width
        self.register_buffer("bin_centres", centres)

        w1 = _widths(filters_1d, blocks_1d, double_every)
        self.stem_1d = nn.Conv1d(num_features, filters_1d, kernel_1d, padding=kernel_1d // 2)
        self.blocks_1d = nn.ModuleList(
            ResidualBlock(cin, cout, kernel_1d, 1)
            for cin, cout in zip([filters_1d, *w1[:-1]], w1, strict=True)
        )
        c1 = w1[-1] if w1 else filters_1d
        w2 = _widths(filters_2d, blocks_2d, double_every)
        self.stem_2d = nn.Conv2d(3 * c1, filters_2d, 1)
        self.blocks_2d = nn.ModuleList(
            ResidualBlock(cin, cout, kernel_2d, 2)
            for cin, cout in zip([filters_2d, *w2[:-1]], w2, strict=True)
        )
        c2 = w2[-1] if w2 else filters_2d
        self.head = nn.Conv2d(c2, num_groups, 1)

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Symmetric distance-group logits.

        Args:
            features: (B, L, num_features) raw elemental features (zero rows = padding).
            mask: (B, L) boolean atom mask.

        Returns:
            (B, N, L, L) logits, symmetric in the last two axes.
        """
        m = mask.to(features.dtype)
        x = (features - self.feature_mean) / self.feature_std * m[..., None]
        h = self.stem_1d(x.transpose(1, 2)) * m[:, None, :]  # (B, C, L)
        for block in self.blocks_1d:
            h = block(h) * m[:, None, :]
        L = h.shape[-1]
        hi = h[:, :, :, None].expand(-1, -1, L, L)
        hj = h[:, :, None, :].expand(-1, -1, L, L)
        pm = (m[:, :, None] * m[:, None, :])[:, None]  # (B, 1, L, L)
        z = torch.cat([hi, hj, hi * hj], dim=1) * pm
        z = self.stem_2d(z) * pm
        for block in self.blocks_2d:
            z = block(z) * pm
        logits = self.head(z)
        return 0.5 * (logits + logits.transpose(-1, -2))

    @torch.no_grad()
    def predict(self, features: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Most likely group and its bin-centre distance for every pair.

        Args:
            features: (B, L, num_features) raw features.
            mask: (B, L) atom mask.

        Returns:
            ``classes`` (B, L, L) int64 and ``distances`` (B, L, L) Å (bin centres;
            0 on the diagonal and outside valid pairs).
        """
        classes = self(features, mask).argmax(dim=1)
        pm = mask[:, :, None] & mask[:, None, :]
        pm = pm & ~torch.eye(mask.shape[-1], dtype=torch.bool, device=mask.device)
        dist = torch.where(pm, self.bin_centres[classes], torch.zeros((), device=classes.device))
        return classes, dist


def masked_cross_entropy(
    logits: torch.Tensor, classes: torch.Tensor, pair_mask: torch.Tensor, kind: str = "categorical"
) -> torch.Tensor:
    """Cross-entropy of eq. 1 over the valid pairs only.

    Args:
        logits: (B, N, L, L) network output.
        classes: (B, L, L) int64 true groups (any value outside valid pairs).
        pair_mask: (B, L, L) bool, valid pairs (both atoms present, i ≠ j).
        kind: ``"categorical"`` (softmax over the N groups, mean over valid
            pairs) or ``"binary"`` (eq. 1 literally: sigmoid cross-entropy of
            each one-hot entry, mean over valid pairs × N).

    Returns:
        Scalar loss (0 when there is no valid pair).
    """
    pm = pair_mask.to(logits.dtype)
    count = pm.sum()
    safe = torch.where(pair_mask, classes, torch.zeros_like(classes))
    if kind == "categorical":
        per_pair = F.cross_entropy(logits, safe, reduction="none")  # (B, L, L)
        return (per_pair * pm).sum() / count.clamp(min=1.0)
    if kind == "binary":
        onehot = F.one_hot(safe, logits.shape[1]).permute(0, 3, 1, 2).to(logits.dtype)
        per = F.binary_cross_entropy_with_logits(logits, onehot, reduction="none")  # (B, N, L, L)
        return (per * pm[:, None]).sum() / (count * logits.shape[1]).clamp(min=1.0)
    raise ValueError(f"kind must be 'categorical' or 'binary', got {kind!r}")
