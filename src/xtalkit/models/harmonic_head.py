r"""An ADP head that is rotation-equivariant and positive definite by construction.

CartNet's Cholesky head (eqs. 15-18) learns the orientation of every
ellipsoid from direction inputs, which needs far more data than exists here
(the paper used 162k structures); the paper names equivariant ADP heads as
future work (§7). This head never learns orientation: an *invariant* backbone
(CartNet without direction inputs) produces per-atom, per-edge and
per-molecule scalars, and the tensors are assembled from the geometry:

1. **Harmonic part** (every non-H atom i). A stiffness tensor, eV/Å²,

   ``K_i = k_i0 I + Σ_j k_ij ê_ij ê_ijᵀ``,  k ≥ 0 (softplus), j over the graph
   neighbours, ê_ij the unit vector to j and k_ij damped by the cosine
   envelope (CartNet eq. 11),

   and along each principal axis a (eigenvalue κ_a) the mean-square
   displacement of a quantum harmonic oscillator of the atom's mass m:

   ``U_a = ħ/(2 m ω_a) · coth(ħ ω_a / 2 k_B T)``, ``ω_a = sqrt(κ_a / m)``,

   which tends to the zero-point value ħ/(2 sqrt(m κ)) as T → 0 and to the
   classical k_B T / κ at high T. Stiff directions (bonds) give small
   displacements along them. The matrix function is taken through the
   eigendecomposition with a Daleckii–Krein backward pass (divided
   differences, with the derivative at (near-)degenerate eigenvalues), so
   gradients stay finite when K is a sphere, as it is at initialisation.

2. **Rigid-body part** (atoms of finite molecules; Schomaker & Trueblood,
   *Acta Cryst.* B24, 63 (1968)): each molecule translates and librates as a
   whole, ``U_i += φ (T_m + A_i L_m A_iᵀ)`` with A_i the skew matrix of the
   atom's position r_i from the molecule's centre of mass,

   ``T_m = c_T [τ_0 I + Σ_k τ_k r_k r_kᵀ / ρ²]`` (Å²/eV),
   ``L_m = c_L [λ_0 I + Σ_k λ_k (|r_k|² I − r_k r_kᵀ) / ρ²]`` (rad²/eV),

   τ, λ ≥ 0 per molecule and per atom k of the molecule (H included),
   ρ² = Σ_k |r_k|² + 1 Å², and ``φ = (ħω_m/2) coth(ħω_m / 2k_BT)`` (eV) the
   thermal energy of the molecule's external modes at a learned frequency
   ω_m. Both tensors are positive semi-definite sums of outer products of
   r_k (a learned, weighted inertia tensor for L), so they rotate with the
   molecule. The screw coupling S of the TLS model is left out (it vanishes
   for molecules on inversion centres). Atoms of extended structures (bond
   paths that reach a periodic image) get the harmonic part alone.

Every term is a non-negative combination of outer products of vectors that
rotate with the structure, so ``U(R·x) = R U(x) Rᵀ`` exactly, and the sum of
a positive definite and positive semi-definite tensors is positive definite.
Temperature enters through the two oscillator laws only, so U(T) at fixed
geometry rises monotonically with T, starts from a non-zero zero-point value
and doubles when a high T doubles.

``directions=False`` replaces every outer product (ê êᵀ, r rᵀ and A L Aᵀ) by
its isotropic part, tr(X)/3 · I: the same network with no access to
directions, whose ellipsoids must be spheres (a control).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

#: ħ·sqrt(eV / (Å² · amu)) in eV: ħω for a stiffness of 1 eV/Å² and a mass of 1 amu.
HBAR_OMEGA_UNIT = 0.0646541
#: Boltzmann constant, eV/K.
K_B = 8.617333262e-5
#: eV/Å², floor of the isotropic stiffness (bounds U by k_B T / K_FLOOR).
K_FLOOR = 1e-3
#: Lowest temperature used in the oscillator laws, K (T = 0 is the zero-point limit).
T_FLOOR = 1e-3


def oscillator_msd(kappa: torch.Tensor, hw_unit: torch.Tensor, kT: torch.Tensor):
    """Mean-square displacement of a quantum harmonic oscillator and its derivative.

    ``U(κ) = a/(2√κ) · coth(x)`` with ``x = a√κ / (2 k_B T)`` and ``a = ħ/√m``
    in the units of :data:`HBAR_OMEGA_UNIT`;
    ``dU/dκ = −a/(4 κ^{3/2}) · (coth x + x / sinh² x)``.

    Args:
        kappa: stiffness, eV/Å² (any shape).
        hw_unit: a = ħω per √(eV/Å²), eV, broadcastable (HBAR_OMEGA_UNIT / √m).
        kT: k_B T, eV, broadcastable.

    Returns:
        ``(U, dU/dκ)`` in Å² and Å⁴/eV.
    """
    root = kappa.sqrt()
    x = hw_unit * root / (2 * kT)
    coth = 1.0 / torch.tanh(x)
    u = hw_unit / (2 * root) * coth
    du = -hw_unit / (4 * kappa * root) * (coth + x / torch.sinh(x).square())
    return u, du


def thermal_energy(hw: torch.Tensor, kT: torch.Tensor) -> torch.Tensor:
    """``(ħω/2) coth(ħω / 2k_BT)``, eV: k_B T at high T, ħω/2 at T = 0."""
    return hw / 2 / torch.tanh(hw / (2 * kT))


class _OscillatorTensor(torch.autograd.Function):
    """U = f(K) for symmetric positive definite K (M, 3, 3), f = :func:`oscillator_msd`."""

    @staticmethod
    def forward(ctx, K, hw_unit, kT):
        lam, V = torch.linalg.eigh(K)
        lam = lam.clamp_min(K_FLOOR)
        f, df = oscillator_msd(lam, hw_unit[:, None], kT[:, None])
        ctx.save_for_backward(lam, V, f, df)
        U = (V * f[:, None, :]) @ V.transpose(1, 2)
        return 0.5 * (U + U.transpose(1, 2))

    @staticmethod
    def backward(ctx, grad):
        lam, V, f, df = ctx.saved_tensors
        G = V.transpose(1, 2) @ (0.5 * (grad + grad.transpose(1, 2))) @ V
        diff = lam[:, :, None] - lam[:, None, :]
        close = diff.abs() <= 1e-6 * lam.abs().amax(1, keepdim=True)[:, :, None]
        divided = (f[:, :, None] - f[:, None, :]) / torch.where(close, torch.ones_like(diff), diff)
        mean_slope = 0.5 * (df[:, :, None] + df[:, None, :])
        D = torch.where(close, mean_slope, divided)  # Daleckii–Krein first divided differences
        return V @ (D * G) @ V.transpose(1, 2), None, None


def oscillator_tensor(K: torch.Tensor, mass: torch.Tensor, temperature: torch.Tensor) -> torch.Tensor:
    """Quantum-harmonic ADP tensor of stiffness tensors (module docstring, part 1).

    Args:
        K: (M, 3, 3) symmetric positive definite stiffness, eV/Å².
        mass: (M,) atomic masses, amu.
        temperature: (M,) K.

    Returns:
        (M, 3, 3) U, Å², in the dtype of K (computed in float64).
    """
    hw_unit = HBAR_OMEGA_UNIT / mass.double().sqrt()
    kT = K_B * temperature.double().clamp_min(T_FLOOR)
    return _OscillatorTensor.apply(K.double(), hw_unit, kT).to(K.dtype)


def isotropic_part(X: torch.Tensor) -> torch.Tensor:
    """tr(X)/3 · I for (..., 3, 3) tensors."""
    eye = torch.eye(3, dtype=X.dtype, device=X.device)
    return (X.diagonal(dim1=-2, dim2=-1).sum(-1) / 3)[..., None, None] * eye


def skew(r: torch.Tensor) -> torch.Tensor:
    """(M, 3) vectors → (M, 3, 3) cross-product matrices ``A = [r]×`` (A w = r × w).

    A libration ω moves an atom at r by ω × r = −A ω, so a libration tensor L
    (rad²) gives the displacement tensor A L Aᵀ.
    """
    z = torch.zeros_like(r[:, 0])
    x, y, w = r.unbind(1)
    return torch.stack(
        [torch.stack([z, -w, y], 1), torch.stack([w, z, -x], 1), torch.stack([-y, x, z], 1)], 1
    )


def tls_tensor(T: torch.Tensor, L: torch.Tensor, r: torch.Tensor, isotropic: bool = False) -> torch.Tensor:
    """Rigid-body displacement tensors ``T + A L Aᵀ`` (Schomaker–Trueblood with S = 0).

    Args:
        T: (M, 3, 3) translation tensors, Å².
        L: (M, 3, 3) libration tensors, rad².
        r: (M, 3) atom positions from the centre of libration, Å.
        isotropic: replace ``A L Aᵀ`` by its isotropic part (the no-direction control).

    Returns:
        (M, 3, 3) U, Å²; positive semi-definite when T and L are.
    """
    A = skew(r)
    lib = A @ L @ A.transpose(1, 2)
    return T + (isotropic_part(lib) if isotropic else lib)


def _inverse_softplus(y: float) -> float:
    return math.log(math.expm1(y))


class HarmonicADPHead(nn.Module):
    """Equivariant ADP head on invariant node and edge features (module docstring).

    Args:
        dim: width of the backbone's node and edge features.
        rigid_body: add the TLS rigid-body part for atoms of finite molecules.
        directions: False gives the isotropic control (every outer product replaced by its
            isotropic part).
        initial_stiffness: eV/Å², the isotropic stiffness k_i0 of the untrained head
            (1 eV/Å²: U ≈ 0.017 Å² at 200 K for carbon).
    """

    def __init__(
        self, dim: int, rigid_body: bool = True, directions: bool = True, initial_stiffness: float = 1.0
    ):
        super().__init__()
        self.rigid_body, self.directions = rigid_body, directions
        half = max(dim // 2, 8)
        self.node_k = nn.Sequential(nn.Linear(dim, half), nn.SiLU(), nn.Linear(half, 1))
        self.edge_k = nn.Sequential(nn.Linear(3 * dim, half), nn.SiLU(), nn.Linear(half, 1))
        with torch.no_grad():
            self.node_k[-1].weight.zero_()
            self.node_k[-1].bias.fill_(_inverse_softplus(initial_stiffness))
            self.edge_k[-1].weight.mul_(0.1)
            self.edge_k[-1].bias.fill_(-3.0)
        if rigid_body:
            # per molecule: τ0, λ0, ħω_m; per atom: τ_k, λ_k
            self.mol_out = nn.Sequential(nn.Linear(dim, half), nn.SiLU(), nn.Linear(half, 3))
            self.atom_w = nn.Sequential(nn.Linear(2 * dim, half), nn.SiLU(), nn.Linear(half, 2))
            with torch.no_grad():
                self.mol_out[-1].weight.mul_(0.1)
                # ħω_m = 0.01 eV · softplus(·): 5 meV (40 cm⁻¹) to start, a typical lattice mode
                self.mol_out[-1].bias.copy_(torch.tensor([-1.0, -1.0, _inverse_softplus(0.5)]))
                self.atom_w[-1].weight.mul_(0.1)
                self.atom_w[-1].bias.fill_(-1.0)

    def _outer(self, v: torch.Tensor) -> torch.Tensor:
        X = v[:, :, None] * v[:, None, :]
        return isotropic_part(X) if not self.directions else X

    def forward(
        self,
        h: torch.Tensor,
        e: torch.Tensor,
        env: torch.Tensor,
        batch,
        mass: torch.Tensor,
    ) -> torch.Tensor:
        """U (Å²) of the scored atoms, shape (M, 3, 3).

        Args:
            h: (N, dim) node features (rotation-invariant).
            e: (E, dim) edge features (rotation-invariant).
            env: (E,) envelope values.
            batch: the :class:`~xtalkit.data.graphs.GraphBatch`.
            mass: (N,) atomic masses, amu.
        """
        n = h.shape[0]
        dtype = h.dtype
        src, dst = batch.src, batch.dst
        T_atom = batch.temperature[batch.batch]
        # 1. harmonic part
        k_edge = F.softplus(self.edge_k(torch.cat([h[dst], e, h[src]], 1)))[:, 0] * env
        unit = batch.vec / batch.dist.clamp_min(1e-9)[:, None]
        K = torch.zeros(n, 3, 3, dtype=dtype, device=h.device)
        K = K.index_add_(0, dst, k_edge[:, None, None] * self._outer(unit))
        k0 = F.softplus(self.node_k(h))[:, 0] + K_FLOOR
        K = K + k0[:, None, None] * torch.eye(3, dtype=dtype, device=h.device)
        s = batch.scored
        U = oscillator_tensor(K[s], mass[s], T_atom[s])
        if not self.rigid_body:
            return U
        # 2. rigid-body part (finite molecules only)
        fin = batch.mol_finite
        if not bool(fin.any()):
            return U
        mol = batch.mol
        n_mol = int(mol.max()) + 1
        r = batch.rel.to(dtype)
        count = torch.zeros(n_mol, dtype=dtype, device=h.device).index_add_(0, mol, torch.ones_like(r[:, 0]))
        h_mol = torch.zeros(n_mol, h.shape[1], dtype=dtype, device=h.device).index_add_(0, mol, h)
        h_mol = h_mol / count[:, None]
        m_out = self.mol_out(h_mol)
        tau0, lam0 = F.softplus(m_out[:, 0]), F.softplus(m_out[:, 1])
        hw = 0.01 * F.softplus(m_out[:, 2]) + 1e-4  # eV
        w = F.softplus(self.atom_w(torch.cat([h, h_mol[mol]], 1)))
        r2 = (r * r).sum(1)
        rho2 = torch.zeros(n_mol, dtype=dtype, device=h.device).index_add_(0, mol, r2) + 1.0
        eye = torch.eye(3, dtype=dtype, device=h.device)
        rr = self._outer(r)
        Tm = torch.zeros(n_mol, 3, 3, dtype=dtype, device=h.device).index_add_(
            0, mol, w[:, 0, None, None] * rr
        )
        Tm = Tm / rho2[:, None, None] + tau0[:, None, None] * eye
        inertia = r2[:, None, None] * eye - r[:, :, None] * r[:, None, :]
        Lm = torch.zeros(n_mol, 3, 3, dtype=dtype, device=h.device).index_add_(
            0, mol, w[:, 1, None, None] * inertia
        )
        Lm = Lm / rho2[:, None, None] + lam0[:, None, None] * eye
        # scales: c_T = 1 Å²/eV, c_L = 1 rad²/eV (the network learns the rest)
        phi = thermal_energy(hw[mol], K_B * T_atom.clamp_min(T_FLOOR))
        rigid = phi[:, None, None] * tls_tensor(Tm[mol], Lm[mol], r, isotropic=not self.directions)
        rigid = rigid * fin.to(dtype)[:, None, None]
        rigid = 0.5 * (rigid + rigid.transpose(1, 2))  # exact symmetry in floating point
        return U + rigid[s]
