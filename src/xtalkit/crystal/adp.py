r"""Conventions for anisotropic displacement parameters (ADPs).

This module is the only place where ADP conventions are converted. Inside
xtalkit every ADP is a Cartesian tensor ``U_cart`` (Å², symmetric 3×3) in the
same Cartesian frame as the atomic coordinates.

Notation (Grosse-Kunstleve & Adams, *J. Appl. Cryst.* 35, 477 (2002);
Trueblood et al., *Acta Cryst.* A52, 770 (1996)):

* ``lattice``: the 3×3 matrix whose **rows** are the lattice vectors a, b, c
  in Å, so that Cartesian = fractional @ lattice. Its transpose ``O`` is the
  orthogonalization matrix (columns a, b, c).
* ``N = diag(a*, b*, c*)``: lengths of the reciprocal lattice vectors (Å⁻¹,
  without the factor 2π).
* ``U_cif`` (Å²): the ``_atom_site_aniso_U_ij`` of a CIF, defined on the
  basis of unit vectors along the reciprocal axes.
* ``U_star`` (dimensionless): ``U* = N U_cif N``, the tensor in fractional
  coordinates, so that the Debye-Waller factor is exp(-2π² hᵀ U* h).
* ``beta`` (dimensionless): ``β = 2π² U*`` (``_atom_site_aniso_beta_ij``).
* ``B_cif`` (Å²): ``B = 8π² U_cif`` (``_atom_site_aniso_B_ij``).
* ``U_cart`` (Å²): ``U_cart = O U* Oᵀ``.

The equivalent isotropic displacement is ``U_eq = tr(U_cart) / 3`` (Fischer &
Tillmanns 1988), and an isotropic ``U_iso`` is ``U_cart = U_iso · I``.

A symmetry operation with fractional rotation part ``W`` (x' = W x + t) maps
``U* → W U* Wᵀ``, i.e. ``U_cart → R U_cart Rᵀ`` with ``R = O W O⁻¹``.

All functions accept stacks: tensors of shape (..., 3, 3).
"""

from __future__ import annotations

import numpy as np

TWO_PI_SQ = 2.0 * np.pi**2
EIGHT_PI_SQ = 8.0 * np.pi**2

#: Order of the six independent components in CIF loops and in ``to_voigt``.
CIF_COMPONENTS = ("11", "22", "33", "12", "13", "23")
_IDX = ((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2))


def reciprocal_lengths(lattice: np.ndarray) -> np.ndarray:
    """Lengths a*, b*, c* of the reciprocal lattice vectors.

    Args:
        lattice: (3, 3) lattice vectors as rows, Å.

    Returns:
        (3,) reciprocal lengths in Å⁻¹ (no 2π factor).
    """
    lattice = np.asarray(lattice, dtype=float)
    return np.linalg.norm(np.linalg.inv(lattice), axis=0)


def from_components(components: np.ndarray) -> np.ndarray:
    """Build symmetric tensors from the six CIF-ordered components.

    Args:
        components: (..., 6) values ordered 11, 22, 33, 12, 13, 23.

    Returns:
        (..., 3, 3) symmetric tensors.
    """
    c = np.asarray(components, dtype=float)
    out = np.empty((*c.shape[:-1], 3, 3))
    for k, (i, j) in enumerate(_IDX):
        out[..., i, j] = c[..., k]
        out[..., j, i] = c[..., k]
    return out


def to_components(tensors: np.ndarray) -> np.ndarray:
    """Inverse of :func:`from_components`: (..., 3, 3) → (..., 6), order 11, 22, 33, 12, 13, 23."""
    t = np.asarray(tensors, dtype=float)
    return np.stack([t[..., i, j] for i, j in _IDX], axis=-1)


def ucif_to_ustar(U_cif: np.ndarray, lattice: np.ndarray) -> np.ndarray:
    """``U* = N U_cif N`` (Å² → dimensionless)."""
    n = reciprocal_lengths(lattice)
    return np.asarray(U_cif, dtype=float) * np.outer(n, n)


def ustar_to_ucif(U_star: np.ndarray, lattice: np.ndarray) -> np.ndarray:
    """``U_cif = N⁻¹ U* N⁻¹`` (dimensionless → Å²)."""
    n = reciprocal_lengths(lattice)
    return np.asarray(U_star, dtype=float) / np.outer(n, n)


def ustar_to_ucart(U_star: np.ndarray, lattice: np.ndarray) -> np.ndarray:
    """``U_cart = O U* Oᵀ`` with ``O = latticeᵀ`` (dimensionless → Å²)."""
    orth = np.asarray(lattice, dtype=float).T
    return orth @ np.asarray(U_star, dtype=float) @ orth.T


def ucart_to_ustar(U_cart: np.ndarray, lattice: np.ndarray) -> np.ndarray:
    """``U* = O⁻¹ U_cart O⁻ᵀ`` (Å² → dimensionless)."""
    Oinv = np.linalg.inv(np.asarray(lattice, dtype=float).T)
    return Oinv @ np.asarray(U_cart, dtype=float) @ Oinv.T


def ucif_to_ucart(U_cif: np.ndarray, lattice: np.ndarray) -> np.ndarray:
    """CIF-convention U (Å²) to Cartesian U (Å²)."""
    return ustar_to_ucart(ucif_to_ustar(U_cif, lattice), lattice)


def ucart_to_ucif(U_cart: np.ndarray, lattice: np.ndarray) -> np.ndarray:
    """Cartesian U (Å²) to CIF-convention U (Å²)."""
    return ustar_to_ucif(ucart_to_ustar(U_cart, lattice), lattice)


def beta_to_ustar(beta: np.ndarray) -> np.ndarray:
    """``U* = β / (2π²)``."""
    return np.asarray(beta, dtype=float) / TWO_PI_SQ


def ustar_to_beta(U_star: np.ndarray) -> np.ndarray:
    """``β = 2π² U*``."""
    return np.asarray(U_star, dtype=float) * TWO_PI_SQ


def b_to_u(B: np.ndarray) -> np.ndarray:
    """``U = B / (8π²)``; valid for any convention (CIF, Cartesian, isotropic)."""
    return np.asarray(B, dtype=float) / EIGHT_PI_SQ


def u_to_b(U: np.ndarray) -> np.ndarray:
    """``B = 8π² U``; valid for any convention (CIF, Cartesian, isotropic)."""
    return np.asarray(U, dtype=float) * EIGHT_PI_SQ


def uiso_to_ucart(U_iso: np.ndarray | float) -> np.ndarray:
    """Isotropic U (Å², shape (...)) to Cartesian tensors ``U_iso · I`` (..., 3, 3)."""
    u = np.asarray(U_iso, dtype=float)
    return u[..., None, None] * np.eye(3)


def u_equiv(U_cart: np.ndarray) -> np.ndarray:
    """Equivalent isotropic displacement ``U_eq = tr(U_cart)/3`` (Å²), shape (...)."""
    return np.trace(np.asarray(U_cart, dtype=float), axis1=-2, axis2=-1) / 3.0


def cartesian_rotation(W: np.ndarray, lattice: np.ndarray) -> np.ndarray:
    """Cartesian matrix ``R = O W O⁻¹`` of a fractional rotation ``W`` (x' = W x + t).

    Args:
        W: (..., 3, 3) rotation parts of symmetry operations in fractional coordinates.
        lattice: (3, 3) lattice vectors as rows, Å.

    Returns:
        (..., 3, 3) Cartesian matrices (orthogonal when W is a symmetry of the lattice).
    """
    orth = np.asarray(lattice, dtype=float).T
    return orth @ np.asarray(W, dtype=float) @ np.linalg.inv(orth)


def rotate(U_cart: np.ndarray, R: np.ndarray) -> np.ndarray:
    """``R U Rᵀ`` for stacks of tensors and rotations (broadcasting)."""
    R = np.asarray(R, dtype=float)
    return R @ np.asarray(U_cart, dtype=float) @ np.swapaxes(R, -1, -2)


def eigenvalues(U_cart: np.ndarray) -> np.ndarray:
    """Ascending eigenvalues (Å²) of symmetric tensors, shape (..., 3)."""
    return np.linalg.eigvalsh(np.asarray(U_cart, dtype=float))


def is_positive_definite(U_cart: np.ndarray, tol: float = 0.0) -> np.ndarray:
    """Whether every eigenvalue is greater than ``tol`` (Å²); NaN tensors give False."""
    U = np.asarray(U_cart, dtype=float)
    finite = np.isfinite(U).all(axis=(-2, -1))
    safe = np.where(finite[..., None, None], U, np.eye(3))
    return finite & (eigenvalues(safe)[..., 0] > tol)


#: Eigenvalues (Å²) a displacement tensor of an atom in a crystal can physically have:
#: below 1e-4 Å² (an r.m.s. displacement of 0.01 Å) even zero-point motion of the heaviest
#: atoms is larger; above 0.5 Å² (0.7 Å r.m.s.) an atom is no longer at a site.
PLAUSIBLE_EIGENVALUES = (1.0e-4, 0.5)


def implausible(U_cart: np.ndarray, bounds: tuple[float, float] = PLAUSIBLE_EIGENVALUES) -> np.ndarray:
    """Whether a known tensor has an eigenvalue outside ``bounds`` (Å²); NaN tensors give False.

    Args:
        U_cart: (..., 3, 3) tensors, Å².
        bounds: (lowest, highest) plausible eigenvalue, Å².

    Returns:
        (...,) boolean mask.
    """
    U = np.asarray(U_cart, dtype=float)
    finite = np.isfinite(U).all(axis=(-2, -1))
    safe = np.where(finite[..., None, None], U, np.eye(3) * bounds[0] * 2)
    ev = eigenvalues(0.5 * (safe + np.swapaxes(safe, -1, -2)))
    return finite & ((ev[..., 0] < bounds[0]) | (ev[..., -1] > bounds[1]))
