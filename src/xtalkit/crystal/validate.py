"""Validation at the door: what a structure must satisfy before xtalkit computes on it.

Every reader and converter (CIF, pymatgen, ASE) calls these checks, so that no
later stage — symmetry expansion, the neighbour search, a model — ever sees a
cell that could crash or hang it, a singular symmetry operation, or a
non-finite number. Each check raises :class:`~xtalkit.errors.CrystalError`
with one line saying what is wrong; readers add the file and the block.

The bounds are physical, not statistical, and deliberately generous:

* a cell *height* (the distance between opposite faces, ``V / |b × c|`` etc.)
  below :attr:`CellLimits.min_height` (0.5 Å) is no crystal, and the number of
  periodic images a neighbour search must visit grows as ``(cutoff / height)³``;
* an edge above :attr:`CellLimits.max_length` (500 Å) is beyond any small-molecule
  or inorganic structure and makes cell lists allocate without bound;
* the volume per atom must lie within :attr:`CellLimits.min_volume_per_atom`
  (1 Å³, denser than any solid at ambient pressure: diamond has 5.7 Å³) and
  :attr:`CellLimits.max_volume_per_atom` (10⁴ Å³: atoms that far apart are not
  a condensed phase);
* a symmetry operation ``x' = W x + t`` must have an integer rotation part with
  determinant ±1 and must preserve the metric of the cell (``R = O W O⁻¹``
  orthogonal), otherwise it maps the cell onto a different lattice and the ADPs
  it rotates are meaningless.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from xtalkit.errors import CrystalError

__all__ = [
    "DEFAULT_LIMITS",
    "CellLimits",
    "cell_heights",
    "check_cell",
    "check_crystal",
    "check_symops",
]


@dataclasses.dataclass(frozen=True)
class CellLimits:
    """Physical bounds on a unit cell (see the module docstring for why each is what it is).

    Attributes:
        min_height: smallest distance between opposite cell faces, Å.
        max_length: longest cell edge, Å.
        min_volume_per_atom: Å³ per atom of the full cell.
        max_volume_per_atom: Å³ per atom of the full cell.
        max_atoms: most atoms in the full cell (after symmetry expansion).
        metric_tolerance: largest deviation of ``R Rᵀ`` from the identity accepted
            for a symmetry operation (rounded cell parameters give ~1e-4).
    """

    min_height: float = 0.5
    max_length: float = 500.0
    min_volume_per_atom: float = 1.0
    max_volume_per_atom: float = 1.0e4
    max_atoms: int = 200_000
    metric_tolerance: float = 0.02

    def __post_init__(self) -> None:
        if not 0 < self.min_height < self.max_length:
            raise ValueError("CellLimits: need 0 < min_height < max_length")
        if not 0 < self.min_volume_per_atom < self.max_volume_per_atom:
            raise ValueError("CellLimits: need 0 < min_volume_per_atom < max_volume_per_atom")
        if self.max_atoms < 1 or self.metric_tolerance <= 0:
            raise ValueError("CellLimits: max_atoms must be ≥ 1 and metric_tolerance > 0")


#: The limits every reader uses unless told otherwise.
DEFAULT_LIMITS = CellLimits()


def cell_heights(lattice: np.ndarray) -> np.ndarray:
    """Distances between opposite faces of the cell.

    Args:
        lattice: (3, 3) lattice vectors as rows, Å.

    Returns:
        (3,) heights ``V / |b × c|``, ``V / |c × a|``, ``V / |a × b|`` in Å
        (0 for a degenerate cell).
    """
    a, b, c = np.asarray(lattice, dtype=float)
    volume = abs(float(np.dot(a, np.cross(b, c))))
    areas = np.linalg.norm([np.cross(b, c), np.cross(c, a), np.cross(a, b)], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(areas > 0, volume / areas, 0.0)
    return np.nan_to_num(h, nan=0.0, posinf=0.0)


def check_cell(lattice: np.ndarray, limits: CellLimits = DEFAULT_LIMITS) -> None:
    """Raise unless the lattice is finite, non-degenerate and within ``limits``.

    Args:
        lattice: (3, 3) lattice vectors as rows, Å.
        limits: the bounds.

    Raises:
        CrystalError: naming the offending numbers.
    """
    lat = np.asarray(lattice, dtype=float)
    if lat.shape != (3, 3) or not np.isfinite(lat).all():
        raise CrystalError("lattice vectors must be a finite 3×3 matrix")
    lengths = np.linalg.norm(lat, axis=1)
    if lengths.max() > limits.max_length:
        raise CrystalError(
            "cell edge of {:.4g} Å is above the limit of {:g} Å (a={:.4g} b={:.4g} c={:.4g})".format(
                lengths.max(), limits.max_length, *lengths
            )
        )
    heights = cell_heights(lat)
    if heights.min() < limits.min_height:
        raise CrystalError(
            f"cell is too thin: the distance between opposite faces is {heights.min():.3g} Å, "
            f"below {limits.min_height:g} Å (a={lengths[0]:.4g} b={lengths[1]:.4g} c={lengths[2]:.4g})"
        )


def check_symops(W: np.ndarray, t: np.ndarray, lattice: np.ndarray, ops: list[str] | None = None,
                 limits: CellLimits = DEFAULT_LIMITS) -> None:  # fmt: skip
    """Raise unless every operation is a finite, invertible isometry of the cell.

    Args:
        W: (k, 3, 3) rotation parts (fractional basis).
        t: (k, 3) translation parts.
        lattice: (3, 3) lattice vectors as rows, Å.
        ops: the operations as written, for the message.
        limits: ``metric_tolerance`` is used.

    Raises:
        CrystalError: naming the first bad operation and what is wrong with it.
    """
    from xtalkit.crystal.adp import cartesian_rotation

    W = np.asarray(W, dtype=float)
    t = np.asarray(t, dtype=float)
    for k in range(len(W)):
        name = repr(ops[k]) if ops is not None and k < len(ops) else f"number {k + 1}"
        if not (np.isfinite(W[k]).all() and np.isfinite(t[k]).all()):
            raise CrystalError(f"symmetry operation {name} is not finite")
        if not np.allclose(W[k], np.rint(W[k]), atol=1e-6):
            raise CrystalError(f"symmetry operation {name} has a non-integer rotation part")
        det = float(np.linalg.det(W[k]))
        if abs(abs(det) - 1.0) > 1e-6:
            raise CrystalError(
                f"symmetry operation {name} is not invertible with determinant ±1 (det {det:g})"
            )
        R = cartesian_rotation(W[k], lattice)
        dev = float(np.abs(R @ R.T - np.eye(3)).max())
        if not dev <= limits.metric_tolerance:
            raise CrystalError(
                f"symmetry operation {name} does not preserve the cell metric "
                f"(deviation {dev:.3g}): operations and cell disagree"
            )


def check_crystal(crystal, limits: CellLimits = DEFAULT_LIMITS) -> None:
    """Raise unless a :class:`~xtalkit.crystal.core.Crystal` is safe to compute on.

    Checks the cell (:func:`check_cell`), the atom count, the volume per atom,
    that coordinates are finite, and that displacement tensors are finite where
    they are given (NaN marks "unknown" for a whole tensor only).

    Raises:
        CrystalError: one line, with the crystal's source and block.
    """
    try:
        n = len(crystal)
        if n == 0:
            raise CrystalError("no atoms")
        check_cell(crystal.lattice, limits)
        if n > limits.max_atoms:
            raise CrystalError(f"{n} atoms in the cell, above the limit of {limits.max_atoms}")
        if not np.isfinite(crystal.frac).all():
            raise CrystalError("non-finite fractional coordinates")
        vpa = crystal.volume / n
        if vpa < limits.min_volume_per_atom:
            raise CrystalError(
                f"{vpa:.3g} Å³ per atom ({n} atoms in {crystal.volume:.4g} Å³) is denser than any solid "
                f"(limit {limits.min_volume_per_atom:g} Å³): duplicated atoms or a wrong cell?"
            )
        if vpa > limits.max_volume_per_atom:
            raise CrystalError(
                f"{vpa:.4g} Å³ per atom ({n} atoms in {crystal.volume:.4g} Å³) is above the limit of "
                f"{limits.max_volume_per_atom:g} Å³: atoms that far apart are not a crystal"
            )
        U = crystal.U_cart
        partial = ~np.isfinite(U).all(axis=(1, 2)) & ~np.isnan(U).all(axis=(1, 2))
        if partial.any():
            i = int(np.flatnonzero(partial)[0])
            raise CrystalError(f"site {crystal.labels[i]}: displacement tensor has non-finite components")
    except CrystalError as exc:
        raise exc.located(crystal.source or None, crystal.block or None) from None
