"""Supercells: lattice points of a supercell and Site-Net's pseudo-cubic supercell.

Site-Net (paper §2.1, SI S1) expands the primitive P1 cell into the largest
roughly cubic supercell with at most N atoms. The SI algorithm (as in the
authors' reference implementation), for a basis with rows a, b, c:

1. RQ-decompose the lattice, ``L = R Q`` (R upper triangular, Q orthogonal).
   ``S = diag(R⁻¹)⁻¹ R⁻¹`` is a unit upper-triangular shear with
   ``S L = diag(R) Q``: an orthorhombic cell with edges |R_ii|.
2. Starting from increments ``m = (1, 1, 1)``, repeatedly add 1 to the increment
   of the currently shortest scaled edge ``m_i |R_ii|`` while ``n · Π m ≤ N``;
   stop at the first increment that would exceed N.
3. The integer supercell matrix is ``P = round(diag(m) S)``. P is upper
   triangular with diagonal m, so ``det P = Π m`` exactly.

``reduce=False`` runs exactly that. By default (``reduce=True``) we run it on
the Niggli-reduced basis in each of the six axis orders, round each
off-diagonal entry down or up (eight choices), and keep the candidate with the
most atoms, then the smallest largest deviation of a cell angle from 90°. The
determinant is still the product of the increments of the chosen candidate.
Rounding is what bends the angles when the increments are small; the reduced
basis and the choice of axis order make that error several times smaller on
oblique cells (a triclinic 12-atom cell at N = 500: 11.5° → 6.5°). When N
allows only ~10 copies of a very oblique cell, angles can still be 10-15° off.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import scipy.linalg

from xtalkit.crystal.core import lattice_points_in_supercell  # noqa: F401 (part of this module's API)


def cell_angles(lattice: np.ndarray) -> np.ndarray:
    """(α, β, γ) in degrees of a lattice given as rows."""
    a, b, c = np.asarray(lattice, dtype=float)

    def ang(u: np.ndarray, v: np.ndarray) -> float:
        return float(np.degrees(np.arccos(np.clip(u @ v / np.linalg.norm(u) / np.linalg.norm(v), -1, 1))))

    return np.array([ang(b, c), ang(a, c), ang(a, b)])


def sitenet_increments(
    lattice: np.ndarray, n_atoms: int, max_atoms: int = 500
) -> tuple[np.ndarray, np.ndarray]:
    """Steps 1-2 of the Site-Net algorithm: the shear ``S`` and the increments ``m``.

    Returns:
        ``(S, m)``: (3, 3) unit upper-triangular float shear and (3,) int increments.
    """
    L = np.asarray(lattice, dtype=float)
    R, _Q = scipy.linalg.rq(L)
    R1 = np.linalg.inv(R)
    S = R1 / np.diag(R1)[:, None]  # diag(R1)^-1 @ R1
    edges = np.abs(np.diag(R))
    m = np.ones(3, dtype=np.int64)
    while True:
        k = int(np.argmin(m * edges))
        trial = m.copy()
        trial[k] += 1
        if int(np.prod(trial)) * n_atoms > max_atoms:
            return S, m
        m = trial


@dataclasses.dataclass(frozen=True)
class SitenetSupercell:
    """Result of :func:`sitenet_supercell`.

    Attributes:
        matrix: (3, 3) int64 P with supercell lattice ``P @ lattice`` and det P > 0.
        increments: (3,) the m of the chosen basis; ``det P = Π m``.
        max_angle_deviation: largest |angle − 90°| of the supercell, degrees.
    """

    matrix: np.ndarray
    increments: np.ndarray
    max_angle_deviation: float

    @property
    def n_cells(self) -> int:
        """Number of copies of the cell, ``det P``."""
        return int(np.prod(self.increments))


def _round_shear(L: np.ndarray, S: np.ndarray, m: np.ndarray, plain: bool) -> tuple[np.ndarray, float]:
    target = np.diag(m).astype(float) @ S
    upper = [(0, 1), (0, 2), (1, 2)]
    if plain:
        P = np.rint(target)
        return P, float(np.abs(cell_angles(P @ L) - 90.0).max())
    best, best_score = None, np.inf
    choices = [sorted({np.floor(target[i, j]), np.ceil(target[i, j])}) for i, j in upper]
    for combo in itertools.product(*choices):
        P = np.diag(m).astype(float)
        for (i, j), v in zip(upper, combo, strict=True):
            P[i, j] = v
        score = float(np.abs(cell_angles(P @ L) - 90.0).max())
        if score < best_score - 1e-9:
            best, best_score = P, score
    return best, best_score


def sitenet_supercell(
    lattice: np.ndarray, n_atoms: int, max_atoms: int = 500, *, reduce: bool = True
) -> SitenetSupercell:
    """Site-Net's pseudo-cubic supercell with at most ``max_atoms`` atoms (module docstring).

    Args:
        lattice: (3, 3) lattice vectors as rows, Å (the primitive P1 cell).
        n_atoms: atoms in that cell.
        max_atoms: N, the atom budget of the supercell.
        reduce: search the Niggli-reduced basis in all axis orders (default), or
            run the SI algorithm exactly on the given basis.

    Returns:
        The chosen :class:`SitenetSupercell`. When the cell alone already has
        more than ``max_atoms`` atoms, P is the identity (the cell is used as
        it is, as in the paper).
    """
    from xtalkit.geometry.matrices import reduced_basis

    if n_atoms < 1:
        raise ValueError("n_atoms must be at least 1")
    L = np.asarray(lattice, dtype=float)
    if not reduce:
        S, m = sitenet_increments(L, n_atoms, max_atoms)
        P, dev = _round_shear(L, S, m, plain=True)
        return SitenetSupercell(np.rint(P).astype(np.int64), m, dev)
    _Lr, T = reduced_basis(L)
    candidates = []
    for perm in itertools.permutations(range(3)):
        B = np.eye(3)[list(perm)] @ T  # basis rows in terms of the input lattice
        if np.linalg.det(B) < 0:
            B = -B  # keep the basis right-handed (inversion maps the lattice onto itself)
        Lb = B @ L
        S, m = sitenet_increments(Lb, n_atoms, max_atoms)
        P, dev = _round_shear(Lb, S, m, plain=False)
        candidates.append((-int(np.prod(m)), dev, perm, np.rint(P @ B).astype(np.int64), m))
    _, dev, _, P, m = min(candidates, key=lambda c: (c[0], round(c[1], 9), c[2]))
    if int(np.prod(m)) == 1:  # one copy: keep the cell as given rather than a re-chosen basis
        return SitenetSupercell(np.eye(3, dtype=np.int64), m, float(np.abs(cell_angles(L) - 90).max()))
    return SitenetSupercell(P, m, dev)


def sitenet_supercell_matrix(lattice: np.ndarray, n_atoms: int, max_atoms: int = 500) -> np.ndarray:
    """Integer matrix P of Site-Net's pseudo-cubic supercell (see :func:`sitenet_supercell`).

    Returns:
        (3, 3) int64 matrix, supercell lattice ``P @ lattice``, ``det P > 0`` and
        ``n_atoms · det P ≤ max_atoms`` (identity if the cell alone is too big).
    """
    return sitenet_supercell(lattice, n_atoms, max_atoms).matrix
