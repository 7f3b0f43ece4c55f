"""Crystal structure prediction metrics of AlphaCrystal-II (preprint §2.5, eqs. 2-4).

Distance-matrix metrics compare a predicted and a true (12 × 12 padded) distance
matrix over a pair mask; structure metrics compare a predicted and a target
structure (pymatgen ``Structure`` or xtalkit ``Crystal``). Every function
returns a number or raises :class:`~xtalkit.errors.XtalkitError` — no
sentinel values (CSPBenchMetrics, the paper's reference [48], returns 5555 or
9999 where a metric is undefined).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
from scipy.optimize import linear_sum_assignment

from xtalkit.csp.encoding import _as_structure, pair_mask, structure_arrays
from xtalkit.errors import XtalkitError

CONTACT_THRESHOLD = 8.0
"""Å, distance below which a pair counts as present in a distance map (§2.5)."""

MATCH_TOLERANCES = {"ltol": 0.3, "stol": 0.5, "angle_tol": 10.0}
"""Default StructureMatcher tolerances (the CSP match-rate convention of CDVAE/DiffCSP)."""


def _pairs(
    predicted: np.ndarray, target: np.ndarray, mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(predicted, dtype=float)
    t = np.asarray(target, dtype=float)
    if p.shape != t.shape or p.ndim < 2 or p.shape[-1] != p.shape[-2]:
        raise XtalkitError(
            f"distance matrices must be square and of equal shape, got {p.shape} and {t.shape}"
        )
    if mask is None:
        m = np.broadcast_to(~np.eye(p.shape[-1], dtype=bool), p.shape)
    else:
        m = np.asarray(mask, dtype=bool)
        if m.shape == p.shape[:-1]:  # an atom mask
            m = pair_mask(m)
        if m.shape != p.shape:
            raise XtalkitError(f"mask shape {m.shape} does not fit distance matrices of shape {p.shape}")
    if not m.any():
        raise XtalkitError("no valid atom pair to compare")
    pv, tv = p[m], t[m]
    if not (np.isfinite(pv).all() and np.isfinite(tv).all()):
        raise XtalkitError("distance matrices contain non-finite values in valid pairs")
    return pv, tv


def distance_matrix_mse(predicted: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean squared error of distances over valid pairs (Table 5 "MSE"), Å².

    Args:
        predicted: (..., L, L) predicted distances, Å.
        target: (..., L, L) true distances, Å.
        mask: (..., L, L) pair mask, or (..., L) atom mask (pairs of present
            atoms, i ≠ j); None: all off-diagonal pairs.

    Raises:
        XtalkitError: shape mismatch, no valid pair, non-finite values.
    """
    p, t = _pairs(predicted, target, mask)
    return float(np.mean((p - t) ** 2))


def distance_matrix_rmse(predicted: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Root mean squared error of distances over valid pairs (Table 5 "RMSE"), Å. Args as MSE."""
    return float(np.sqrt(distance_matrix_mse(predicted, target, mask)))


def distance_map_overlap(
    predicted: np.ndarray,
    target: np.ndarray,
    mask: np.ndarray | None = None,
    threshold: float = CONTACT_THRESHOLD,
) -> float:
    """Distance-map overlap, eq. 4.

    Both matrices are binarized, 1 where ``d ≤ threshold`` (a pair "exists" in
    the map), and the overlap is ``|T ∩ P| / |T|``: the fraction of the target
    map's 1-entries that are also 1 in the predicted map. As in the paper this
    is a recall: a prediction that puts every pair below the threshold scores 1.

    Args:
        predicted: (..., L, L) predicted distances, Å.
        target: (..., L, L) true distances, Å.
        mask: as :func:`distance_matrix_mse`.
        threshold: Å (paper: 8).

    Returns:
        A number in [0, 1].

    Raises:
        XtalkitError: as MSE, or when the target map has no pair within the threshold.
    """
    p, t = _pairs(predicted, target, mask)
    tm, pm = t <= threshold, p <= threshold
    if not tm.any():
        raise XtalkitError(f"the target map has no pair within {threshold} Å; eq. 4 is undefined")
    return float((tm & pm).sum() / tm.sum())


def _matcher(ltol: float, stol: float, angle_tol: float, primitive_cell: bool = True):
    try:
        from pymatgen.core.structure_matcher import StructureMatcher
    except ImportError:  # pymatgen < 2025
        from pymatgen.analysis.structure_matcher import StructureMatcher
    return StructureMatcher(ltol=ltol, stol=stol, angle_tol=angle_tol, primitive_cell=primitive_cell)


def structure_match(
    predicted,
    target,
    *,
    ltol: float = MATCH_TOLERANCES["ltol"],
    stol: float = MATCH_TOLERANCES["stol"],
    angle_tol: float = MATCH_TOLERANCES["angle_tol"],
) -> bool:
    """Whether pymatgen's ``StructureMatcher`` finds the two structures equal.

    Args:
        predicted: Structure or Crystal.
        target: Structure or Crystal.
        ltol: Fractional length tolerance.
        stol: Site tolerance, in units of (V/n)^(1/3).
        angle_tol: Degrees.
    """
    return bool(_matcher(ltol, stol, angle_tol).fit(_as_structure(target), _as_structure(predicted)))


def structure_rms(
    predicted,
    target,
    *,
    ltol: float = MATCH_TOLERANCES["ltol"],
    stol: float = MATCH_TOLERANCES["stol"],
    angle_tol: float = MATCH_TOLERANCES["angle_tol"],
) -> float:
    """StructureMatcher RMS displacement between matched sites, normalized by (V/n)^(1/3).

    pymatgen's ``get_rms_dist``: dimensionless (divide by the free length per
    atom (V/n)^(1/3) of the averaged lattice); 0 for identical structures.

    Raises:
        XtalkitError: if the structures do not match within the tolerances.
    """
    result = _matcher(ltol, stol, angle_tol).get_rms_dist(_as_structure(target), _as_structure(predicted))
    if result is None:
        raise XtalkitError("structures do not match (StructureMatcher); RMS distance is undefined")
    return float(result[0])


def _orbits(lattice: np.ndarray, numbers: np.ndarray, frac: np.ndarray, symprec: float) -> np.ndarray:
    """Index of one representative per crystallographic orbit (spglib ``equivalent_atoms``)."""
    import spglib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            data = spglib.get_symmetry_dataset((lattice, frac, numbers), symprec=symprec)
        except Exception:  # spglib raises when its new error handling is on
            data = None
    if data is None:
        return np.arange(len(numbers))
    return np.unique(np.asarray(data.equivalent_atoms))


def wyckoff_mse(
    predicted,
    target,
    *,
    align: bool = True,
    symprec: float = 0.01,
    ltol: float = MATCH_TOLERANCES["ltol"],
    stol: float = MATCH_TOLERANCES["stol"],
    angle_tol: float = MATCH_TOLERANCES["angle_tol"],
) -> float:
    """Wyckoff MSE, eq. 2: squared error of the fractional coordinates of the independent atoms.

    The n independent atoms are one representative of each crystallographic
    orbit of the target (spglib, ``symprec`` Å). With ``align`` the predicted
    structure is first brought into the target's cell setting and origin by
    pymatgen ``StructureMatcher.get_s2_like_s1`` (which requires the two to
    match); without it the predicted fractional coordinates are used as they
    are (CSPBenchMetrics' convention, which assumes the same setting). Each
    representative y_i is paired with the nearest predicted atom of the same
    element (minimum image in fractional space) ŷ_i, and
    ``MSE = 1/(3n) Σ_i |y_i − ŷ_i|²`` — the mean over the 3n coordinates, with
    differences wrapped into [−½, ½). Dimensionless (fractions of the cell edges).

    Args:
        predicted: Structure or Crystal.
        target: Structure or Crystal.
        align: Align with StructureMatcher first (recommended).
        symprec: Å, spglib tolerance for the target's orbits.
        ltol: StructureMatcher fractional length tolerance (``align``).
        stol: StructureMatcher site tolerance (``align``).
        angle_tol: StructureMatcher angle tolerance, degrees (``align``).

    Raises:
        XtalkitError: different compositions; with ``align``, structures that do not match.
    """
    t = _as_structure(target)
    p = _as_structure(predicted)
    if p.composition.reduced_composition != t.composition.reduced_composition:
        raise XtalkitError(
            f"compositions differ ({p.composition.reduced_formula} vs {t.composition.reduced_formula})"
        )
    if align:
        try:
            aligned = _matcher(ltol, stol, angle_tol, primitive_cell=False).get_s2_like_s1(t, p)
        except ValueError:
            aligned = None
        if aligned is None:
            raise XtalkitError("structures do not match (StructureMatcher); Wyckoff errors are undefined")
        p = aligned
    t_lat, t_z, t_frac = structure_arrays(t)
    _, p_z, p_frac = structure_arrays(p)
    reps = _orbits(t_lat, t_z, t_frac, symprec)
    sq = []
    for i in reps:
        same = p_frac[p_z == t_z[i]]
        d = same - t_frac[i]
        d -= np.round(d)
        sq.append(np.min(np.einsum("ij,ij->i", d, d)))
    return float(np.sum(sq) / (3 * len(reps)))


def wyckoff_rmse(predicted, target, **kwargs) -> float:
    """Wyckoff RMSE, eq. 3: square root of :func:`wyckoff_mse` (same arguments)."""
    return float(np.sqrt(wyckoff_mse(predicted, target, **kwargs)))


def energy_distance(predicted, target, energy_fn: Callable | None = None) -> float:
    """Energy distance ``|E(predicted) − E(target)|``, eV/atom.

    Args:
        predicted: Structure or Crystal.
        target: Structure or Crystal of the same composition (for equal
            compositions the difference of total energies per atom equals that
            of formation energies, the paper's M3GNet quantity).
        energy_fn: Structure → energy in eV/atom; default CHGNet
            (:func:`xtalkit.csp.reconstruct.predict_energy`, no relaxation).

    Raises:
        XtalkitError: different reduced compositions or a non-finite energy.
    """
    t = _as_structure(target)
    p = _as_structure(predicted)
    if p.composition.reduced_composition != t.composition.reduced_composition:
        raise XtalkitError(
            f"compositions differ ({p.composition.reduced_formula} vs {t.composition.reduced_formula})"
        )
    if energy_fn is None:
        from xtalkit.csp.reconstruct import predict_energy

        energy_fn = predict_energy
    ep, et = float(energy_fn(p)), float(energy_fn(t))
    if not (np.isfinite(ep) and np.isfinite(et)):
        raise XtalkitError("energy is not finite")
    return abs(ep - et)


def superpose_distance(predicted, target, *, refine_steps: int = 3) -> float:
    """Superpose distance: RMS displacement (Å) after the best translation and atom assignment.

    Definition (ours; CSPBenchMetrics superposes the Cartesian coordinates
    of the sites in file order with Kabsch rotation, translation and scaling,
    which ignores periodicity and depends on the site order). The predicted
    fractional coordinates are placed in the target lattice (no rotation, no
    change of cell: both must be in the same setting, as the output of
    :func:`~xtalkit.csp.reconstruct.reconstruct` is), and

    ``D = min_{t, π} sqrt(1/n Σ_i |M (f_π(i) + t − g_i)|²)``

    with g the target fractional coordinates, M the target lattice, minimum
    images, π a one-to-one assignment of predicted to target atoms of the same
    element and t a rigid translation. Search: t starts from every alignment of
    one atom of the rarest element onto the target atoms of that element; for
    each, π is the optimal (Hungarian) assignment per element and t is then
    refined as the mean displacement, ``refine_steps`` times. A translated
    copy gives 0.

    Args:
        predicted: Structure or Crystal.
        target: Structure or Crystal with the same atoms per cell.
        refine_steps: Alternations of assignment and translation refinement.

    Raises:
        XtalkitError: if the cells hold different atoms (numbers per element).
    """
    t_lat, t_z, t_frac = structure_arrays(target)
    _, p_z, p_frac = structure_arrays(predicted)
    if sorted(t_z.tolist()) != sorted(p_z.tolist()):
        raise XtalkitError("superpose distance needs the same atoms per cell in both structures")
    elements, counts = np.unique(t_z, return_counts=True)
    anchor = elements[np.argmin(counts)]
    p_anchor = p_frac[p_z == anchor][0]
    best = np.inf
    for g in t_frac[t_z == anchor]:
        shift = g - p_anchor
        for _ in range(max(1, refine_steps)):
            disp = np.zeros_like(t_frac)
            for e in elements:
                ti, pi = np.flatnonzero(t_z == e), np.flatnonzero(p_z == e)
                d = (p_frac[pi] + shift)[:, None, :] - t_frac[ti][None, :, :]
                d -= np.round(d)
                cost = np.einsum("abi,ij,abj->ab", d, t_lat @ t_lat.T, d)
                rows, cols = linear_sum_assignment(cost)
                disp[ti[cols]] = d[rows, cols]
            shift = shift - disp.mean(axis=0)
        d2 = np.einsum("ai,ij,aj->a", disp - disp.mean(axis=0), t_lat @ t_lat.T, disp - disp.mean(axis=0))
        best = min(best, float(np.sqrt(d2.mean())))
    return best
