"""Making ADPs consistent with the crystal's space-group symmetry.

Predicted (or hand-edited) tensors of symmetry-equivalent atoms need not be
exactly related by the symmetry operations. :func:`symmetrize_adps` replaces
them by the symmetry-consistent tensors closest to them in the least-squares
sense: for each asymmetric-unit site, the average over every operation g of
``R_g⁻¹ U(g·x) R_g⁻ᵀ`` (the group average, which also makes the tensor
invariant under the site's own symmetry), then ``U(g·x) = R_g U R_gᵀ``.
Positions are not changed. Traces are preserved when the operations are
orthogonal in the Cartesian frame.
"""

from __future__ import annotations

import numpy as np

from xtalkit.crystal import adp
from xtalkit.crystal.core import Crystal
from xtalkit.crystal.symmetry import min_image_frac_diff, ops_to_arrays


def _image_map(crystal: Crystal, W: np.ndarray, t: np.ndarray, rep: int, members: np.ndarray) -> np.ndarray:
    """For every operation, the member atom it maps the representative onto."""
    img = np.einsum("kij,j->ki", W, crystal.frac[rep]) + t  # (k, 3)
    d = min_image_frac_diff(img[:, None, :] - crystal.frac[members][None, :, :], crystal.lattice)
    dist = np.linalg.norm(d @ crystal.lattice, axis=-1)  # (k, m)
    return members[np.argmin(dist, axis=1)]


def symmetrize_adps(crystal: Crystal) -> Crystal:
    """A copy whose ADPs are exactly consistent with ``crystal.symops`` (see module docstring)."""
    if len(crystal.symops) <= 1:
        return crystal.replace()
    W, t = ops_to_arrays(crystal.symops)
    R = adp.cartesian_rotation(W, crystal.lattice)
    Rinv = np.linalg.inv(R)
    U = crystal.U_cart.copy()
    for a in np.unique(crystal.asym_index):
        members = np.flatnonzero(crystal.asym_index == a)
        if not np.isfinite(U[members]).all():
            continue
        rep = members[0]
        target = _image_map(crystal, W, t, rep, members)
        mean = adp.rotate(U[target], Rinv).mean(axis=0)
        mean = 0.5 * (mean + mean.T)
        for k, m in enumerate(target):
            U[m] = adp.rotate(mean, R[k])
    return crystal.replace(U_cart=U)


def asymmetric_unit_adps(crystal: Crystal) -> tuple[np.ndarray, np.ndarray]:
    """Index of the representative atom of each asymmetric-unit site and its symmetrized tensor."""
    sym = symmetrize_adps(crystal)
    reps = np.array([np.flatnonzero(crystal.asym_index == a)[0] for a in np.unique(crystal.asym_index)])
    return reps, sym.U_cart[reps]
