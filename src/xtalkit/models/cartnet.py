r"""CartNet (Solé et al., *Digital Discovery* 4, 694 (2025), §4.1, eqs. 4-18).

A message-passing network on periodic radius graphs whose edges carry the
Cartesian unit direction between atoms, so that its outputs can follow the
orientation of the crystal; the Cholesky head makes every predicted ADP
symmetric positive definite.

* Atom encoder (eq. 4): ``h_i = SiLU(W2 SiLU(Emb(Z_i) + W1 T̃ + b1) + b2)`` with
  ``T̃`` the temperature standardized with training-set statistics (stored as
  buffers, so they travel with the weights); ``Emb`` and ``W1`` have width 2·dim.
* Edge encoder (eqs. 5-9): ``e_ij = MLP_edge(r(d_ij) ‖ v̂_ij)`` with the K
  radial basis functions ``r_k(d) = exp(−β (exp(−d) − μ_k)²)``, μ_k evenly
  spaced between exp(−r_c) and 1 and ``β = [2K⁻¹(1 − exp(−r_c))]⁻²``;
  ``MLP_edge`` = Linear(K+3 → 2·dim), SiLU, Linear(2·dim → dim), SiLU.
* CartLayer (eqs. 10-14):
  ``gate_ij = σ(BN(MLP_gate(h_i ‖ e_ij ‖ h_j))) ⊙ Env(d_ij)``,
  ``Env(d) = ½(cos(π d / r_c) + 1)``,
  ``msg_ij = MLP_msg(h_i ‖ e_ij ‖ h_j) ⊙ gate_ij``,
  ``h_i += SiLU(BN(Σ_j msg_ij))``, ``e_ij += gate_ij``; both MLPs are
  Linear(3·dim → dim), SiLU, Linear(dim → dim). Edge and node updates use the
  layer's input features.
* Cholesky head (eqs. 15-18): ``o = MLP_head(h_i)`` (dim → dim/2 → 6),
  ``L = [[sp(o1), 0, 0], [o4, sp(o2), 0], [o6, o5, sp(o3)]]`` with sp =
  softplus (+1e-4 Å so that float32 underflow cannot make L singular),
  ``U = L Lᵀ``; only non-H atoms are predicted.
* Scalar head (SI S4 eq. 4): ``s = mean_i MLP_head(h_i)`` (dim → dim/2 → 1).

Number of radial basis functions: K = 64 by default, as the authors' code.
The centres are evenly spaced in exp(−d), so their spacing in distance is
(1 − e^{−r_c}) / (K − 1) · e^{d}: at K = 64 that is 0.05 Å around 1.4 Å, fine
enough to separate single, aromatic and double C–C bonds (1.54, 1.39,
1.34 Å), and the basis costs K + 3 inputs of a layer that is 2·dim wide anyway.

Implementation note (exact, not an approximation): the first Linear of
MLP_gate and MLP_msg acts on ``h_i ‖ e_ij ‖ h_j``; it is split into node parts
computed once per atom and gathered, plus an edge part, and the two MLPs share
that first product. Per edge this saves two dim×dim products per layer.

Ablations of the paper's Table 5 are constructor flags: ``envelope``,
``direction`` (the unit vector), ``temperature``; the graph without hydrogens
and the augmentation are options of the data pipeline and training.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from xtalkit.data.graphs import GraphBatch
from xtalkit.models.checkpoint import constructor_arguments


@dataclasses.dataclass
class CartNetSettings:
    """The CartNet backbone settings shared by the ADP and the property trainers (SI Table S1).

    Attributes:
        dim: feature width.
        num_layers: CartLayers.
        num_rbf: radial basis functions K.
        cutoff: graph radius, Å.
        envelope: neighbour equalization envelope (ablation 3 when False).
        direction: unit direction vectors on edges (ablation 4 when False).
        hydrogens: H atoms as graph nodes (ablation 2 when False).
    """

    dim: int = 256
    num_layers: int = 4
    num_rbf: int = 64
    cutoff: float = 5.0
    envelope: bool = True
    direction: bool = True
    hydrogens: bool = True


Z_EMBED = 104  # atomic numbers 1-103 (index 0 unused)
CHOLESKY_EPS = 1e-4  # Å, added to the softplus diagonal of L


def radial_basis(dist: torch.Tensor, num_rbf: int, cutoff: float) -> torch.Tensor:
    """CartNet eq. 7: ``exp(−β (exp(−d) − μ_k)²)`` for k = 0..K−1; shape (E, K)."""
    lo = math.exp(-cutoff)
    mu = torch.linspace(lo, 1.0, num_rbf, dtype=dist.dtype, device=dist.device)
    beta = (2.0 / num_rbf * (1.0 - lo)) ** -2
    return torch.exp(-beta * (torch.exp(-dist)[:, None] - mu) ** 2)


def cosine_envelope(dist: torch.Tensor, cutoff: float) -> torch.Tensor:
    """CartNet eq. 11: ``½(cos(π d / r_c) + 1)``, zero beyond the cutoff; shape (E,)."""
    env = 0.5 * (torch.cos(math.pi * dist / cutoff) + 1.0)
    return torch.where(dist < cutoff, env, torch.zeros_like(env))


class CartLayer(nn.Module):
    """One CartLayer (eqs. 10-14), with the first Linear of both MLPs split by input part."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        # first Linear of MLP_gate and MLP_msg on (h_i ‖ e_ij ‖ h_j): [gate | msg] outputs
        self.lin_i = nn.Linear(dim, 2 * dim, bias=False)
        self.lin_j = nn.Linear(dim, 2 * dim, bias=False)
        self.lin_e = nn.Linear(dim, 2 * dim, bias=True)
        self.gate_out = nn.Linear(dim, dim)
        self.msg_out = nn.Linear(dim, dim)
        self.bn_edge = nn.BatchNorm1d(dim)
        self.bn_node = nn.BatchNorm1d(dim)

    def forward(
        self,
        h: torch.Tensor,
        e: torch.Tensor,
        src: torch.Tensor,
        dst: torch.Tensor,
        env: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One round of messages.

        Args:
            h: (N, dim) node features.
            e: (E, dim) edge features.
            src: (E,) sender j.
            dst: (E,) receiver i.
            env: (E,) envelope values (ones when disabled).

        Returns:
            Updated ``(h, e)``.
        """
        hidden = F.silu(self.lin_i(h)[dst] + self.lin_j(h)[src] + self.lin_e(e))
        gate = torch.sigmoid(self.bn_edge(self.gate_out(hidden[:, : self.dim]))) * env[:, None]
        msg = self.msg_out(hidden[:, self.dim :]) * gate
        agg = torch.zeros_like(h).index_add_(0, dst, msg)
        return h + F.silu(self.bn_node(agg)), e + gate


class CartNet(nn.Module):
    """CartNet for ADPs (Cholesky head) or scalar properties (mean-pooled head).

    Args:
        dim: width of node and edge features (paper: 256).
        num_layers: number of CartLayers (paper: 4).
        num_rbf: K, radial basis functions (see module docstring).
        cutoff: graph radius r_c, Å (paper: 5).
        head: ``"cholesky"`` (ADPs of non-H atoms) or ``"scalar"``.
        envelope: multiply gates by the cosine envelope (ablation 3 when False).
        direction: feed the unit direction vector to the edge encoder (ablation 4).
        temperature: feed the temperature to the atom encoder (ablation 5).
        temperature_mean: K, training-set mean used to standardize T.
        temperature_std: K, training-set standard deviation.
        initial_uiso: Å²; the Cholesky head's last layer starts with zero weights
            and a bias such that an untrained network predicts ``initial_uiso · I``
            (0: PyTorch's default initialization).
        target_mean: scalar head: training-set mean of the target (added to outputs).
        target_std: scalar head: training-set standard deviation (scales outputs).
        hydrogens: whether the graphs this network was trained on keep H atoms as
            nodes (ablation 2 when False); the data pipeline reads it to build
            matching graphs at prediction time.
        rigid_body: harmonic head: add the TLS rigid-body part for finite molecules.
        head_directions: harmonic head: False replaces every direction outer product by
            its isotropic part (the control whose ellipsoids must be spheres).

    ``head="harmonic"`` is the equivariant, physical ADP head of
    :mod:`xtalkit.models.harmonic_head`; it needs an invariant backbone
    (``direction=False``), so its predictions rotate exactly with the input.
    """

    def __init__(
        self,
        dim: int = 256,
        num_layers: int = 4,
        num_rbf: int = 64,
        cutoff: float = 5.0,
        head: str = "cholesky",
        envelope: bool = True,
        direction: bool = True,
        temperature: bool = True,
        temperature_mean: float = 0.0,
        temperature_std: float = 1.0,
        initial_uiso: float = 0.02,
        target_mean: float = 0.0,
        target_std: float = 1.0,
        hydrogens: bool = True,
        rigid_body: bool = True,
        head_directions: bool = True,
    ):
        super().__init__()
        if head not in ("cholesky", "scalar", "harmonic"):
            raise ValueError("head must be 'cholesky', 'scalar' or 'harmonic'")
        if head == "harmonic" and direction:
            raise ValueError("the harmonic head needs an invariant backbone (direction=False)")
        if temperature_std <= 0:
            raise ValueError("temperature_std must be positive")
        temperature_mean, temperature_std = float(temperature_mean), float(temperature_std)
        target_mean, target_std = float(target_mean), float(target_std)
        self.init_args = constructor_arguments(type(self), locals())
        self.hydrogens = hydrogens
        self.dim, self.num_rbf, self.cutoff, self.head_kind = dim, num_rbf, cutoff, head
        self.use_envelope, self.use_direction, self.use_temperature = (
            envelope,
            direction,
            temperature,
        )
        self.register_buffer("temperature_mean", torch.tensor(float(temperature_mean)))
        self.register_buffer("temperature_std", torch.tensor(float(temperature_std)))
        self.register_buffer("target_mean", torch.tensor(float(target_mean)))
        self.register_buffer("target_std", torch.tensor(float(target_std)))
        # atom encoder (eq. 4)
        self.embedding = nn.Embedding(Z_EMBED, 2 * dim)
        nn.init.xavier_uniform_(self.embedding.weight)
        self.temp_lin = nn.Linear(1, 2 * dim)
        self.atom_out = nn.Linear(2 * dim, dim)
        # edge encoder (eq. 9)
        self.edge_mlp = nn.Sequential(
            nn.Linear(num_rbf + (3 if direction else 0), 2 * dim),
            nn.SiLU(),
            nn.Linear(2 * dim, dim),
            nn.SiLU(),
        )
        self.layers = nn.ModuleList(CartLayer(dim) for _ in range(num_layers))
        if head == "harmonic":
            from xtalkit.elements import features
            from xtalkit.models.harmonic_head import HarmonicADPHead

            self.head = HarmonicADPHead(dim, rigid_body=rigid_body, directions=head_directions)
            mass = torch.zeros(Z_EMBED, dtype=torch.float32)
            mass[1:] = torch.from_numpy(features(np.arange(1, Z_EMBED), ["atomic_weight"])[:, 0]).float()
            self.register_buffer("atomic_mass", mass, persistent=False)
            return
        out = 6 if head == "cholesky" else 1
        self.head = nn.Sequential(nn.Linear(dim, dim // 2), nn.SiLU(), nn.Linear(dim // 2, out))
        if head == "cholesky" and initial_uiso > 0:
            with torch.no_grad():
                self.head[-1].weight.zero_()
                # softplus⁻¹(sqrt(U_iso) − ε), ε the floor added in cholesky_u
                diag = math.log(math.expm1(math.sqrt(initial_uiso) - CHOLESKY_EPS))
                self.head[-1].bias.copy_(torch.tensor([diag, diag, diag, 0.0, 0.0, 0.0]))

    @property
    def predicts_adps(self) -> bool:
        """True for the ADP heads (Cholesky or harmonic)."""
        return self.head_kind in ("cholesky", "harmonic")

    @property
    def equivariant(self) -> bool:
        """True when predictions rotate exactly with the input (no frame or averaging needed)."""
        return self.head_kind == "harmonic"

    def encode(self, batch: GraphBatch) -> torch.Tensor:
        """Node features after the last CartLayer, (N, dim)."""
        return self._encode(batch)[0]

    def _encode(self, batch: GraphBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Node features (N, dim), edge features (E, dim) and envelope (E,) after the last layer."""
        x = self.embedding(batch.z)
        if self.use_temperature:
            t = (batch.temperature - self.temperature_mean) / self.temperature_std
            x = x + self.temp_lin(t[:, None])[batch.batch]
        h = F.silu(self.atom_out(F.silu(x)))
        dist = batch.dist
        feats = radial_basis(dist, self.num_rbf, self.cutoff)
        if self.use_direction:
            unit = batch.vec / dist.clamp_min(1e-9)[:, None]
            feats = torch.cat([feats, unit], dim=1)
        e = self.edge_mlp(feats)
        env = cosine_envelope(dist, self.cutoff) if self.use_envelope else torch.ones_like(dist)
        for layer in self.layers:
            h, e = layer(h, e, batch.src, batch.dst, env)
        return h, e, env

    def forward(self, batch: GraphBatch) -> torch.Tensor:
        """Predictions: (N_scored, 3, 3) U_cart in Å² for ``batch.scored`` atoms, or (B,) scalars."""
        if self.head_kind == "harmonic":
            h, e, env = self._encode(batch)
            return self.head(h, e, env, batch, self.atomic_mass[batch.z])
        h = self.encode(batch)
        if self.head_kind == "cholesky":
            return cholesky_u(self.head(h[batch.scored]))
        per_atom = self.head(h)[:, 0]
        total = torch.zeros(batch.n_graphs, dtype=h.dtype, device=h.device).index_add_(
            0, batch.batch, per_atom
        )
        count = torch.bincount(batch.batch, minlength=batch.n_graphs).clamp_min(1).to(h.dtype)
        return total / count * self.target_std + self.target_mean


def cholesky_u(o: torch.Tensor, eps: float = CHOLESKY_EPS) -> torch.Tensor:
    """CartNet eqs. 17-18: (M, 6) head outputs → (M, 3, 3) ``U = L Lᵀ``, positive definite."""
    d = F.softplus(o[:, :3]) + eps
    z = torch.zeros_like(d[:, 0])
    L = torch.stack(
        [
            torch.stack([d[:, 0], z, z], dim=1),
            torch.stack([o[:, 3], d[:, 1], z], dim=1),
            torch.stack([o[:, 5], o[:, 4], d[:, 2]], dim=1),
        ],
        dim=1,
    )
    return L @ L.transpose(1, 2)
