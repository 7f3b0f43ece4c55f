r"""Site-Net (Moran et al., *Digital Discovery* 2, 1297 (2023), §2.2-2.3, §3.1, eqs. 1-8).

A set transformer on the real-space supercell of a crystal. Inputs come from
:mod:`xtalkit.data.sitenet_features` as a :class:`~xtalkit.data.sitenet_features.SitenetBatch`.

* Site features (Table 1, 101 per site): a learned element embedding (92) ‖
  9 scalars (Z, atomic weight, row, column, first ionization energy,
  electronegativity, atomic radius, density, oxidation state). The scalars are
  standardized with fixed per-feature statistics over the elements Z = 1-103
  (buffers, so they travel with the weights): an affine reparametrization of the
  first layer, chosen because the raw scalars span 10⁻⁵ to 10².
* Auxiliary embeddings (§2.2): ``S¹ = LN(Mish(W S⁰))`` with λ = heads ×
  site_dim_per_head and ``I¹ = LN(Mish(W I⁰))`` with μ = heads ×
  interaction_dim_per_head.
* Attention block (eqs. 3-7), with H heads, for query i and key j:

  - eq. 3: ``B_ij = S_i ‖ I_ij ‖ S_j`` (2λ + μ);
  - eq. 4: ``A^F_ij = g^F(B_ij)``, one Linear-Mish-LayerNorm; by default every
    head has its own attention features (λ/H each, concatenated to λ: "multiple
    sets of attention feature and attention weight tensors are independently
    computed ... and then concatenated"); ``shared_head_features=True`` gives
    all heads the same λ/H features, as in the authors' code;
  - eq. 5: ``a_ij = softmax_j g^W(B_ij)`` per head; g^W = hidden layers
    (Linear-Mish-LayerNorm, widths ``attention_hidden``, paper [1, 225]) and a
    Linear to H logits;
  - eq. 6: ``S'_i = g^S(‖_h Σ_j a^h_ij A^{F,h}_ij)``, g^S = Linear(λ→λ)-Mish-LayerNorm;
  - eq. 7: ``I'_ij = g^I(B_ij)``, Linear(2λ+μ→μ)-Mish-LayerNorm.

  The first Linear of g^W, g^F and g^I acts on ``B_ij``; it is applied as
  ``W_i S_i + W_I I_ij + W_j S_j`` with ``[W_i | W_I | W_j]`` the weight of that
  Linear — the same function, computed without materializing B (exact up to
  float rounding; ``AttentionBlock.bond_features`` builds B for checks).
* Readout (§2.3): the site outputs of all blocks are concatenated (blocks × λ),
  passed through the pre-pooling network (Linear-Mish-LayerNorm, paper [1, 94]),
  averaged over the query sites of each structure with the index tensor
  (Fig. 8), passed through the post-pooling network (paper [3, 200]) and a final
  Linear to one number, ``y = out · target_std + target_mean``.
  ``clamp_output=True`` clamps y at 0 with a straight-through gradient (§3,
  band gap).
* ``distance_cutoff`` (Table 2, "500 (5 Å attention)"): keys farther than r Å
  from the query get attention logit −∞ in every block (weight exactly 0).

Unique sites (§3.1). The queries are the unique sites of the primitive cell
and the keys all supercell sites; key j carries the features of the unique
site it is an image of. This is exact, not an approximation: in the brute-force
computation over all N supercell sites (``featurize(..., queries="all")``) every
image of a unique site has the same interaction row up to a permutation of the
keys (a primitive lattice translation maps the periodic supercell onto itself),
so by induction over the blocks all images carry identical features, equal to
the unique site's; the mean over all N sites equals the mean over unique sites
since every unique site has the same number of images.

Analysis: :func:`long_range_coefficient` (eq. 8) here; the attention-distance
histograms of Fig. 6 are in :mod:`xtalkit.property.sitenet_analysis`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from xtalkit.data.sitenet_features import (
    DEFAULT_MAX_ATOMS,
    LOG_COULOMB_CLIP,
    SITE_FEATURE_NAMES,
    SitenetBatch,
)
from xtalkit.elements import SITENET_FEATURES, Z_MAX, features
from xtalkit.models.checkpoint import constructor_arguments

N_SCALAR = len(SITE_FEATURE_NAMES)  # 9
N_INTERACTION = 2


def straight_through_clamp(x: torch.Tensor, minimum: float = 0.0) -> torch.Tensor:
    """``max(x, minimum)`` in the forward pass, identity gradient in the backward pass (§3).

    Negative band-gap predictions read as confident zeros, while the gradient
    still lets the model recover from a false zero ("transparent ReLU").
    """
    return x + (x.clamp_min(minimum) - x).detach()


def segment_softmax(logits: torch.Tensor, index: torch.Tensor, n_segments: int) -> torch.Tensor:
    """Softmax of ``logits`` over the rows that share an ``index`` (eq. 5's sum over j).

    Args:
        logits: (P, H); −∞ entries get weight 0 (each segment needs one finite entry).
        index: (P,) segment (query) of every row.
        n_segments: Q.

    Returns:
        (P, H) weights; within a segment each column sums to 1.
    """
    H = logits.shape[1]
    idx = index[:, None].expand(-1, H)
    peak = torch.full((n_segments, H), -torch.inf, dtype=logits.dtype, device=logits.device)
    peak = peak.scatter_reduce(0, idx, logits.detach(), reduce="amax", include_self=True)
    ex = torch.exp(logits - peak[index])
    total = torch.zeros((n_segments, H), dtype=logits.dtype, device=logits.device).index_add_(0, index, ex)
    return ex / total[index]


def segment_mean(x: torch.Tensor, index: torch.Tensor, n_segments: int) -> torch.Tensor:
    """Mean of the rows of ``x`` (M, F) per ``index`` (M,) → (n_segments, F)."""
    total = torch.zeros((n_segments, x.shape[1]), dtype=x.dtype, device=x.device).index_add_(0, index, x)
    count = torch.bincount(index, minlength=n_segments).clamp_min(1).to(x.dtype)
    return total / count[:, None]


class _Dense(nn.Module):
    """Linear → Mish → LayerNorm (the paper's layer, Table 1: Mish, LayerNorm)."""

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.linear = nn.Linear(n_in, n_out)
        self.norm = nn.LayerNorm(n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(F.mish(self.linear(x)))


def _stack(widths: Sequence[int], n_in: int) -> nn.Sequential:
    layers = []
    for w in widths:
        layers.append(_Dense(n_in, int(w)))
        n_in = int(w)
    return nn.Sequential(*layers)


class AttentionBlock(nn.Module):
    """One Site-Net attention block (eqs. 3-7) on flat (query, key) pairs.

    Args:
        heads: H.
        site_dim_per_head: λ/H.
        interaction_dim_per_head: μ/H.
        attention_hidden: widths of the hidden layers of g^W (may be empty).
        shared_head_features: all heads weight the same λ/H attention features
            (authors' code) instead of each head having its own.
    """

    def __init__(
        self,
        heads: int,
        site_dim_per_head: int,
        interaction_dim_per_head: int,
        attention_hidden: Sequence[int],
        shared_head_features: bool = False,
    ):
        super().__init__()
        self.heads = heads
        self.head_dim = site_dim_per_head
        self.site_dim = lam = heads * site_dim_per_head
        self.interaction_dim = mu = heads * interaction_dim_per_head
        self.shared = shared_head_features
        f_dim = site_dim_per_head if shared_head_features else lam
        hidden = [int(w) for w in attention_hidden]
        w_first = hidden[0] if hidden else heads
        self.split = (w_first, f_dim, mu)
        width = sum(self.split)
        # first Linear of g^W, g^F, g^I on B = S_i ‖ I_ij ‖ S_j, split by input part
        self.lin_i = nn.Linear(lam, width, bias=False)
        self.lin_e = nn.Linear(mu, width, bias=True)
        self.lin_j = nn.Linear(lam, width, bias=False)
        # rest of g^W: LayerNorm of the first hidden layer, further hidden layers, logits
        self.w_norm = nn.LayerNorm(w_first) if hidden else None
        self.w_hidden = _stack(hidden[1:], w_first) if hidden else nn.Sequential()
        self.w_out = nn.Linear(hidden[-1], heads) if hidden else None
        self.f_norm = nn.LayerNorm(f_dim)  # g^F
        self.i_norm = nn.LayerNorm(mu)  # g^I
        self.g_s = _Dense(lam, lam)  # g^S

    def bond_features(
        self, S: torch.Tensor, inter: torch.Tensor, pair_query: torch.Tensor, pair_key: torch.Tensor
    ) -> torch.Tensor:
        """Eq. 3, ``B_ij = S_i ‖ I_ij ‖ S_j``: (P, 2λ + μ) (for checks; forward never builds it)."""
        return torch.cat([S[pair_query], inter, S[pair_key]], dim=1)

    def first_linear(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Weight (width, 2λ + μ) and bias of the first Linear of g^W ‖ g^F ‖ g^I acting on B."""
        return torch.cat([self.lin_i.weight, self.lin_e.weight, self.lin_j.weight], dim=1), self.lin_e.bias

    def forward(
        self,
        S: torch.Tensor,
        inter: torch.Tensor,
        pair_query: torch.Tensor,
        pair_key: torch.Tensor,
        mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One block.

        Args:
            S: (Q, λ) site features of the queries.
            inter: (P, μ) interaction features I of the pairs.
            pair_query: (P,) query i of each pair.
            pair_key: (P,) row of S that key j carries.
            mask: (P,) True for pairs to leave out of the attention, or None.

        Returns:
            ``(S', I', a)``: (Q, λ) new site features (eq. 6), (P, μ) new
            interaction features (eq. 7), (P, H) attention weights (eq. 5).
        """
        pre = self.lin_i(S)[pair_query] + self.lin_e(inter) + self.lin_j(S)[pair_key]
        w_pre, f_pre, i_pre = pre.split(self.split, dim=1)
        logits = w_pre if self.w_out is None else self.w_out(self.w_hidden(self.w_norm(F.mish(w_pre))))
        if mask is not None:
            logits = logits.masked_fill(mask[:, None], -torch.inf)
        a = segment_softmax(logits, pair_query, S.shape[0])  # eq. 5
        feats = self.f_norm(F.mish(f_pre))  # eq. 4
        P = feats.shape[0]
        if self.shared:
            msg = a[:, :, None] * feats[:, None, :]
        else:
            msg = a[:, :, None] * feats.view(P, self.heads, self.head_dim)
        agg = torch.zeros((S.shape[0], self.site_dim), dtype=S.dtype, device=S.device)
        agg = agg.index_add_(0, pair_query, msg.reshape(P, self.site_dim))
        S_new = self.g_s(agg)  # eq. 6
        I_new = self.i_norm(F.mish(i_pre))  # eq. 7
        return S_new, I_new, a


@dataclasses.dataclass
class SitenetEncoding:
    """Intermediate results of :meth:`SiteNet.encode`.

    Attributes:
        sites: (Q, blocks · λ) concatenated site outputs of all attention blocks.
        pooled_sites: (Q, pre_pool[-1]) after the pre-pooling network (what is averaged).
        attention: per block, (P, H) attention weights a_ij (eq. 5).
    """

    sites: torch.Tensor
    pooled_sites: torch.Tensor
    attention: list[torch.Tensor]


class SiteNet(nn.Module):
    """Site-Net for one scalar property per structure.

    Defaults are the paper's Table 1 / §2.2 values (λ = 90, μ = 48).

    Args:
        embedding_dim: length of the learned element embedding (paper: 92).
        heads: attention heads H (paper: 3).
        site_dim_per_head: λ/H (paper: 30).
        interaction_dim_per_head: μ/H (16, giving the text's μ = 48 and the
            authors' configuration; Table 1 prints 12).
        blocks: attention blocks (paper: 2).
        attention_hidden: hidden widths of g^W (paper: [225]).
        pre_pool: widths of the pre-pooling network (paper: [94]).
        post_pool: widths of the post-pooling network (paper: [200, 200, 200]).
        distance_cutoff: Å; attention only to keys closer than this (None: all keys).
        clamp_output: clamp predictions at 0 with a straight-through gradient (band gap).
        shared_head_features: heads share one set of attention features (authors' code).
        standardize_site_features: standardize the 9 scalars with element-table statistics.
        target_mean: training-set mean of the target (added to the output), target units.
        target_std: training-set standard deviation of the target (scales the output).
        max_atoms: N of the supercells this model is meant for (read by the data pipeline).
        log_coulomb_clip: clip of ln C of the featurization this model is meant for.
    """

    def __init__(
        self,
        embedding_dim: int = 92,
        heads: int = 3,
        site_dim_per_head: int = 30,
        interaction_dim_per_head: int = 16,
        blocks: int = 2,
        attention_hidden: Sequence[int] = (225,),
        pre_pool: Sequence[int] = (94,),
        post_pool: Sequence[int] = (200, 200, 200),
        distance_cutoff: float | None = None,
        clamp_output: bool = False,
        shared_head_features: bool = False,
        standardize_site_features: bool = True,
        target_mean: float = 0.0,
        target_std: float = 1.0,
        max_atoms: int = DEFAULT_MAX_ATOMS,
        log_coulomb_clip: float = LOG_COULOMB_CLIP,
    ):
        super().__init__()
        if distance_cutoff is not None and distance_cutoff <= 0:
            raise ValueError("distance_cutoff must be positive (the self pair at 0 Å must stay)")
        if target_std <= 0:
            raise ValueError("target_std must be positive")
        if not pre_pool or blocks < 1:
            raise ValueError("need at least one attention block and one pre-pooling layer")
        self.init_args = constructor_arguments(type(self), locals())
        self.distance_cutoff = self.init_args["distance_cutoff"]
        self.clamp_output = bool(clamp_output)
        self.max_atoms = int(max_atoms)
        self.log_coulomb_clip = float(log_coulomb_clip)
        lam = heads * site_dim_per_head
        mu = heads * interaction_dim_per_head
        self.site_dim, self.interaction_dim = lam, mu
        # normalization statistics (buffers: they are saved with the weights)
        mean, std = np.zeros(N_SCALAR), np.ones(N_SCALAR)
        if standardize_site_features:
            table = features(np.arange(1, Z_MAX + 1), SITENET_FEATURES)
            mean[: len(SITENET_FEATURES)] = table.mean(axis=0)
            std[: len(SITENET_FEATURES)] = table.std(axis=0)  # oxidation state: kept as is
        self.register_buffer("site_feature_mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("site_feature_std", torch.tensor(std, dtype=torch.float32))
        self.register_buffer("target_mean", torch.tensor(float(target_mean)))
        self.register_buffer("target_std", torch.tensor(float(target_std)))
        # raw features → auxiliary embeddings (§2.2)
        self.embedding = nn.Embedding(Z_MAX + 1, embedding_dim)
        self.site_in = _Dense(embedding_dim + N_SCALAR, lam)
        self.interaction_in = _Dense(N_INTERACTION, mu)
        self.blocks = nn.ModuleList(
            AttentionBlock(
                heads, site_dim_per_head, interaction_dim_per_head, attention_hidden, shared_head_features
            )
            for _ in range(blocks)
        )
        self.pre_pool = _stack(pre_pool, blocks * lam)
        self.post_pool = _stack(post_pool, int(pre_pool[-1]))
        self.out = nn.Linear(int(post_pool[-1]) if post_pool else int(pre_pool[-1]), 1)

    def encode(self, batch: SitenetBatch) -> SitenetEncoding:
        """Site features after the attention blocks and the pre-pooling network (:class:`SitenetEncoding`)."""
        scalars = (batch.site_features - self.site_feature_mean) / self.site_feature_std
        x = torch.cat([self.embedding(batch.numbers), scalars.to(self.embedding.weight.dtype)], dim=1)
        S = self.site_in(x)  # S¹ (Q, λ)
        inter = self.interaction_in(batch.pair_features)  # I¹ (P, μ)
        mask = None
        if self.distance_cutoff is not None:
            mask = batch.pair_features[:, 0] > self.distance_cutoff
        outputs, attention = [], []
        for block in self.blocks:
            S, inter, a = block(S, inter, batch.pair_query, batch.pair_key, mask)
            outputs.append(S)
            attention.append(a)
        sites = torch.cat(outputs, dim=1)
        return SitenetEncoding(sites=sites, pooled_sites=self.pre_pool(sites), attention=attention)

    def forward(self, batch: SitenetBatch) -> torch.Tensor:
        """Predictions, (B,) in target units."""
        h = self.encode(batch).pooled_sites
        g = self.post_pool(segment_mean(h, batch.site_batch, batch.n_structures))
        y = self.out(g)[:, 0] * self.target_std + self.target_mean
        return straight_through_clamp(y) if self.clamp_output else y

    @torch.no_grad()
    def long_range_coefficients(self, batch: SitenetBatch, block: int = -1) -> torch.Tensor:
        """Eq. 8 for every structure of the batch from the attention of ``block`` (paper: the 2nd).

        Returns:
            (B,) Å.
        """
        att = self.encode(batch).attention[block]
        return long_range_coefficient(att, batch.pair_distance, batch.pair_batch, batch.n_structures)


# ------------------------------------------------------------------------------------------ analysis
def long_range_coefficient(
    attention: torch.Tensor, distance: torch.Tensor, pair_batch: torch.Tensor, n_structures: int
) -> torch.Tensor:
    r"""Long-range coefficient, eq. 8: ``Σ_heads max_ij (D_ij ⊙ A^W_ij)`` per structure.

    With unique-site queries the maximum runs over unique sites i and all
    supercell sites j; it equals the maximum over all N × N pairs since every
    image of a site has the same row of (D, A^W) up to a permutation of j.

    Args:
        attention: (P, H) attention weights of one block.
        distance: (P,) pair distances, Å.
        pair_batch: (P,) structure of each pair.
        n_structures: B.

    Returns:
        (B,) coefficients, Å (0 for a structure without pairs).
    """
    prod = attention * distance[:, None]
    H = prod.shape[1]
    peak = torch.zeros((n_structures, H), dtype=prod.dtype, device=prod.device)
    peak = peak.scatter_reduce(0, pair_batch[:, None].expand(-1, H), prod, reduce="amax", include_self=True)
    return peak.sum(dim=1)
