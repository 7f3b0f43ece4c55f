"""Crystal structure from a distance matrix (AlphaCrystal-II §2.4, DMCrystal-like GA), and relaxation.

Given the cell composition, the space group, the lattice parameters and a
target distance matrix (12 × 12 padded, rows in the encoding order of
:mod:`xtalkit.csp.encoding`), :func:`reconstruct` searches for atomic positions
that reproduce the target:

1. Templates. The combinations of Wyckoff positions of the
   space group (conventional cell, pyxtal's standard setting: unique axis b for
   monoclinic, hexagonal axes for trigonal groups) that hold the composition
   (:func:`~xtalkit.csp.wyckoff.wyckoff_combinations`; at most ``max_combinations``,
   drawn with the seeded generator beyond that). Every template is
   Wyckoff-consistent by construction: an atom of Wyckoff position w with
   generator ``p = R₀ v + t₀`` (the first operation of w applied to a free
   vector v) sits at ``R_k p + t_k`` for the operations k of w, so the genome
   of a template is the free coordinates of its Wyckoff sites (the columns of
   R₀ that are not zero; ``Wyckoff_position.get_dof``), plus, optionally, the
   free lattice parameters of the crystal system within ± bounds. Each
   template is screened with ``screen_size`` random genomes and the GA runs on
   the ``max_templates`` best (ties: fewer Wyckoff sites first).

   pyxtal's ``pyxtal().from_random(..., lattice=Lattice.from_para(...))`` is
   not used to draw candidates: it places atoms with its own random state,
   rejects placements that violate its distance tolerances (and gives up on
   whole Wyckoff combinations, "long time to generate structure", e.g. Ti 2a +
   O 4e in rutile's cell), whereas the GA needs every combination as a
   parametrized template and reproducible draws from one seeded generator.
2. Loss. The candidate's minimum-image distance matrix D (Å, atoms grouped by
   element in encoding order) is compared with the target T. Atoms of the same
   element are interchangeable, so the assignment of candidate atoms to target
   rows is ambiguous; it is resolved with **distance profiles and Hungarian
   matching per element**: the profile of an atom is its row of distances
   sorted within each element block (which does not depend on how the other
   atoms are numbered), the cost of putting candidate atom i on target row k
   is the squared difference of their profiles, and
   ``scipy.optimize.linear_sum_assignment`` finds the cheapest one-to-one
   assignment within each element. The loss is the assigned cost divided by
   L² (a mean squared distance error per matrix entry, Å²); it is 0 for the
   true structure whatever the order of its atoms.
3. Genetic algorithm per template (seeded ``numpy.random.Generator``): elitism,
   tournament selection, uniform crossover of the genes, Gaussian mutation of
   the free fractional coordinates (wrapped into [0, 1)) with a step that
   shrinks geometrically over the generations, lattice genes clipped to their
   bounds; then a Nelder-Mead polish of the best genome.
4. Each template's best individual becomes a :class:`Candidate` (exact
   minimum-image distances recomputed); candidates are sorted by loss.

:func:`relax` relaxes a candidate with CHGNet (``chgnet.model.StructOptimizer``;
the paper uses M3GNet's relaxer, which is not installed here).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import time
import warnings

import numpy as np
from scipy.optimize import linear_sum_assignment, minimize

from xtalkit.csp.encoding import MAX_ATOMS, _as_structure, distance_profiles, encode_composition
from xtalkit.csp.wyckoff import wyckoff_combinations
from xtalkit.elements import SYMBOLS
from xtalkit.errors import XtalkitError
from xtalkit.geometry.matrices import distance_matrix, reduced_basis

_IMAGES = np.stack(np.meshgrid(*(np.arange(-1, 2),) * 3, indexing="ij"), -1).reshape(-1, 3).astype(float)

# which of (a, b, c, α, β, γ) are independent in each crystal system: index of the free
# parameter it copies, or -1 when fixed at its given value
_LATTICE_TIES = {
    "triclinic": (0, 1, 2, 3, 4, 5),
    "monoclinic": (0, 1, 2, -1, 3, -1),
    "orthorhombic": (0, 1, 2, -1, -1, -1),
    "tetragonal": (0, 0, 1, -1, -1, -1),
    "trigonal": (0, 0, 1, -1, -1, -1),
    "hexagonal": (0, 0, 1, -1, -1, -1),
    "cubic": (0, 0, 0, -1, -1, -1),
}


@dataclasses.dataclass(eq=False)
class Candidate:
    """One reconstructed structure.

    Attributes:
        structure: pymatgen ``Structure``, sites grouped by element in encoding order.
        loss: Å², profile loss of the module docstring (mean squared distance error per entry).
        distance_rmse: Å, RMSE between the candidate's distance matrix, rows and
            columns permuted by ``assignment``, and the target over valid pairs.
        assignment: (L,) index of the structure's site assigned to each target row:
            the profile assignment, with atoms on target rows of equal profile
            permuted to minimize the full-matrix error (exhaustive up to 5040
            permutations), then improved by pairwise swaps within elements.
        distances: (12, 12) candidate distances, Å, in target row order (zero-padded).
        space_group: International number.
        wyckoffs: Wyckoff sites of the template, e.g. ``("Ti 2a", "O 4f")``.
    """

    structure: object
    loss: float
    distance_rmse: float
    assignment: np.ndarray
    distances: np.ndarray
    space_group: int
    wyckoffs: tuple[str, ...]


@dataclasses.dataclass(eq=False)
class _Template:
    """A Wyckoff combination turned into an affine map from genome to atom positions."""

    wyckoffs: tuple[str, ...]
    numbers: np.ndarray  # (n,) per atom, encoding order
    site_of_atom: np.ndarray  # (n,)
    R: np.ndarray  # (n, 3, 3)
    t: np.ndarray  # (n, 3)
    free: np.ndarray  # (S, 3) bool

    def n_genes(self, space) -> int:
        """Free coordinates plus free lattice parameters."""
        return int(self.free.sum()) + int(space.var.sum())

    def positions(self, coords: np.ndarray) -> np.ndarray:
        """(P, S, 3) site genomes → (P, n, 3) fractional positions in [0, 1)."""
        v = coords[:, self.site_of_atom, :]  # (P, n, 3)
        f = np.einsum("nij,pnj->pni", self.R, v) + self.t
        return f - np.floor(f)


def _templates(space_group: int, numbers: np.ndarray, max_combinations: int, rng: np.random.Generator):
    from pyxtal.symmetry import Group

    try:
        group = Group(int(space_group))
    except Exception as exc:
        raise XtalkitError(f"space group {space_group!r}: {exc}") from None
    elements, starts = np.unique(numbers, return_index=True)
    elements = elements[np.argsort(starts)]
    counts = [int((numbers == z).sum()) for z in elements]
    indices = wyckoff_combinations(group, counts, max_combinations, rng)
    if not indices:
        formula = "".join(f"{SYMBOLS[z]}{n}" for z, n in zip(elements, counts, strict=True))
        raise XtalkitError(
            f"no combination of Wyckoff positions of space group {space_group} holds {formula} "
            "(conventional cell)"
        )
    out = []
    for combo in indices:
        labels, zs, site_idx, Rs, ts, free = [], [], [], [], [], []
        for z, wp_indices in zip(elements, combo, strict=True):
            for idx in wp_indices:
                wp = group[int(idx)]
                s = len(free)
                R0, t0 = wp.ops[0].rotation_matrix, wp.ops[0].translation_vector
                free.append(np.abs(R0).sum(axis=0) > 0)
                labels.append(f"{SYMBOLS[z]} {wp.multiplicity}{wp.letter}")
                for op in wp.ops:
                    Rs.append(op.rotation_matrix @ R0)
                    ts.append(op.rotation_matrix @ t0 + op.translation_vector)
                    zs.append(z)
                    site_idx.append(s)
        out.append(
            _Template(
                wyckoffs=tuple(labels),
                numbers=np.array(zs, dtype=int),
                site_of_atom=np.array(site_idx, dtype=int),
                R=np.array(Rs, dtype=float),
                t=np.array(ts, dtype=float),
                free=np.array(free, dtype=bool),
            )
        )
    return group.lattice_type, out


def lattice_matrices(params: np.ndarray) -> np.ndarray:
    """Lattice vectors (rows, Å) from (a, b, c, α, β, γ) in Å and degrees; a along x, b in the xy plane.

    Args:
        params: (..., 6) lattice parameters.

    Returns:
        (..., 3, 3) lattice matrices.
    """
    p = np.asarray(params, dtype=float)
    a, b, c = p[..., 0], p[..., 1], p[..., 2]
    al, be, ga = (np.radians(p[..., k]) for k in (3, 4, 5))
    cx = c * np.cos(be)
    cy = c * (np.cos(al) - np.cos(be) * np.cos(ga)) / np.sin(ga)
    cz = np.sqrt(np.maximum(c**2 - cx**2 - cy**2, 1e-12))
    zero = np.zeros_like(a)
    va = np.stack([a, zero, zero], -1)
    vb = np.stack([b * np.cos(ga), b * np.sin(ga), zero], -1)
    vc = np.stack([cx, cy, cz], -1)
    return np.stack([va, vb, vc], -2)


def _check_lattice(params: np.ndarray, lattice_type: str, space_group: int) -> None:
    a, b, c, al, be, ga = params
    if min(a, b, c) <= 0:
        raise XtalkitError(f"lattice lengths must be positive, got {a}, {b}, {c}")
    if not all(0 < x < 180 for x in (al, be, ga)):
        raise XtalkitError(f"lattice angles must be in (0, 180) degrees, got {al}, {be}, {ga}")

    def same_length(x, y):  # relative 1e-3
        return abs(x - y) <= 1e-3 * max(x, y)

    def angle(x, y):  # 0.05 degrees
        return abs(x - y) <= 0.05

    right = angle(al, 90) and angle(be, 90) and angle(ga, 90)
    hexagonal_axes = same_length(a, b) and angle(al, 90) and angle(be, 90) and angle(ga, 120)
    ok = {
        "cubic": right and same_length(a, b) and same_length(a, c),
        "tetragonal": right and same_length(a, b),
        "orthorhombic": right,
        "hexagonal": hexagonal_axes,
        "trigonal": hexagonal_axes,
        "monoclinic": angle(al, 90) and angle(ga, 90),
    }.get(lattice_type, True)
    if not ok:
        raise XtalkitError(
            f"lattice ({a:g}, {b:g}, {c:g}, {al:g}, {be:g}, {ga:g}) does not fit the {lattice_type} "
            f"space group {space_group} (pyxtal's standard setting: monoclinic unique axis b, "
            "trigonal on hexagonal axes)"
        )


def _batch_distances(frac: np.ndarray, lattices: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Minimum-image distances (P, n, n), Å, in a reduced basis T of the reference lattice."""
    Tinv = np.linalg.inv(T)
    f = frac @ Tinv  # (P, n, 3)
    L = np.einsum("ij,pjk->pik", T.astype(float), lattices)  # (P, 3, 3)
    d = f[:, None, :, :] - f[:, :, None, :]  # (P, n, n, 3)
    d -= np.round(d)
    cart = np.einsum("pabi,pij->pabj", d, L)
    img = np.einsum("ki,pij->pkj", _IMAGES, L)  # (P, 27, 3)
    cand = cart[:, :, :, None, :] + img[:, None, None, :, :]
    return np.sqrt(np.einsum("pabki,pabki->pabk", cand, cand).min(axis=-1))


def _blocks(numbers: np.ndarray) -> list[tuple[int, int]]:
    starts = np.flatnonzero(np.r_[True, numbers[1:] != numbers[:-1]])
    ends = np.r_[starts[1:], numbers.size]
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def profile_loss(
    D: np.ndarray, numbers: np.ndarray, target_profiles: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Distance-profile loss of §2.4 for a batch of candidate distance matrices.

    Each atom's profile is its sorted distances to the atoms of each element
    (:func:`~xtalkit.csp.encoding.distance_profiles`); candidate atoms are
    assigned to target rows of the same element by a linear assignment, and the
    loss is the summed squared profile difference over ``n²``.

    Args:
        D: (P, n, n) candidate distances, Å, atoms in encoding order.
        numbers: (n,) atomic numbers in encoding order (equal elements contiguous).
        target_profiles: (n, n) profiles of the target matrix.

    Returns:
        ``(loss, assignment)``: (P,) Å² and (P, n), the candidate atom placed on each target row.
    """
    P, n = D.shape[0], D.shape[1]
    prof = distance_profiles(D, numbers)  # (P, n, n)
    cost = np.zeros(P)
    assign = np.tile(np.arange(n), (P, 1))
    for s, e in _blocks(numbers):
        C = ((prof[:, s:e, None, :] - target_profiles[None, None, s:e, :]) ** 2).sum(-1)  # (P, m, m)
        if e - s == 1:
            cost += C[:, 0, 0]
            continue
        for p in range(P):
            rows, cols = linear_sum_assignment(C[p])
            cost[p] += C[p][rows, cols].sum()
            assign[p, s + cols] = s + rows
    return cost / n**2, assign


def _matrix_assignment(
    D: np.ndarray,
    target: np.ndarray,
    numbers: np.ndarray,
    start: np.ndarray,
    target_profiles: np.ndarray,
    max_exhaustive: int = 5040,
) -> np.ndarray:
    """Joint permutation π (within elements) minimizing ``Σ (D[π, π] − T)²``.

    The profile assignment ``start`` fixes the atom of each target row only up
    to target rows with equal profiles (e.g. the four O of rutile); the full
    matrix needs one permutation for rows and columns together (a small
    quadratic assignment problem). All permutations within runs of equal
    target profiles (10⁻⁶ Å) are tried while there are at most
    ``max_exhaustive``; then pairwise swaps within elements until none improves.
    """
    import itertools
    import math

    def err(a: np.ndarray) -> float:
        return float(((D[np.ix_(a, a)] - target) ** 2).sum())

    # runs of target rows with equal element and profile (rows are grouped by element)
    key = np.round(target_profiles, 6)
    ties, k = [], 0
    while k < numbers.size:
        end = k + 1
        while end < numbers.size and numbers[end] == numbers[k] and np.array_equal(key[end], key[k]):
            end += 1
        if end - k > 1:
            ties.append((k, end))
        k = end
    a = start.copy()
    if ties and math.prod(math.factorial(e - s) for s, e in ties) <= max_exhaustive:
        perms = [np.array(list(itertools.permutations(range(s, e)))) for s, e in ties]
        grids = np.meshgrid(*[np.arange(len(p)) for p in perms], indexing="ij")
        cand = np.tile(np.arange(numbers.size), (grids[0].size, 1))
        for (s, e), p, g in zip(ties, perms, grids, strict=True):
            cand[:, s:e] = p[g.reshape(-1)]
        cand = start[cand]  # permute which candidate atom sits on each tied target row
        errs = ((D[cand[:, :, None], cand[:, None, :]] - target) ** 2).sum(axis=(1, 2))
        a = cand[int(np.argmin(errs))].copy()
    cur = err(a)
    improved = True
    while improved:
        improved = False
        for s, e in _blocks(numbers):
            for i in range(s, e):
                for j in range(i + 1, e):
                    a[[i, j]] = a[[j, i]]
                    v = err(a)
                    if v < cur - 1e-12:
                        cur, improved = v, True
                    else:
                        a[[i, j]] = a[[j, i]]
    return a


def standard_setting(structure, symprec: float = 0.01, max_atoms: int = MAX_ATOMS):
    """A structure in the conventional cell and setting that :func:`reconstruct` works in.

    pyxtal's standard setting (International Tables; monoclinic unique axis b,
    trigonal groups on hexagonal axes). pymatgen's
    ``get_conventional_standard_structure`` is not always that setting (it sorts
    orthorhombic axes by length, so e.g. Pnma may come out as Pmcn), and lattice
    parameters taken from it can describe a different setting of the group.

    Args:
        structure: pymatgen Structure or xtalkit Crystal.
        symprec: Å, symmetry tolerance.
        max_atoms: Largest conventional cell accepted.

    Returns:
        ``(structure, space_group_number)``.

    Raises:
        XtalkitError: if pyxtal cannot analyse the structure or its conventional
            cell has more than ``max_atoms`` atoms.
    """
    from pyxtal import pyxtal

    s = _as_structure(structure)
    px = pyxtal()
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # spglib's error-handling notice
            px.from_seed(s, tol=symprec)
    except Exception as exc:
        raise XtalkitError(f"{s.composition.reduced_formula}: symmetry analysis failed: {exc}") from None
    out = px.to_pymatgen()
    if len(out) > max_atoms:
        raise XtalkitError(
            f"{out.composition.formula.replace(' ', '')}: conventional cell has {len(out)} atoms, "
            f"more than {max_atoms}"
        )
    return out, int(px.group.number)


def reconstruct(
    formula,
    space_group: int,
    lattice_parameters,
    target_distances: np.ndarray,
    target_mask: np.ndarray | None = None,
    *,
    population: int = 48,
    generations: int = 60,
    max_templates: int = 12,
    max_combinations: int = 2000,
    screen_size: int = 32,
    n_candidates: int | None = 10,
    elite: int = 2,
    tournament: int = 3,
    crossover_rate: float = 0.9,
    mutation_rate: float = 0.5,
    sigma_start: float = 0.15,
    sigma_end: float = 0.005,
    length_tolerance: float = 0.0,
    angle_tolerance: float = 0.0,
    polish: bool = True,
    polish_evaluations: int = 300,
    seed: int | np.random.Generator = 0,
    deadline: float | None = None,
) -> list[Candidate]:
    """Structures whose distance matrix matches a target (§2.4), best first.

    Wyckoff combinations are enumerated (at most ``max_combinations``, drawn at
    random beyond that), each is screened with ``screen_size`` random genomes,
    and the GA runs on the ``max_templates`` with the lowest screening loss
    (ties: fewer Wyckoff sites first).

    Args:
        formula: Cell contents (e.g. ``"Ti2O4"``), as
            :func:`~xtalkit.csp.encoding.parse_formula` reads them; the cell is
            the conventional cell of ``space_group`` in pyxtal's setting (see
            :func:`standard_setting`).
        space_group: International number, 1-230.
        lattice_parameters: (a, b, c, α, β, γ), Å and degrees, of that setting.
        target_distances: (12, 12) (or (L, L)) target distances, Å, rows and
            columns in encoding order (e.g. :attr:`DistanceTarget.distances` or
            a network prediction); symmetrized, diagonal ignored.
        target_mask: (12,) atom mask of the rows (default: the first L rows).
        population: GA population per template.
        generations: GA generations per template.
        max_templates: Wyckoff combinations optimized by the GA.
        max_combinations: Wyckoff combinations screened.
        screen_size: Random genomes per combination in the screening.
        n_candidates: Candidates returned (None: one per optimized template).
        elite: Best individuals copied unchanged into the next generation.
        tournament: Tournament size of parent selection.
        crossover_rate: Probability that a child mixes two parents (uniform crossover).
        mutation_rate: Probability that each free gene of a child is mutated.
        sigma_start: Mutation step (fraction of a cell edge; of the bound width
            for lattice genes) in the first generation.
        sigma_end: Mutation step in the last generation (geometric schedule).
        length_tolerance: Relative bound of the free lattice lengths (0: lattice fixed).
        angle_tolerance: Degrees, bound of the free lattice angles (0: fixed).
        polish: Refine each template's best genome with Nelder-Mead.
        polish_evaluations: Loss evaluations allowed to the polish.
        seed: Seed or generator for every random choice.
        deadline: ``time.monotonic()`` value after which no further template is
            screened or optimized (at least one of each always is); None: no limit.

    Returns:
        Candidates sorted by loss (ties keep template order); fewer than
        ``max_templates`` when the deadline passed.

    Raises:
        XtalkitError: unreadable formula, target size not matching the formula,
            lattice parameters not fitting the space group, or no Wyckoff
            combination of the space group holding the composition.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    enc = encode_composition(formula)
    numbers = enc.numbers
    target = clean_target(target_distances, target_mask, numbers, enc.formula)
    target_prof = distance_profiles(target, numbers)

    params0 = np.asarray(lattice_parameters, dtype=float).reshape(-1)
    if params0.size != 6:
        raise XtalkitError(
            f"lattice_parameters must be (a, b, c, alpha, beta, gamma), got {params0.size} values"
        )
    lattice_type, templates = _templates(space_group, numbers, max_combinations, rng)
    _check_lattice(params0, lattice_type, space_group)
    space = _LatticeSpace(params0, lattice_type, length_tolerance, angle_tolerance)
    _, T_red = reduced_basis(lattice_matrices(params0))

    def evaluate(tpl: _Template, coords: np.ndarray, lat: np.ndarray) -> np.ndarray:
        D = _batch_distances(tpl.positions(coords), lattice_matrices(space.expand(lat)), T_red)
        return profile_loss(D, numbers, target_prof)[0]

    # screening: best loss of random genomes per template
    def late() -> bool:
        return deadline is not None and time.monotonic() >= deadline

    screened = []
    for k, tpl in enumerate(templates):
        if screened and late():
            break
        P = max(1, screen_size) if tpl.n_genes(space) > 0 else 1
        coords, lat = _random_genomes(tpl, space, P, rng)
        screened.append((float(evaluate(tpl, coords, lat).min()), tpl.free.shape[0], k))
    screened.sort()
    chosen = [templates[k] for _, _, k in screened[: max(1, max_templates)]]

    candidates = []
    for tpl in chosen:
        if candidates and late():
            break
        coords, lat = _genetic_search(
            tpl, space, evaluate, rng,
            population=population, generations=generations, elite=elite, tournament=tournament,
            crossover_rate=crossover_rate, mutation_rate=mutation_rate,
            sigma_start=sigma_start, sigma_end=sigma_end,
        )  # fmt: skip
        if polish and polish_evaluations > 0 and tpl.n_genes(space) > 0:
            coords, lat = _polish(tpl, space, evaluate, coords, lat, polish_evaluations)
        candidates.append(_finish(tpl, coords, lat, space, target, numbers, space_group, target_prof))
    candidates.sort(key=lambda c: c.loss)
    return candidates if n_candidates is None else candidates[:n_candidates]


def clean_target(target_distances, target_mask, numbers: np.ndarray, formula: str) -> np.ndarray:
    """(L, L) symmetric target with zero diagonal, rows of the atoms of ``numbers``.

    Raises:
        XtalkitError: a matrix that is not square, too small, non-finite, or a mask
            that does not mark ``len(numbers)`` atoms.
    """
    n = numbers.size
    T_in = np.asarray(target_distances, dtype=float)
    if T_in.ndim != 2 or T_in.shape[0] != T_in.shape[1] or T_in.shape[0] < n:
        raise XtalkitError(f"target distance matrix must be square with at least {n} rows, got {T_in.shape}")
    rows = np.arange(n)
    if target_mask is not None:
        m = np.asarray(target_mask, dtype=bool).reshape(-1)
        if m.size != T_in.shape[0] or int(m.sum()) != n:
            raise XtalkitError(f"target mask marks {int(m.sum())} atoms but {formula} has {n} atoms per cell")
        rows = np.flatnonzero(m)
    target = T_in[np.ix_(rows, rows)]
    if not np.isfinite(target).all():
        raise XtalkitError("target distance matrix contains non-finite values")
    target = 0.5 * (target + target.T)
    np.fill_diagonal(target, 0.0)
    return target


class _LatticeSpace:
    """Free lattice parameters of a crystal system and their bounds."""

    def __init__(self, params0: np.ndarray, lattice_type: str, length_tol: float, angle_tol: float):
        self.params0 = params0
        self.ties = np.array(_LATTICE_TIES[lattice_type])
        self.n = int(self.ties.max()) + 1
        first = [int(np.flatnonzero(self.ties == k)[0]) for k in range(self.n)]
        self.centre = params0[first]
        is_angle = np.array([j >= 3 for j in first])
        self.half = np.where(is_angle, angle_tol, length_tol * self.centre)
        self.lo, self.hi = self.centre - self.half, self.centre + self.half
        self.var = self.half > 0

    def expand(self, genes: np.ndarray) -> np.ndarray:
        """(..., n) free parameters → (..., 6) lattice parameters."""
        full = np.broadcast_to(self.params0, (*genes.shape[:-1], 6)).copy()
        for j, k in enumerate(self.ties):
            if k >= 0:
                full[..., j] = genes[..., k]
        return full


def _random_genomes(tpl: _Template, space: _LatticeSpace, P: int, rng: np.random.Generator):
    """P random genomes; the first keeps the given lattice."""
    coords = np.where(tpl.free, rng.random((P, tpl.free.shape[0], 3)), 0.0)
    lat = np.tile(space.centre, (P, 1))
    if space.var.any() and P > 1:
        lat[1:] = np.where(space.var, rng.uniform(space.lo, space.hi, (P - 1, space.n)), space.centre)
    return coords, lat


def _genetic_search(
    tpl, space, evaluate, rng, *, population, generations, elite, tournament,
    crossover_rate, mutation_rate, sigma_start, sigma_end,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Best (S, 3) coordinates and (n_lat,) lattice genes found by the GA."""
    S = tpl.free.shape[0]
    P = population if tpl.n_genes(space) > 0 else 1
    coords, lat = _random_genomes(tpl, space, P, rng)
    loss = evaluate(tpl, coords, lat)
    if P > 1:
        n_el = min(max(elite, 0), P - 1)
        n_child = P - n_el
        for g in range(generations):
            sigma = sigma_start * (sigma_end / sigma_start) ** (g / max(1, generations - 1))
            # tournament selection of two parents per child
            contest = rng.integers(0, P, size=(2, n_child, max(1, tournament)))
            pick = loss[contest].argmin(-1)
            pa, pb = contest[np.arange(2)[:, None], np.arange(n_child)[None, :], pick]
            cross = rng.random(n_child) < crossover_rate
            take_b = (rng.random((n_child, S, 3)) < 0.5) & cross[:, None, None]
            child = np.where(take_b, coords[pb], coords[pa])
            take_b_lat = (rng.random((n_child, space.n)) < 0.5) & cross[:, None]
            child_lat = np.where(take_b_lat, lat[pb], lat[pa])
            mut = (rng.random((n_child, S, 3)) < mutation_rate) & tpl.free
            child = child + mut * rng.normal(0.0, sigma, (n_child, S, 3))
            child -= np.floor(child)
            mut_lat = (rng.random((n_child, space.n)) < mutation_rate) & space.var
            step = rng.normal(0.0, 1.0, (n_child, space.n)) * sigma * 2 * space.half
            child_lat = np.clip(child_lat + mut_lat * step, space.lo, space.hi)
            keep = np.argsort(loss, kind="stable")[:n_el]
            coords = np.concatenate([coords[keep], child])
            lat = np.concatenate([lat[keep], child_lat])
            loss = np.concatenate([loss[keep], evaluate(tpl, child, child_lat)])
    best = int(np.argmin(loss))
    return coords[best].copy(), lat[best].copy()


def _polish(tpl, space, evaluate, coords, lat, max_evaluations: int) -> tuple[np.ndarray, np.ndarray]:
    """Nelder-Mead on the free genes, kept only if it lowers the loss."""
    S = tpl.free.shape[0]
    c_idx = np.flatnonzero(tpl.free.reshape(-1))
    l_idx = np.flatnonzero(space.var)

    def unpack(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c = coords.reshape(-1).copy()
        c[c_idx] = x[: c_idx.size]
        lt = lat.copy()
        lt[l_idx] = np.clip(x[c_idx.size :], space.lo[l_idx], space.hi[l_idx])
        return c.reshape(1, S, 3) % 1.0, lt[None]

    def objective(x: np.ndarray) -> float:
        return float(evaluate(tpl, *unpack(x))[0])

    x0 = np.concatenate([coords.reshape(-1)[c_idx], lat[l_idx]])
    f0 = objective(x0)
    steps = np.concatenate([np.full(c_idx.size, 0.01), 0.1 * space.half[l_idx]])
    res = minimize(
        objective,
        x0,
        method="Nelder-Mead",
        options={
            "maxfev": max_evaluations,
            "xatol": 1e-7,
            "fatol": 1e-14,
            "initial_simplex": x0 + np.vstack([np.zeros_like(x0), np.diag(steps)]),
        },
    )
    if res.fun < f0:
        c, lt = unpack(res.x)
        return c[0], lt[0]
    return coords, lat


def _finish(tpl, coords, lat, space, target, numbers, space_group, target_prof) -> Candidate:
    """Exact distances, loss and assignment of the best genome of a template."""
    from pymatgen.core import Lattice, Structure

    params = space.expand(lat[None])[0]
    frac = tpl.positions(coords[None])[0]
    lattice = lattice_matrices(params)
    D = distance_matrix(lattice, frac)
    loss, assign = profile_loss(D[None], numbers, target_prof)
    a = _matrix_assignment(D, target, numbers, assign[0], target_prof)
    n = numbers.size
    Dp = D[np.ix_(a, a)]
    off = ~np.eye(n, dtype=bool)
    rmse = float(np.sqrt(np.mean((Dp[off] - target[off]) ** 2))) if n > 1 else 0.0
    full = np.zeros((MAX_ATOMS, MAX_ATOMS))
    full[:n, :n] = Dp
    structure = Structure(
        Lattice.from_parameters(*params), [SYMBOLS[z] for z in numbers], frac, to_unit_cell=True
    )
    return Candidate(
        structure=structure,
        loss=float(loss[0]),
        distance_rmse=rmse,
        assignment=a.copy(),
        distances=full,
        space_group=int(space_group),
        wyckoffs=tpl.wyckoffs,
    )


@functools.cache
def _chgnet():
    """The CHGNet model (weights ship with the chgnet wheel), loaded once, on CPU, quietly."""
    with contextlib.redirect_stdout(io.StringIO()):
        from chgnet.model import CHGNet

        return CHGNet.load(verbose=False, use_device="cpu")


def predict_energy(structure) -> float:
    """CHGNet energy of a structure as it is (no relaxation), eV/atom.

    Args:
        structure: pymatgen Structure or xtalkit Crystal.
    """
    s = _as_structure(structure)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # CHGNet's own tensor-conversion notice
        pred = _chgnet().predict_structure(s, task="e")
    return float(np.asarray(pred["e"]).reshape(-1)[0])


def relax(structure, steps: int = 500, fmax: float = 0.1, relax_cell: bool = True):
    """Relax a structure with CHGNet (FIRE, ``chgnet.model.StructOptimizer``).

    Args:
        structure: pymatgen Structure or xtalkit Crystal.
        steps: Largest number of optimizer steps.
        fmax: eV/Å, force convergence threshold.
        relax_cell: Also relax the lattice (FrechetCellFilter).

    Returns:
        ``(relaxed structure, energy)`` with the final energy in eV/atom.

    Raises:
        XtalkitError: if the relaxation fails.
    """
    from chgnet.model import StructOptimizer

    s = _as_structure(structure)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        optimizer = StructOptimizer(model=_chgnet(), use_device="cpu")
        try:
            result = optimizer.relax(s, fmax=fmax, steps=steps, relax_cell=relax_cell, verbose=False)
        except Exception as exc:  # ASE / CHGNet errors on broken structures
            raise XtalkitError(f"CHGNet relaxation failed: {type(exc).__name__}: {exc}") from None
    final = result["final_structure"]
    energy = float(result["trajectory"].energies[-1]) / len(final)
    return final, energy
