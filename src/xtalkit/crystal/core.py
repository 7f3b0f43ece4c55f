"""The :class:`Crystal` record: one periodic structure with its ADPs and metadata.

A ``Crystal`` always holds the *full unit cell* (symmetry already expanded), in
the Cartesian frame fixed by ``lattice``. Symmetry information from the source
(operations, which asymmetric-unit site each atom came from) is kept so that
writers can go back to the asymmetric unit.
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
from collections import Counter
from collections.abc import Iterable

import numpy as np

from xtalkit.crystal import adp
from xtalkit.elements import SYMBOLS, Z_MAX


class Flag(enum.StrEnum):
    """Conditions that leave a structure usable but that later stages may filter on."""

    PARTIAL_OCCUPANCY = "partial_occupancy"
    """At least one site has occupancy < 1 (beyond 1e-3)."""
    OCCUPANCY_ABOVE_ONE = "occupancy_above_one"
    """A refined occupancy above 1 (at most 1.1), kept as given."""
    DISORDER = "disorder"
    """Disorder groups or assemblies are declared (``_atom_site_disorder_group``)."""
    NO_TEMPERATURE = "no_temperature"
    """Neither ``_diffrn_ambient_temperature`` nor ``_cell_measurement_temperature`` is usable."""
    ASSUMED_TEMPERATURE = "assumed_temperature"
    """The temperature was not measured but assumed by the reader (e.g. AMCSD entries)."""
    MISSING_ADP = "missing_adp"
    """Some non-H atom has no displacement parameter at all."""
    ISOTROPIC_ADP = "isotropic_adp"
    """Some non-H atom has only an isotropic displacement parameter."""
    NON_POSITIVE_DEFINITE_ADP = "non_positive_definite_adp"
    """Some ADP tensor has an eigenvalue ≤ 0 (kept as given, never 'fixed')."""
    IMPLAUSIBLE_ADP = "implausible_adp"
    """Some tensor has an eigenvalue outside :data:`xtalkit.crystal.adp.PLAUSIBLE_EIGENVALUES`."""
    ASSUMED_P1 = "assumed_p1"
    """No symmetry information at all: the listed sites were taken as the whole cell."""
    CLOSE_CONTACTS = "close_contacts"
    """Two atoms of different asymmetric-unit sites are closer than 0.5 Å."""
    DEUTERIUM = "deuterium"
    """Deuterium (D) atoms were read as hydrogen."""


@dataclasses.dataclass(eq=False)
class Crystal:
    """A periodic crystal structure with displacement parameters.

    Attributes:
        lattice: (3, 3) lattice vectors as rows, Å. Cartesian = frac @ lattice.
        numbers: (n,) atomic numbers.
        frac: (n, 3) fractional coordinates, wrapped into [0, 1).
        occupancy: (n,) site occupancies.
        U_cart: (n, 3, 3) Cartesian displacement tensors, Å²; NaN where unknown.
        adp_type: (n,) per site ``"Uani"``, ``"Uiso"`` or ``""`` (none).
        labels: (n,) site labels (symmetry images share their parent's label).
        disorder_group: (n,) disorder group labels, ``""`` when none.
        asym_index: (n,) index of the asymmetric-unit site each atom came from.
        symops: symmetry operations (``"x,y,z"`` triplets) the cell was expanded with.
        space_group: Hermann-Mauguin symbol as read or identified, ``""`` if unknown.
        space_group_number: International Tables number, 0 if unknown.
        temperature: K, or None.
        r1: ``_refine_ls_R_factor_gt`` as a fraction, or None.
        source: file or database the structure came from.
        block: CIF data block name.
        flags: set of :class:`Flag` values.
        metadata: free-form provenance (string values only).
    """

    lattice: np.ndarray
    numbers: np.ndarray
    frac: np.ndarray
    occupancy: np.ndarray | None = None
    U_cart: np.ndarray | None = None
    adp_type: np.ndarray | None = None
    labels: np.ndarray | None = None
    disorder_group: np.ndarray | None = None
    asym_index: np.ndarray | None = None
    symops: tuple[str, ...] = ("x,y,z",)
    space_group: str = ""
    space_group_number: int = 0
    temperature: float | None = None
    r1: float | None = None
    source: str = ""
    block: str = ""
    flags: frozenset[Flag] = frozenset()
    metadata: dict[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self.lattice = np.array(self.lattice, dtype=float).reshape(3, 3)
        self.numbers = np.array(self.numbers, dtype=np.int64).reshape(-1)
        n = self.numbers.size
        self.frac = np.array(self.frac, dtype=float).reshape(n, 3)
        self.occupancy = np.ones(n) if self.occupancy is None else np.array(self.occupancy, dtype=float)
        if self.U_cart is None:
            self.U_cart = np.full((n, 3, 3), np.nan)
        else:
            self.U_cart = np.array(self.U_cart, dtype=float).reshape(n, 3, 3)
        if self.adp_type is None:
            has = np.isfinite(self.U_cart).all(axis=(1, 2))
            self.adp_type = np.where(has, "Uani", "")
        self.adp_type = np.array(self.adp_type, dtype="<U4")
        if self.labels is None:
            self.labels = np.array([f"{SYMBOLS[z]}{i + 1}" for i, z in enumerate(self.numbers)])
        self.labels = np.array(self.labels, dtype=object)
        self.disorder_group = (
            np.full(n, "", dtype=object)
            if self.disorder_group is None
            else np.array(self.disorder_group, dtype=object)
        )
        self.asym_index = (
            np.arange(n) if self.asym_index is None else np.array(self.asym_index, dtype=np.int64)
        )
        self.symops = tuple(self.symops)
        self.flags = frozenset(Flag(f) for f in self.flags)
        for name in ("occupancy", "adp_type", "labels", "disorder_group", "asym_index"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"{name} must have shape ({n},)")
        if n and (self.numbers.min() < 1 or self.numbers.max() > Z_MAX):
            raise ValueError(f"atomic numbers must be within 1-{Z_MAX}")

    # ------------------------------------------------------------------ basic views
    def __len__(self) -> int:
        return int(self.numbers.size)

    def __repr__(self) -> str:
        t = "?" if self.temperature is None else f"{self.temperature:g} K"
        sg = self.space_group or "?"
        return f"Crystal({self.formula}, {len(self)} sites, {sg}, T={t}, source={self.source!r})"

    @property
    def cart(self) -> np.ndarray:
        """(n, 3) Cartesian coordinates, Å."""
        return self.frac @ self.lattice

    @property
    def symbols(self) -> list[str]:
        """Element symbol of every site."""
        return [SYMBOLS[z] for z in self.numbers]

    @property
    def is_hydrogen(self) -> np.ndarray:
        """(n,) True for H (and D) sites."""
        return self.numbers == 1

    @property
    def volume(self) -> float:
        """Cell volume, Å³."""
        return float(abs(np.linalg.det(self.lattice)))

    @property
    def cell_parameters(self) -> tuple[float, float, float, float, float, float]:
        """(a, b, c) in Å and (α, β, γ) in degrees."""
        a, b, c = np.linalg.norm(self.lattice, axis=1)
        va, vb, vc = self.lattice

        def angle(u: np.ndarray, v: np.ndarray) -> float:
            cos = np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v))
            return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))

        return float(a), float(b), float(c), angle(vb, vc), angle(va, vc), angle(va, vb)

    @property
    def U_eq(self) -> np.ndarray:
        """(n,) equivalent isotropic displacement tr(U_cart)/3, Å²; NaN where unknown."""
        return adp.u_equiv(self.U_cart)

    @property
    def has_adp(self) -> np.ndarray:
        """(n,) True where a displacement tensor is known (isotropic or anisotropic)."""
        return np.isfinite(self.U_cart).all(axis=(1, 2))

    @property
    def adp_positive_definite(self) -> np.ndarray:
        """(n,) True where the tensor is known and all its eigenvalues are > 0."""
        return adp.is_positive_definite(self.U_cart)

    @property
    def composition(self) -> Counter:
        """Element counts of the cell, weighted by occupancy (symbol → float)."""
        c: Counter = Counter()
        for z, occ in zip(self.numbers, self.occupancy, strict=True):
            c[SYMBOLS[z]] += float(occ)
        return c

    @property
    def formula(self) -> str:
        """Hill-ordered formula of the cell contents, e.g. ``C4 H8 O2``."""
        comp = self.composition
        keys = sorted(comp)
        if "C" in comp:
            keys = ["C"] + (["H"] if "H" in comp else []) + [k for k in keys if k not in "CH"]

        def fmt(x: float) -> str:
            r = round(x, 3)
            return "" if r == 1 else (f"{r:g}")

        return " ".join(f"{k}{fmt(comp[k])}" for k in keys)

    @property
    def formula_units(self) -> tuple[str, int]:
        """Hill formula of one formula unit and the number Z of units in the cell.

        Z is the greatest common divisor of the (occupancy-weighted, rounded)
        element counts; with non-integer counts Z is 1 and the formula is the cell's.
        """
        comp = self.composition
        counts = [round(v, 3) for v in comp.values()]
        if not counts or any(abs(c - round(c)) > 1e-3 for c in counts):
            return self.formula, 1
        z = int(np.gcd.reduce([round(c) for c in counts]))
        reduced = self.replace(occupancy=self.occupancy / z)
        return reduced.formula, z

    @property
    def adp_status(self) -> str:
        """One of ``"anisotropic"``, ``"partial"``, ``"isotropic"``, ``"none"`` for non-H atoms.

        ``anisotropic``: every non-H site has an anisotropic tensor; ``isotropic``:
        every non-H site has a displacement but some only isotropic; ``partial``:
        some non-H sites have no displacement; ``none``: no displacements at all.
        """
        heavy = ~self.is_hydrogen
        if not heavy.any():
            heavy = np.ones(len(self), bool)
        types = self.adp_type[heavy]
        if (types == "Uani").all():
            return "anisotropic"
        if (types == "").all():
            return "none"
        if (types == "").any():
            return "partial"
        return "isotropic"

    # ------------------------------------------------------------------ I/O and interop
    @classmethod
    def from_cif(cls, path: str, block: str | None = None) -> Crystal:
        """Read one structure from a CIF file (see :func:`xtalkit.crystal.cif.read_crystal`)."""
        from xtalkit.crystal.cif import read_crystal

        return read_crystal(path, block)

    def to_cif(self, path: str, *, symmetry: str = "P1") -> None:
        """Write a CIF file atomically (see :func:`xtalkit.crystal.cif.write_cif`)."""
        from xtalkit.crystal.cif import write_cif

        write_cif(self, path, symmetry=symmetry)

    @classmethod
    def from_pymatgen(cls, structure, temperature: float | None = None) -> Crystal:
        """From a pymatgen ``Structure`` (see :mod:`xtalkit.crystal.convert`)."""
        from xtalkit.crystal.convert import from_pymatgen

        return from_pymatgen(structure, temperature=temperature)

    def to_pymatgen(self):
        """To a pymatgen ``Structure`` with the ADPs as site property ``U_cart``."""
        from xtalkit.crystal.convert import to_pymatgen

        return to_pymatgen(self)

    @classmethod
    def from_ase(cls, atoms, temperature: float | None = None) -> Crystal:
        """From a periodic ASE ``Atoms`` (see :mod:`xtalkit.crystal.convert`)."""
        from xtalkit.crystal.convert import from_ase

        return from_ase(atoms, temperature=temperature)

    def to_ase(self):
        """To an ASE ``Atoms`` with the ADPs in ``atoms.arrays["U_cart"]``."""
        from xtalkit.crystal.convert import to_ase

        return to_ase(self)

    # ------------------------------------------------------------------ derived crystals
    def replace(self, **changes) -> Crystal:
        """A copy with some fields replaced (arrays are copied, flags kept unless given)."""
        return dataclasses.replace(self, **changes)

    def select(self, mask_or_index: np.ndarray | Iterable[int]) -> Crystal:
        """A crystal with only the selected sites (boolean mask or index array)."""
        idx = np.asarray(mask_or_index)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        return self.replace(
            numbers=self.numbers[idx],
            frac=self.frac[idx],
            occupancy=self.occupancy[idx],
            U_cart=self.U_cart[idx],
            adp_type=self.adp_type[idx],
            labels=self.labels[idx],
            disorder_group=self.disorder_group[idx],
            asym_index=self.asym_index[idx],
        )

    def without_hydrogens(self) -> Crystal:
        """The crystal with H (and D) sites removed."""
        return self.select(~self.is_hydrogen)

    def with_adps(self, U_cart: np.ndarray, adp_type: str | np.ndarray = "Uani") -> Crystal:
        """A copy with new Cartesian ADPs (n, 3, 3) Å²; flags about ADPs are recomputed."""
        U = np.array(U_cart, dtype=float).reshape(len(self), 3, 3)
        types = np.broadcast_to(np.asarray(adp_type, dtype="<U4"), (len(self),)).copy()
        new = self.replace(U_cart=U, adp_type=types)
        new.flags = frozenset(f for f in self.flags if f not in _ADP_FLAGS) | adp_flags(new)
        return new

    def symmetrized_adps(self) -> Crystal:
        """A copy with ADPs made exactly consistent with the symmetry operations.

        See :func:`xtalkit.crystal.symmetrize.symmetrize_adps`.
        """
        from xtalkit.crystal.symmetrize import symmetrize_adps

        return symmetrize_adps(self)

    def standard_orientation(self) -> np.ndarray:
        """Rotation R that puts the cell in the CIF convention (a along x, b in the xy plane).

        ``self.rotated(R)`` has the lattice a CIF reader would build from the same
        cell parameters. Crystals read from CIFs are already in it (R = I).

        Raises:
            ValueError: for a left-handed lattice (no proper rotation exists).
        """
        import gemmi

        if np.linalg.det(self.lattice) <= 0:
            raise ValueError("left-handed lattice: reorder or negate a lattice vector first")
        std = np.array(gemmi.UnitCell(*self.cell_parameters).orth.mat).T
        R = (np.linalg.inv(self.lattice) @ std).T
        # polish to the nearest rotation (removes rounding in the cell parameters)
        u, _, vt = np.linalg.svd(R)
        return u @ vt

    def rotated(self, R: np.ndarray) -> Crystal:
        """The same crystal expressed in a rotated Cartesian frame.

        Lattice vectors become ``a' = R a`` and tensors ``U' = R U Rᵀ``; fractional
        coordinates are unchanged.

        Args:
            R: (3, 3) proper or improper orthogonal matrix.
        """
        R = np.asarray(R, dtype=float)
        return self.replace(lattice=self.lattice @ R.T, U_cart=adp.rotate(self.U_cart, R))

    def make_supercell(self, scaling: np.ndarray) -> Crystal:
        """The supercell with lattice ``scaling @ lattice``.

        Args:
            scaling: (3, 3) integer matrix with non-zero determinant (or 3 integers
                for a diagonal supercell).

        Returns:
            A crystal with ``|det(scaling)| · n`` sites in P1. The images of site
            ``k`` are consecutive (indices ``k·|det|`` to ``k·|det| + |det| − 1``),
            the first being the original atom wrapped into the supercell; ``asym_index`` and
            ``labels`` are inherited from the parent site.
        """
        P = np.asarray(scaling)
        if P.shape == (3,):
            P = np.diag(P)
        P = np.rint(P).astype(np.int64)
        det = round(abs(np.linalg.det(P)))
        if det == 0:
            raise ValueError("supercell matrix must have a non-zero determinant")
        pts = lattice_points_in_supercell(P)  # (det, 3) in supercell fractional coords
        Pinv = np.linalg.inv(P)
        new_frac = (self.frac @ Pinv)[:, None, :] + pts[None, :, :]  # (n, det, 3)
        new_frac = np.mod(new_frac, 1.0).reshape(-1, 3)
        new_frac[new_frac >= 1.0 - 1e-12] = 0.0
        rep = np.repeat(np.arange(len(self)), det)
        return self.select(rep).replace(
            lattice=P @ self.lattice,
            frac=new_frac,
            symops=("x,y,z",),
            space_group="P 1",
            space_group_number=1,
            metadata={**self.metadata, "supercell": " ".join(map(str, P.ravel().tolist()))},
        )


#: The flags :func:`adp_flags` computes: recomputed whenever the tensors change (:meth:`Crystal.with_adps`).
_ADP_FLAGS = (Flag.MISSING_ADP, Flag.ISOTROPIC_ADP, Flag.NON_POSITIVE_DEFINITE_ADP, Flag.IMPLAUSIBLE_ADP)


def adp_flags(crystal: Crystal) -> frozenset[Flag]:
    """ADP-related flags of a crystal (non-H atoms only for missing / isotropic)."""
    flags = set()
    heavy = ~crystal.is_hydrogen
    if (crystal.adp_type[heavy] == "").any():
        flags.add(Flag.MISSING_ADP)
    if (crystal.adp_type[heavy] == "Uiso").any():
        flags.add(Flag.ISOTROPIC_ADP)
    known = crystal.has_adp
    if (known & ~crystal.adp_positive_definite).any():
        flags.add(Flag.NON_POSITIVE_DEFINITE_ADP)
    if adp.implausible(crystal.U_cart).any():
        flags.add(Flag.IMPLAUSIBLE_ADP)
    return frozenset(flags)


def lattice_points_in_supercell(P: np.ndarray) -> np.ndarray:
    """Lattice points of the original cell inside the supercell ``P @ lattice``.

    Args:
        P: (3, 3) integer matrix, non-zero determinant.

    Returns:
        (|det P|, 3) fractional coordinates in the *supercell* basis, in [0, 1),
        the origin first, the others in lexicographic order of their integer
        coordinates in the original basis.
    """
    P = np.rint(np.asarray(P)).astype(np.int64)
    det = round(abs(np.linalg.det(P)))
    if det == 0:
        raise ValueError("supercell matrix is singular")
    corners = np.array(list(itertools.product((0, 1), repeat=3))) @ P
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    grid = np.stack(
        np.meshgrid(*(np.arange(a, b + 1) for a, b in zip(lo, hi, strict=True)), indexing="ij"), -1
    ).reshape(-1, 3)
    f = grid @ np.linalg.inv(P)
    eps = 1e-9
    inside = ((f > -eps) & (f < 1 - eps)).all(axis=1)
    pts, ints = f[inside], grid[inside]
    if len(pts) != det:
        raise RuntimeError(f"found {len(pts)} lattice points in a supercell of determinant {det}")
    order = np.lexsort(ints.T[::-1])
    pts = np.clip(pts[order], 0.0, None)
    zero = np.flatnonzero((ints[order] == 0).all(axis=1))[0]
    return np.concatenate([pts[zero : zero + 1], np.delete(pts, zero, axis=0)])
