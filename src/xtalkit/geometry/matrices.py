"""Minimum-image distance matrices and Coulomb matrices.

Minimum image: the distance between atoms i and j is the shortest distance
between i and any periodic image of j. It is found exactly by working in the
Niggli-reduced basis (spglib), wrapping fractional differences into
[-0.5, 0.5) and searching the 27 neighbouring images; for a reduced basis the
closest image is always among them.
"""

from __future__ import annotations

import warnings

import numpy as np
import spglib

_IMAGES = np.stack(np.meshgrid(*(np.arange(-1, 2),) * 3, indexing="ij"), -1).reshape(-1, 3)


def reduced_basis(lattice: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Niggli-reduced lattice and the integer matrix T with ``reduced = T @ lattice``."""
    L = np.asarray(lattice, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # spglib's error-handling notice
        try:
            red = spglib.niggli_reduce(L)
        except Exception:  # spglib raises on failure when its new error handling is on
            red = None
    if red is None:
        return L.copy(), np.eye(3, dtype=np.int64)
    T = np.rint(red @ np.linalg.inv(L)).astype(np.int64)
    return T @ L, T


def distance_matrix(
    lattice: np.ndarray,
    frac_a: np.ndarray,
    frac_b: np.ndarray | None = None,
    *,
    max_chunk: int = 2_000_000,
) -> np.ndarray:
    """Minimum-image distances between two sets of atoms in one periodic cell.

    Args:
        lattice: (3, 3) lattice vectors as rows, Å.
        frac_a: (na, 3) fractional coordinates.
        frac_b: (nb, 3) fractional coordinates; ``frac_a`` if None.
        max_chunk: Largest number of (pair × image) candidates held at once.

    Returns:
        (na, nb) distances, Å. Entry (i, i) of a square matrix is 0.
    """
    L, T = reduced_basis(lattice)
    Tinv = np.linalg.inv(T)
    fa = np.asarray(frac_a, dtype=float).reshape(-1, 3) @ Tinv
    fb = fa if frac_b is None else np.asarray(frac_b, dtype=float).reshape(-1, 3) @ Tinv
    na, nb = len(fa), len(fb)
    out = np.empty((na, nb))
    img_cart = _IMAGES @ L  # (27, 3)
    rows = max(1, max_chunk // max(1, nb * len(_IMAGES)))
    for s in range(0, na, rows):
        d = fb[None, :, :] - fa[s : s + rows, None, :]
        d -= np.rint(d)
        cart = d @ L  # (r, nb, 3)
        cand = cart[:, :, None, :] + img_cart  # (r, nb, 27, 3)
        out[s : s + rows] = np.sqrt(np.einsum("abki,abki->abk", cand, cand).min(axis=-1))
    return out


def coulomb_matrix(numbers_a: np.ndarray, numbers_b: np.ndarray, distances: np.ndarray) -> np.ndarray:
    """Coulomb matrix (Rupp et al. 2012) from minimum-image distances.

    ``C_ij = Z_i Z_j / d_ij`` (Å⁻¹ in units of e²) for distinct atoms and
    ``C_ii = 0.5 Z_i^2.4`` where ``d_ij = 0`` (an atom with itself, e.g. a
    unique site and its own copy in a supercell).

    Args:
        numbers_a: (na,) atomic numbers of the rows.
        numbers_b: (nb,) atomic numbers of the columns.
        distances: (na, nb) distances, Å.

    Returns:
        (na, nb) Coulomb matrix.
    """
    za = np.asarray(numbers_a, dtype=float)[:, None]
    zb = np.asarray(numbers_b, dtype=float)[None, :]
    d = np.asarray(distances, dtype=float)
    self_pair = d < 1e-8
    if (self_pair & (za != zb)).any():
        raise ValueError("two different elements at zero distance")
    with np.errstate(divide="ignore"):
        c = np.where(self_pair, 0.5 * za**2.4, za * zb / np.where(self_pair, 1.0, d))
    return c
