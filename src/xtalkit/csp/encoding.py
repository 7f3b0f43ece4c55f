"""AlphaCrystal-II inputs and targets: composition feature matrix, distance matrix, distance classes.

Composition (preprint §2.2). A formula gives the contents of one unit cell
(``"Na4Cl4"`` is the conventional rock-salt cell, ``"NaCl"`` its primitive
cell; the formula is *not* reduced). Each of its L ≤ 12 atoms is one row of a
12 × 11 matrix of the elemental features of Table 1
(:data:`xtalkit.elements.ALPHACRYSTAL_FEATURES`, raw values in the units of
the element table); rows L..11 are zero and ``mask`` says which rows are atoms.

Atom order rule (the same for the features and for the distance-matrix rows):

1. by Pauling electronegativity, ascending (cations before anions);
2. ties by atomic number Z, ascending, so the atoms of one element are
   contiguous;
3. within one element (identical feature rows), when a structure is known:
   a) by the atom's *distance profile* — its sorted minimum-image distances to
      the atoms of each element of the cell, elements in the order of rules
      1-2 — compared lexicographically;
   b) atoms with equal profiles (typically symmetry-equivalent ones) are
      arranged so that the whole distance matrix, read row by row, is
      lexicographically smallest (exhaustive over the permutations within runs
      of equal profiles while there are at most 5040 of them; beyond that,
      greedily: next comes the atom whose distances to the atoms already
      placed are lexicographically smallest, remaining ties to the earlier
      site of the structure).
   Distances are compared after rounding to 10⁻³ Å.

Rule 3 only matters for distance-matrix targets. It makes the target matrix
independent of the order in which a file lists the atoms (exactly in the
exhaustive case, up to rounding at the 10⁻³ Å boundaries), which a network
that sees identical feature rows for atoms of one element could not otherwise
learn.

Distance targets (§3.1). The L × L minimum-image distance matrix (Å) of the
cell's atoms (:func:`xtalkit.geometry.matrices.distance_matrix`), rows and
columns in the order above, zero-padded to 12 × 12. ``pair_mask`` marks the
valid pairs: both atoms present and i ≠ j (the diagonal is 0 Å by definition
and carries no information; it is not a target).

Discretization (eq. 5). N equal-width groups between the smallest and largest
distance of a training set, width ``(d_max − d_min) / N``; a distance d falls
in group ``⌊(d − d_min) / width⌋`` clipped to 0..N−1, and a group decodes to
its bin centre ``d_min + (k + ½) · width``. The paper uses N = 5, 10 or 20 and
d_min = 0.9488 Å, d_max = 23.3361 Å over Mp_12.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import warnings
from collections.abc import Iterable, Sequence

import numpy as np

from xtalkit.elements import SYMBOLS, Z_MAX, alphacrystal_features, element_table
from xtalkit.errors import XtalkitError
from xtalkit.geometry.matrices import distance_matrix

MAX_ATOMS = 12
"""L, the largest number of atoms per cell (preprint §2.2)."""
NUM_FEATURES = 11
"""Elemental features per atom (preprint Table 1)."""
PAPER_D_MIN = 0.9488
"""Å, smallest distance of the paper's Mp_12 set (§3.1)."""
PAPER_D_MAX = 23.3361
"""Å, largest distance of the paper's Mp_12 set (§3.1)."""
PROFILE_DECIMALS = 3
"""Distance profiles are rounded to 10⁻³ Å before comparing them (order rule 3)."""


@dataclasses.dataclass(frozen=True, eq=False)
class CompositionEncoding:
    """The feature matrix of one cell composition.

    Attributes:
        formula: Cell formula, elements in encoding order (e.g. ``"Na4Cl4"``).
        numbers: (L,) atomic numbers in encoding order.
        features: (max_atoms, 11) elemental features, rows ≥ L zero.
        mask: (max_atoms,) True for the L atom rows.
    """

    formula: str
    numbers: np.ndarray
    features: np.ndarray
    mask: np.ndarray

    @property
    def num_atoms(self) -> int:
        """L, the number of atoms in the cell."""
        return int(self.numbers.size)

    @property
    def pair_mask(self) -> np.ndarray:
        """(max_atoms, max_atoms) valid pairs: both atoms present, i ≠ j."""
        return pair_mask(self.mask)


@dataclasses.dataclass(frozen=True, eq=False)
class DistanceTarget:
    """Distance-matrix target of a known structure.

    Attributes:
        encoding: The composition encoding of the structure's cell.
        distances: (max_atoms, max_atoms) minimum-image distances, Å, encoding
            order, zero outside the L × L block.
        order: (L,) index of the structure's site placed in each encoding row.
    """

    encoding: CompositionEncoding
    distances: np.ndarray
    order: np.ndarray

    @property
    def pair_mask(self) -> np.ndarray:
        """(max_atoms, max_atoms) valid pairs: both atoms present, i ≠ j."""
        return self.encoding.pair_mask


@dataclasses.dataclass(frozen=True)
class ChargeBalance:
    """Result of :func:`check_charge_balance`.

    Attributes:
        formula: The cell formula that was checked.
        balanced: True when pymatgen finds at least one charge-neutral
            assignment of common oxidation states.
        oxidation_states: The most likely assignment (element → average
            oxidation state), None when there is none.
    """

    formula: str
    balanced: bool
    oxidation_states: dict[str, float] | None


def parse_formula(formula, max_atoms: int = MAX_ATOMS) -> list[tuple[int, int]]:
    """Elements and atom counts of one cell.

    Args:
        formula: A formula string (``"SrTiO3"``, ``"Na4Cl4"``), a pymatgen
            ``Composition`` or a mapping element → count, giving the contents of
            one unit cell (not reduced).
        max_atoms: Largest number of atoms allowed in the cell.

    Returns:
        ``[(Z, count), ...]`` in encoding order (Pauling electronegativity, then Z).

    Raises:
        XtalkitError: empty or unreadable formula, unknown element, a
            non-integer or non-positive amount, or more than ``max_atoms`` atoms.
    """
    from pymatgen.core import Composition, Element

    try:
        comp = formula if isinstance(formula, Composition) else Composition(formula)
    except Exception as exc:  # pymatgen raises ValueError / KeyError / others on bad input
        raise XtalkitError(f"cannot read formula {formula!r}: {exc}") from None
    counts: dict[int, int] = {}
    for species, amount in comp.items():
        element = getattr(species, "element", species)  # Species("Fe", 3) → Element Fe
        if not isinstance(element, Element) or not 1 <= element.Z <= Z_MAX:
            name = getattr(species, "symbol", str(species)).rstrip("0+-")
            raise XtalkitError(f"formula {formula!r}: unknown element {name!r}")
        if amount <= 0 or abs(amount - round(amount)) > 1e-6:
            raise XtalkitError(
                f"formula {formula!r}: {element.symbol} amount {amount:g} is not a positive whole number "
                "of atoms per cell"
            )
        counts[element.Z] = counts.get(element.Z, 0) + round(amount)
    total = sum(counts.values())
    if total == 0:
        raise XtalkitError(f"formula {formula!r} has no atoms")
    if total > max_atoms:
        raise XtalkitError(
            f"formula {formula!r} has {total} atoms per cell; AlphaCrystal-II handles at most {max_atoms}"
        )
    zs = sorted(counts, key=_element_key)
    return [(z, counts[z]) for z in zs]


def _element_key(z: int) -> tuple[float, int]:
    """Order rules 1-2: (Pauling electronegativity, Z)."""
    return (float(element_table()["en_pauling"][z]), int(z))


def formula_string(numbers: Iterable[int]) -> str:
    """Cell formula of atomic numbers, elements in encoding order, e.g. ``"Sr1Ti1O3"`` → ``"SrTiO3"``."""
    z = np.asarray(list(numbers), dtype=int)
    parts = []
    for e in sorted(set(z.tolist()), key=_element_key):
        n = int((z == e).sum())
        parts.append(f"{SYMBOLS[e]}{n if n > 1 else ''}")
    return "".join(parts)


def element_order(numbers: Sequence[int] | np.ndarray) -> np.ndarray:
    """Permutation that sorts atoms by order rules 1-2 (stable for equal elements).

    Args:
        numbers: (n,) atomic numbers.

    Returns:
        (n,) indices; ``numbers[result]`` is in encoding order.
    """
    z = np.asarray(numbers, dtype=int)
    en = element_table()["en_pauling"][z]
    return np.lexsort((np.arange(z.size), z, en))


def encode_numbers(numbers: Sequence[int] | np.ndarray, max_atoms: int = MAX_ATOMS) -> CompositionEncoding:
    """Feature matrix of atoms already in encoding order (see :func:`encode_composition`)."""
    z = np.asarray(numbers, dtype=int).reshape(-1)
    if z.size > max_atoms:
        raise XtalkitError(
            f"{formula_string(z)} has {z.size} atoms per cell; AlphaCrystal-II handles at most {max_atoms}"
        )
    if z.size and (z.min() < 1 or z.max() > Z_MAX):
        raise XtalkitError(f"atomic numbers must be in 1-{Z_MAX}, got {sorted(set(z.tolist()))}")
    feats = np.zeros((max_atoms, NUM_FEATURES))
    feats[: z.size] = alphacrystal_features(z)
    mask = np.zeros(max_atoms, dtype=bool)
    mask[: z.size] = True
    return CompositionEncoding(formula=formula_string(z), numbers=z, features=feats, mask=mask)


def encode_composition(formula, max_atoms: int = MAX_ATOMS) -> CompositionEncoding:
    """The 12 × 11 feature matrix of a cell formula (preprint §2.2).

    Args:
        formula: Cell contents, as :func:`parse_formula` reads them.
        max_atoms: Rows of the matrix (paper: 12).

    Returns:
        The encoding; atom rows follow order rules 1-2 of the module docstring.

    Raises:
        XtalkitError: see :func:`parse_formula`.
    """
    elements = parse_formula(formula, max_atoms)
    numbers = np.concatenate([np.full(n, z, dtype=int) for z, n in elements])
    return encode_numbers(numbers, max_atoms)


def pair_mask(mask: np.ndarray) -> np.ndarray:
    """Valid pairs of an atom mask: both atoms present and i ≠ j.

    Args:
        mask: (..., n) boolean atom mask.

    Returns:
        (..., n, n) boolean pair mask.
    """
    m = np.asarray(mask, dtype=bool)
    pairs = m[..., :, None] & m[..., None, :]
    return pairs & ~np.eye(m.shape[-1], dtype=bool)


def distance_profiles(distances: np.ndarray, numbers: np.ndarray) -> np.ndarray:
    """Per-atom distance profiles (order rule 3 and the reconstruction loss).

    Args:
        distances: (..., L, L) distances, Å, atoms grouped by element.
        numbers: (L,) atomic numbers of the rows, equal elements contiguous.

    Returns:
        (..., L, L): for each atom, its distances to the atoms of each element,
        sorted within each element block (blocks in the order of ``numbers``).
    """
    d = np.asarray(distances, dtype=float)
    z = np.asarray(numbers)
    starts = np.flatnonzero(np.r_[True, z[1:] != z[:-1]])
    ends = np.r_[starts[1:], z.size]
    return np.concatenate([np.sort(d[..., s:e], axis=-1) for s, e in zip(starts, ends, strict=True)], axis=-1)


def canonical_order(numbers: np.ndarray, distances: np.ndarray, max_exhaustive: int = 5040) -> np.ndarray:
    """Order rules 1-3 of the module docstring for atoms with known distances.

    Args:
        numbers: (n,) atomic numbers.
        distances: (n, n) minimum-image distances, Å, same atom order.
        max_exhaustive: Largest number of within-run permutations searched
            exactly for rule 3b (beyond it: the greedy rule).

    Returns:
        (n,) indices into ``numbers``, in encoding order.
    """
    first = element_order(numbers)
    z = np.asarray(numbers)[first]
    d = np.round(np.asarray(distances, dtype=float)[np.ix_(first, first)], PROFILE_DECIMALS)
    prof = np.round(distance_profiles(d, z), PROFILE_DECIMALS)
    en = element_table()["en_pauling"][z]
    keys = [np.arange(z.size)] + [prof[:, k] for k in range(prof.shape[1] - 1, -1, -1)] + [z, en]
    by_profile = np.lexsort(keys)  # rules 1, 2, 3a; ties in input order
    groups, k = [], 0
    while k < by_profile.size:  # runs of equal (element, profile)
        end = k + 1
        while (
            end < by_profile.size
            and z[by_profile[end]] == z[by_profile[k]]
            and np.array_equal(prof[by_profile[end]], prof[by_profile[k]])
        ):
            end += 1
        groups.append((k, end))
        k = end
    ties = [(a, b) for a, b in groups if b - a > 1]
    if math.prod(math.factorial(b - a) for a, b in ties) <= max_exhaustive:
        # rule 3b, exact: the within-run permutation whose rounded matrix is lexicographically smallest
        perms = [np.array(list(itertools.permutations(range(a, b)))) for a, b in ties]
        grids = np.meshgrid(*[np.arange(len(p)) for p in perms], indexing="ij")
        cand = np.tile(np.arange(z.size), (grids[0].size if grids else 1, 1))
        for (a, b), p, g in zip(ties, perms, grids, strict=True):
            cand[:, a:b] = p[g.reshape(-1)]
        cand = by_profile[cand]
        flat = d[cand[:, :, None], cand[:, None, :]].reshape(len(cand), -1)
        best = np.lexsort(flat.T[::-1])[0]
        placed = cand[best].tolist()
    else:
        # rule 3b, greedy: next the atom with the smallest distances to those already placed
        placed = []
        for a, b in groups:
            group = list(by_profile[a:b])
            while group:
                nxt = min(group, key=lambda i: (tuple(d[i, placed]), i))
                placed.append(nxt)
                group.remove(nxt)
    return first[np.array(placed, dtype=int)]


def _as_structure(structure):
    """A pymatgen Structure from a Structure or an xtalkit Crystal."""
    from xtalkit.crystal.core import Crystal

    if isinstance(structure, Crystal):
        return structure.to_pymatgen()
    return structure


def structure_arrays(structure) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lattice (3, 3) Å, atomic numbers (n,) and fractional coordinates (n, 3) of an ordered structure.

    Args:
        structure: pymatgen ``Structure`` or :class:`~xtalkit.crystal.core.Crystal`.

    Raises:
        XtalkitError: if a site is disordered (partial occupancy or mixed species).
    """
    s = _as_structure(structure)
    if not s.is_ordered:
        raise XtalkitError(f"{s.composition.reduced_formula}: disordered sites have no distance matrix")
    numbers = np.array([site.specie.Z for site in s], dtype=int)
    return np.array(s.lattice.matrix, dtype=float), numbers, np.array(s.frac_coords, dtype=float)


def distance_target(structure, max_atoms: int = MAX_ATOMS) -> DistanceTarget:
    """Distance-matrix target of a known structure (preprint §2.3, §3.1).

    Args:
        structure: Ordered pymatgen ``Structure`` or xtalkit ``Crystal`` with at
            most ``max_atoms`` sites in its cell.
        max_atoms: Padding size (paper: 12).

    Returns:
        The target: distances in Å between minimum images, padded to
        (max_atoms, max_atoms), rows in the order rule of the module docstring.

    Raises:
        XtalkitError: too many atoms, disordered sites or unknown elements.
    """
    lattice, numbers, frac = structure_arrays(structure)
    if numbers.size > max_atoms:
        raise XtalkitError(
            f"{formula_string(numbers)} has {numbers.size} atoms per cell; "
            f"AlphaCrystal-II handles at most {max_atoms}"
        )
    d = distance_matrix(lattice, frac)
    order = canonical_order(numbers, d)
    full = np.zeros((max_atoms, max_atoms))
    n = order.size
    full[:n, :n] = d[np.ix_(order, order)]
    np.fill_diagonal(full, 0.0)
    return DistanceTarget(encoding=encode_numbers(numbers[order], max_atoms), distances=full, order=order)


@dataclasses.dataclass(frozen=True)
class DistanceBins:
    """Equal-width distance groups (preprint eq. 5).

    Attributes:
        d_min: Å, lower edge of group 0 (training-set minimum).
        d_max: Å, upper edge of group N−1 (training-set maximum).
        n_groups: N (paper: 5, 10 or 20).
    """

    d_min: float = PAPER_D_MIN
    d_max: float = PAPER_D_MAX
    n_groups: int = 10

    def __post_init__(self) -> None:
        if int(self.n_groups) < 2:
            raise XtalkitError(f"need at least 2 distance groups, got {self.n_groups}")
        if not (np.isfinite(self.d_min) and np.isfinite(self.d_max) and self.d_max > self.d_min >= 0):
            raise XtalkitError(
                f"distance range must satisfy 0 ≤ d_min < d_max, got {self.d_min}, {self.d_max}"
            )

    @classmethod
    def from_targets(
        cls, distances: Iterable[np.ndarray], masks: Iterable[np.ndarray], n_groups: int
    ) -> DistanceBins:
        """Bins spanning the smallest to the largest valid distance of a training set.

        Args:
            distances: (12, 12) distance matrices, Å.
            masks: matching (12, 12) pair masks (e.g. :attr:`DistanceTarget.pair_mask`).
            n_groups: N.

        Raises:
            XtalkitError: if there is no valid pair or all distances are equal.
        """
        values = [
            np.asarray(d, dtype=float)[np.asarray(m, dtype=bool)]
            for d, m in zip(distances, masks, strict=True)
        ]
        flat = np.concatenate(values) if values else np.zeros(0)
        if flat.size == 0:
            raise XtalkitError("no valid atom pair in the training targets")
        lo, hi = float(flat.min()), float(flat.max())
        if hi <= lo:
            raise XtalkitError(f"all training distances are equal ({lo:.4f} Å); cannot form groups")
        return cls(d_min=lo, d_max=hi, n_groups=int(n_groups))

    @property
    def width(self) -> float:
        """Å, group width ``(d_max − d_min) / N`` (eq. 5)."""
        return (self.d_max - self.d_min) / self.n_groups

    @property
    def edges(self) -> np.ndarray:
        """(N + 1,) group edges, Å."""
        return np.linspace(self.d_min, self.d_max, self.n_groups + 1)

    @property
    def centres(self) -> np.ndarray:
        """(N,) bin-centre distances, Å."""
        return self.d_min + (np.arange(self.n_groups) + 0.5) * self.width

    def classify(self, distances: np.ndarray) -> np.ndarray:
        """Group index of each distance (values outside [d_min, d_max] go to the end groups).

        Args:
            distances: (...) distances, Å.

        Returns:
            (...) int64 class indices in 0..N−1.
        """
        d = np.asarray(distances, dtype=float)
        k = np.floor((d - self.d_min) / self.width)
        return np.clip(k, 0, self.n_groups - 1).astype(np.int64)

    def one_hot(self, distances: np.ndarray) -> np.ndarray:
        """(..., N) one-hot encoding of the groups of ``distances``."""
        return np.eye(self.n_groups)[self.classify(distances)]

    def decode(self, classes: np.ndarray) -> np.ndarray:
        """Bin-centre distance (Å) of each class index, same shape as ``classes``."""
        k = np.asarray(classes)
        if k.size and (k.min() < 0 or k.max() >= self.n_groups):
            raise XtalkitError(f"class indices must be in 0..{self.n_groups - 1}")
        return self.centres[k.astype(np.int64)]


def stack_targets(
    targets: Sequence[DistanceTarget], bins: DistanceBins
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Batch arrays for training the distance-matrix network.

    Args:
        targets: B targets of the same padded size.
        bins: The discretization.

    Returns:
        ``features`` (B, 12, 11) float32, ``mask`` (B, 12) bool,
        ``classes`` (B, 12, 12) int64 (0 outside valid pairs), ``pair_mask`` (B, 12, 12) bool.
    """
    feats = np.stack([t.encoding.features for t in targets]).astype(np.float32)
    mask = np.stack([t.encoding.mask for t in targets])
    pmask = pair_mask(mask)
    classes = np.where(pmask, bins.classify(np.stack([t.distances for t in targets])), 0)
    return feats, mask, classes.astype(np.int64), pmask


def check_charge_balance(formula, *, warn: bool = True, max_atoms: int = MAX_ATOMS) -> ChargeBalance:
    """Whether a cell formula can be charge balanced with common oxidation states.

    Uses pymatgen ``Composition.oxi_state_guesses``. Intermetallics usually come
    out unbalanced: this is a flag for the user, not an error.

    Args:
        formula: Cell contents, as :func:`parse_formula` reads them.
        warn: Emit a ``UserWarning`` when unbalanced.
        max_atoms: As :func:`parse_formula`.

    Returns:
        The check result.

    Raises:
        XtalkitError: only if the formula cannot be read (see :func:`parse_formula`).
    """
    from pymatgen.core import Composition

    elements = parse_formula(formula, max_atoms)
    comp = Composition({SYMBOLS[z]: n for z, n in elements})
    guesses = comp.oxi_state_guesses()
    text = formula_string(np.concatenate([np.full(n, z) for z, n in elements]))
    if not guesses:
        if warn:
            warnings.warn(f"{text}: no charge-balanced assignment of common oxidation states", stacklevel=2)
        return ChargeBalance(formula=text, balanced=False, oxidation_states=None)
    return ChargeBalance(
        formula=text, balanced=True, oxidation_states={str(k): float(v) for k, v in guesses[0].items()}
    )


def predict_distances(network, formula) -> tuple[np.ndarray, np.ndarray]:
    """Predicted distance matrix of one cell formula, ready for reconstruction.

    Args:
        network: a trained :class:`~xtalkit.models.distmat.DistMatNet` (eval mode).
        formula: cell contents (e.g. ``"Ti2O4"``), see :func:`encode_composition`.

    Returns:
        ``distances`` (L, L) padded matrix of bin centres, Å, rows in encoding
        order (0 on the diagonal and padding), and the (L,) atom ``mask``.

    Raises:
        XtalkitError: if the formula cannot be encoded.
    """
    import torch

    enc = encode_composition(formula, network.max_atoms)
    device = network.feature_mean.device
    with torch.no_grad():
        f = torch.as_tensor(enc.features, dtype=torch.float32, device=device)[None]
        m = torch.as_tensor(enc.mask, device=device)[None]
        _, dist = network.predict(f, m)
    return dist[0].cpu().numpy().astype(float), enc.mask.copy()
