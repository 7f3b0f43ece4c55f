r"""Metrics between anisotropic displacement tensors (CartNet §5.2.3, SI S3).

All functions take Cartesian tensors ``U`` (Å², symmetric positive definite)
of shape (3, 3) or stacks (n, 3, 3), compare them pair by pair and return
per-pair values (reduce with ``np.mean``). Non-positive-definite or non-finite
input raises ``ValueError``: a metric never returns a sentinel value.

* :func:`mae` — mean absolute error over the nine entries, Å².
* :func:`s12` — similarity index of Whitten & Spackman, *Acta Cryst.* B62,
  875 (2006), in %: ``S12 = 100 (1 − R12)`` with the overlap
  ``R12 = 2^{3/2} det(U1⁻¹ U2⁻¹)^{1/4} / det(U1⁻¹ + U2⁻¹)^{1/2}``.
  0 for identical tensors.
* :func:`iou_voxel` — the SI's reference intersection-over-union: both
  tensors divided by the larger of their Frobenius norms, the cube [−1, 1]³
  cut into 64³ voxels, a voxel centre x inside an ellipsoid when its
  Mahalanobis distance ``sqrt(xᵀ U⁻¹ x) ≤ 1``.
* :func:`iou` — our fast IoU of the same ellipsoids (``xᵀ U⁻¹ x ≤ 1``), by
  quadrature instead of voxels; see its docstring. It agrees with the voxel
  reference to well within 0.5 IoU points and is > 50× faster
  (``benchmarks/iou_speed.py``).
* :func:`ellipsoid_volume` and :func:`volume_relative_error` — the volume
  ``(4/3) π sqrt(det U)`` of the ellipsoid ``xᵀ U⁻¹ x ≤ 1`` (semi-axes are the
  r.m.s. displacements along the principal axes), Å³.
* :func:`anisotropy` and :func:`shape_iou` — diagnostics that split an error
  into size and shape: the eigenvalue ratio ``λmax/λmin`` (1 for a sphere),
  and the IoU after the prediction is rescaled to the true ``U_eq`` (the IoU
  that size errors cannot explain; an isotropic prediction gets exactly what
  the sphere of the true ``U_eq`` gets).
* :func:`ueq_ratio` — predicted over true ``U_eq`` (size calibration).
* :func:`rigid_bond_delta` — Hirshfeld's rigid-bond quantity for atom pairs,
  ``|ûᵀ U_a û − ûᵀ U_b û|`` along the unit vector û joining them, Å²
  (Hirshfeld, *Acta Cryst.* A32, 239 (1976)); near zero for bonded atoms
  that move as a rigid unit, typically < 0.001 Å² in good refinements.

The IoU is invariant under any common linear map of the two ellipsoids, so
it does not depend on the ellipsoid scale (the 50 % probability surface of
ORTEP plots gives the same IoU as the 1σ surface used here).
"""

from __future__ import annotations

import numpy as np


def _as_stack(U: np.ndarray, name: str) -> np.ndarray:
    U = np.asarray(U, dtype=float)
    if U.shape[-2:] != (3, 3):
        raise ValueError(f"{name} must have shape (..., 3, 3), got {U.shape}")
    U = U.reshape(-1, 3, 3)
    if not np.isfinite(U).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return U


def _check_pd(U: np.ndarray, name: str) -> np.ndarray:
    ev = np.linalg.eigvalsh(0.5 * (U + np.swapaxes(U, -1, -2)))
    if (ev[:, 0] <= 0).any():
        k = int(np.flatnonzero(ev[:, 0] <= 0)[0])
        raise ValueError(f"{name}[{k}] is not positive definite (smallest eigenvalue {ev[k, 0]:.3g})")
    return ev


def _pair(U1: np.ndarray, U2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = _as_stack(U1, "U1"), _as_stack(U2, "U2")
    if a.shape != b.shape:
        if len(a) == 1:
            a = np.broadcast_to(a, b.shape)
        elif len(b) == 1:
            b = np.broadcast_to(b, a.shape)
        else:
            raise ValueError(f"U1 and U2 hold {len(a)} and {len(b)} tensors")
    return a, b


def mae(U_pred: np.ndarray, U_true: np.ndarray) -> np.ndarray:
    """Mean absolute error over the nine entries of each pair, Å²; shape (n,)."""
    a, b = _pair(U_pred, U_true)
    return np.abs(a - b).mean(axis=(1, 2))


def s12(U1: np.ndarray, U2: np.ndarray) -> np.ndarray:
    """Similarity index S12 in % of each pair (0 = identical); shape (n,).

    Raises:
        ValueError: if a tensor is not positive definite.
    """
    a, b = _pair(U1, U2)
    _check_pd(a, "U1")
    _check_pd(b, "U2")
    ia, ib = np.linalg.inv(a), np.linalg.inv(b)
    num = 2.0**1.5 * (np.linalg.det(ia) * np.linalg.det(ib)) ** 0.25
    den = np.sqrt(np.linalg.det(ia + ib))
    return 100.0 * (1.0 - num / den)


def ellipsoid_volume(U: np.ndarray) -> np.ndarray:
    """Volume ``(4/3) π sqrt(det U)`` of the ellipsoid ``xᵀ U⁻¹ x ≤ 1``, Å³; shape (n,)."""
    a = _as_stack(U, "U")
    _check_pd(a, "U")
    return 4.0 / 3.0 * np.pi * np.sqrt(np.linalg.det(a))


def volume_relative_error(U_pred: np.ndarray, U_true: np.ndarray) -> np.ndarray:
    """``|V_pred − V_true| / V_true`` of each pair (dimensionless); shape (n,)."""
    a, b = _pair(U_pred, U_true)
    vp, vt = ellipsoid_volume(a), ellipsoid_volume(b)
    return np.abs(vp - vt) / vt


def anisotropy(U: np.ndarray) -> np.ndarray:
    """Eigenvalue ratio ``λmax/λmin`` of each tensor (dimensionless, ≥ 1); shape (n,)."""
    a = _as_stack(U, "U")
    lam = _check_pd(a, "U")
    return lam[:, -1] / lam[:, 0]


def shape_iou(U_pred: np.ndarray, U_true: np.ndarray) -> np.ndarray:
    """:func:`iou` of ``U_pred · U_eq(true)/U_eq(pred)`` and ``U_true``; shape (n,), in [0, 1].

    Invariant to the scale of ``U_pred``, so it measures orientation and shape only.
    """
    a, b = _pair(U_pred, U_true)
    scale = np.trace(b, axis1=1, axis2=2) / np.trace(a, axis1=1, axis2=2)
    return iou(a * scale[:, None, None], b)


_VOXEL_CACHE: dict[int, np.ndarray] = {}


def ueq_ratio(U_pred: np.ndarray, U_true: np.ndarray) -> np.ndarray:
    """``U_eq(pred) / U_eq(true)`` per pair (U_eq = tr U / 3); 1 for a right-sized prediction."""
    a, b = _pair(U_pred, U_true)
    return np.trace(a, axis1=1, axis2=2) / np.trace(b, axis1=1, axis2=2)


def rigid_bond_delta(U_a: np.ndarray, U_b: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Hirshfeld's ``|ûᵀ U_a û − ûᵀ U_b û|`` for pairs of atoms a, b, Å² (module docstring).

    Args:
        U_a: (n, 3, 3) tensors of the first atoms, Å².
        U_b: (n, 3, 3) tensors of the second atoms, Å².
        vectors: (n, 3) vectors from a to b (any length > 0), Å.
    """
    a, b = _pair(U_a, U_b)
    v = np.asarray(vectors, float).reshape(-1, 3)
    if len(v) != len(a):
        raise ValueError(f"{len(v)} vectors for {len(a)} pairs of tensors")
    norm = np.linalg.norm(v, axis=1)
    if not (norm > 0).all():
        raise ValueError("a pair vector has zero length")
    u = v / norm[:, None]
    return np.abs(np.einsum("ni,nij,nj->n", u, a, u) - np.einsum("ni,nij,nj->n", u, b, u))


def _voxel_centres(grid: int) -> np.ndarray:
    if grid not in _VOXEL_CACHE:
        c = (np.arange(grid) + 0.5) / grid * 2.0 - 1.0
        x, y, z = np.meshgrid(c, c, c, indexing="ij")
        _VOXEL_CACHE[grid] = np.stack([x.ravel(), y.ravel(), z.ravel()])  # (3, grid³)
    return _VOXEL_CACHE[grid]


def iou_voxel(U1: np.ndarray, U2: np.ndarray, grid: int = 64) -> np.ndarray:
    """Reference IoU by voxelization (CartNet SI S3); shape (n,), in [0, 1].

    Both tensors are divided by ``max(‖U1‖_F, ‖U2‖_F)`` so that both ellipsoids
    lie inside [−1, 1]³, which is cut into ``grid³`` voxels; a voxel belongs to
    an ellipsoid when its centre x has ``xᵀ U_norm⁻¹ x ≤ 1``.
    """
    a, b = _pair(U1, U2)
    _check_pd(a, "U1")
    _check_pd(b, "U2")
    X = _voxel_centres(grid)
    # the six distinct products of coordinates, reused for every pair
    prods = np.stack(
        [X[0] * X[0], X[1] * X[1], X[2] * X[2], 2 * X[0] * X[1], 2 * X[0] * X[2], 2 * X[1] * X[2]]
    )
    out = np.empty(len(a))
    for k in range(len(a)):
        scale = max(np.linalg.norm(a[k]), np.linalg.norm(b[k]))
        inside = []
        for U in (a[k], b[k]):
            A = np.linalg.inv(U / scale)
            coef = np.array([A[0, 0], A[1, 1], A[2, 2], A[0, 1], A[0, 2], A[1, 2]])
            inside.append(coef @ prods <= 1.0)
        inter = np.count_nonzero(inside[0] & inside[1])
        union = np.count_nonzero(inside[0] | inside[1])
        out[k] = inter / union
    return out


def _octant_quadrature(n_theta: int, n_phi: int) -> tuple[np.ndarray, np.ndarray]:
    """Directions and weights integrating over the first octant of the unit sphere.

    Gauss-Legendre in cos θ ∈ [0, 1] times Gauss-Legendre in φ ∈ [0, π/2];
    the weights sum to the octant's solid angle π/2.
    """
    xt, wt = np.polynomial.legendre.leggauss(n_theta)
    xp, wp = np.polynomial.legendre.leggauss(n_phi)
    cos_t, w_t = 0.5 * (xt + 1.0), 0.5 * wt
    phi, w_p = 0.25 * np.pi * (xp + 1.0), 0.25 * np.pi * wp
    sin_t = np.sqrt(1.0 - cos_t**2)
    d = np.stack(
        [
            (sin_t[:, None] * np.cos(phi)[None]).ravel(),
            (sin_t[:, None] * np.sin(phi)[None]).ravel(),
            np.repeat(cos_t, n_phi),
        ]
    )  # (3, n_theta·n_phi)
    return d**2, np.outer(w_t, w_p).ravel()


_QUAD = _octant_quadrature(16, 16)


def iou(U1: np.ndarray, U2: np.ndarray) -> np.ndarray:
    """Fast IoU of the ellipsoids ``xᵀ U⁻¹ x ≤ 1`` of each pair; shape (n,), in [0, 1].

    Method. IoU is unchanged by a linear map applied to both ellipsoids. With
    ``W = U1^{-1/2}`` the first becomes the unit ball and the second the
    ellipsoid of ``M = W U2 W``, which we rotate to its eigenbasis, ``M =
    diag(m)``. Both are star-shaped about the origin, so the intersection
    volume is ``(1/3) ∮ min(1, ρ(ω))³ dω`` with ``ρ(ω)⁻² = Σ_k ω_k² / m_k``
    the radius of the second ellipsoid in direction ω. The integrand is even
    in every coordinate, so one octant (×8) is integrated with a 16 × 16
    Gauss-Legendre product rule in (cos θ, φ). Volumes are ``4π/3`` and
    ``4π/3 · sqrt(det M)``. Cost: two 3×3 eigenproblems and 256 directions
    per pair, against 262,144 voxels for :func:`iou_voxel`. Measured on 4,000
    realistic pairs against a 200 × 200 rule: mean error 0.016 IoU points,
    largest 0.1 (the voxel reference itself is off by 0.07 on average, 0.4 at
    most).
    """
    a, b = _pair(U1, U2)
    _check_pd(a, "U1")
    _check_pd(b, "U2")
    # W = U1^{-1/2} from the eigendecomposition of U1
    lam, vec = np.linalg.eigh(0.5 * (a + np.swapaxes(a, -1, -2)))
    W = vec @ (vec / np.sqrt(lam)[:, None, :]).swapaxes(-1, -2)
    M = W @ b @ W
    m = np.linalg.eigvalsh(0.5 * (M + np.swapaxes(M, -1, -2)))  # (n, 3)
    d2, w = _QUAD
    inv_rho2 = (1.0 / m) @ d2  # (n, n_dirs)
    rho3 = inv_rho2**-1.5
    inter = 8.0 / 3.0 * (np.minimum(1.0, rho3) @ w)
    v1 = 4.0 * np.pi / 3.0
    v2 = v1 * np.sqrt(np.prod(m, axis=1))
    return np.clip(inter / (v1 + v2 - inter), 0.0, 1.0)
