r"""Site-Net featurization (Moran et al., *Digital Discovery* 2, 1297 (2023), §2.1, §3.1) and batching.

Path of one structure (paper Fig. 1):

1. **Primitive P1 cell.** The cell is reduced to a primitive cell found by
   spglib (tolerance ``symprec`` Å; the geometry is kept as given, nothing is
   symmetrized) and symmetry is dropped: every atom is listed.
2. **Pseudo-cubic supercell** of at most N atoms (N = 500 in the paper; 50 and
   100 in its Table 2) with :func:`xtalkit.geometry.supercell.sitenet_supercell`.
   A primitive cell that alone has more than N atoms is used as it is.
3. **Site features** ``S⁰`` of every *query* site, 9 scalars (Table 1): Z,
   atomic weight (u), row, column, first ionization energy (eV), Pauling
   electronegativity, atomic radius (Å), elemental density (g/cm³) — from
   :func:`xtalkit.elements.sitenet_features` — and the oxidation state. The
   learned 92-dim element embedding that completes the paper's 101 site
   features lives in the model (:class:`xtalkit.models.sitenet.SiteNet`).
4. **Interaction features** ``I⁰`` between each query site *i* and every site
   *j* of the supercell, 2 per pair (Table 1): the minimum-image distance
   ``d_ij`` (Å, periodic in the *supercell*) and ``clip(ln C_ij, −c, c)`` with
   the Coulomb matrix ``C_ij = Z_i Z_j / d_ij`` (``C_ii = ½ Z_i^2.4`` for an
   atom with itself; natural log of C in e²/Å, clip c = 10 as in the authors'
   published configuration). The clip only bites on the self term of the
   heaviest atoms (½·Z^2.4 > e¹⁰ for Z ≥ 87) and on pairs closer than
   Z_i Z_j e⁻¹⁰ Å (< 0.4 Å even for U–U); the smallest values, ln(1/40 Å) ≈ −3.7
   for H–H at 40 Å, stay far from −10.

Query sites (§3.1, "the first modification"): with ``queries="unique"`` (the
default) the queries are the *unique* sites, one per atom of the primitive
cell, and the keys are all N supercell sites: ``I⁰`` has shape
``(n_primitive, N, 2)``. Every supercell site is a lattice translate of one
unique site, and translations by primitive lattice vectors map the periodic
supercell onto itself, so the environment of every image equals that of its
unique site; the model therefore gives key *j* the current features of the
unique site it is an image of (``key_site[j]``). ``queries="all"`` builds the
brute-force ``(N, N, 2)`` problem in which every supercell site is its own
query; it exists to check and measure the unique-site computation.

Oxidation state (the 9th scalar). The paper lists it among the site features
but does not say where it comes from. In the authors' code it is read from the
pymatgen species (``specie.oxi_state``) and set to 0 when the structure is not
decorated with oxidation states — which the Matbench structures are not, so
the published models effectively saw 0 everywhere. ``oxidation="zero"`` (the
default) reproduces that; ``"guess"`` uses pymatgen's
``Composition.oxi_state_guesses`` (first guess, per-element average; 0 when
there is none); an array gives the values per atom of the input cell.

A featurized structure is a dict of plain numpy arrays (float32 features by
default), so it can be cached with :func:`save_features` / :func:`load_features`.
:func:`collate` joins several into a :class:`SitenetBatch` without any padding
(paper §3.1 and Fig. 8): queries of all structures are stacked along one axis
with an index tensor, and the (query, key) pairs are flat.
:class:`UniqueSiteBatchSampler` packs structures into batches bounded by a
budget of unique sites (1200 in the paper's Table 1).
"""

from __future__ import annotations

import dataclasses
import io
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from xtalkit.crystal.core import Crystal
from xtalkit.elements import SITENET_FEATURES, sitenet_features
from xtalkit.geometry.matrices import coulomb_matrix, distance_matrix
from xtalkit.geometry.supercell import sitenet_supercell
from xtalkit.io import atomic_write

SITE_FEATURE_NAMES: tuple[str, ...] = (*SITENET_FEATURES, "oxidation_state")
"""Names of the 9 scalar site features, in column order."""
INTERACTION_FEATURE_NAMES: tuple[str, ...] = ("distance", "log_coulomb")
"""Names of the 2 interaction features: Å and ln(e²/Å)."""
DEFAULT_MAX_ATOMS = 500
"""N, atoms in the supercell (paper §2.1)."""
LOG_COULOMB_CLIP = 10.0
"""|ln C| is clipped at this value."""
DEFAULT_SITE_BUDGET = 1200
"""Unique sites per batch (paper Table 1)."""


# ---------------------------------------------------------------------------------------------- cells
def primitive_cell(crystal: Crystal, symprec: float = 0.01) -> tuple[Crystal, np.ndarray]:
    """The primitive P1 cell of a crystal, in the crystal's own Cartesian frame.

    The primitive lattice comes from spglib (``primitive_lattice`` of its
    symmetry dataset, snapped to the exact rational combination of the input
    lattice vectors); each primitive atom is the first input atom spglib maps
    to it, at its position as given (nothing is symmetrized or averaged).

    Args:
        crystal: an ordered structure (full cell).
        symprec: spglib distance tolerance, Å.

    Returns:
        ``(primitive, source)``: a P1 :class:`Crystal` and (n_primitive,) the index
        of the input atom each primitive atom was taken from. The input itself
        (and ``arange(n)``) when spglib finds no smaller cell or fails.
    """
    import spglib

    n = len(crystal)
    unchanged = (crystal, np.arange(n))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            ds = spglib.get_symmetry_dataset(
                (crystal.lattice, crystal.frac, crystal.numbers), symprec=symprec
            )
        except Exception:  # spglib raises on failure with its new error handling
            ds = None
    if ds is None:
        return unchanged
    mapping = np.asarray(ds.mapping_to_primitive, dtype=np.int64)
    n_prim = int(mapping.max()) + 1
    counts = np.bincount(mapping, minlength=n_prim)
    k = n // n_prim
    if n_prim >= n or n % n_prim or not (counts == k).all():
        return unchanged
    # L = M L_p with M integer and det M = k, so T = M⁻¹ has entries in (1/k)ℤ
    T = np.asarray(ds.primitive_lattice, dtype=float) @ np.linalg.inv(crystal.lattice)
    T = np.rint(T * k) / k
    if abs(abs(np.linalg.det(T)) * k - 1.0) > 1e-6:
        return unchanged
    lattice = T @ crystal.lattice
    if np.linalg.det(lattice) < 0:
        lattice = -lattice
    source = np.array([int(np.flatnonzero(mapping == p)[0]) for p in range(n_prim)])
    frac = np.mod(crystal.cart[source] @ np.linalg.inv(lattice), 1.0)
    frac[frac >= 1.0 - 1e-12] = 0.0
    prim = Crystal(
        lattice=lattice,
        numbers=crystal.numbers[source],
        frac=frac,
        source=crystal.source,
        block=crystal.block,
    )
    return prim, source


def oxidation_states(crystal: Crystal, method: str | np.ndarray = "zero") -> np.ndarray:
    """Oxidation state of every atom of ``crystal`` (the 9th site feature).

    Args:
        crystal: the structure.
        method: ``"zero"`` (0 for every atom, as the authors' code for structures
            without oxidation states), ``"guess"`` (pymatgen's first
            ``oxi_state_guesses`` result, per-element average; 0 if none), or an
            (n,) array of values.

    Returns:
        (n,) float64.
    """
    n = len(crystal)
    if not isinstance(method, str):
        values = np.asarray(method, dtype=float).reshape(-1)
        if values.shape != (n,):
            raise ValueError(f"oxidation states: expected {n} values, got {values.shape}")
        return values
    if method == "zero":
        return np.zeros(n)
    if method == "guess":
        from pymatgen.core import Composition

        comp = Composition(dict(crystal.composition))
        if len(comp) == 1:
            return np.zeros(n)  # an element
        try:
            guesses = comp.oxi_state_guesses(max_sites=-1)
        except ValueError:
            guesses = ()
        if not guesses:
            return np.zeros(n)
        best = guesses[0]
        return np.array([float(best.get(s, 0.0)) for s in crystal.symbols])
    raise ValueError(f"oxidation must be 'zero', 'guess' or an array, not {method!r}")


def _as_crystal(structure) -> Crystal:
    if isinstance(structure, Crystal):
        return structure
    return Crystal.from_pymatgen(structure)


# ---------------------------------------------------------------------------------------- featurize
def featurize(
    structure,
    max_atoms: int = DEFAULT_MAX_ATOMS,
    *,
    queries: str = "unique",
    primitive: bool = True,
    symprec: float = 0.01,
    oxidation: str | np.ndarray = "zero",
    log_coulomb_clip: float = LOG_COULOMB_CLIP,
    dtype: type = np.float32,
) -> dict[str, np.ndarray]:
    """Site-Net input arrays of one structure (module docstring).

    Args:
        structure: :class:`Crystal` or pymatgen ``Structure``; ordered (all
            occupancies 1).
        max_atoms: N, the atom budget of the supercell.
        queries: ``"unique"`` (unique sites of the primitive cell; paper §3.1) or
            ``"all"`` (every supercell site: the brute-force N × N problem).
        primitive: reduce to the primitive cell first (paper Fig. 1b). An array
            ``oxidation`` refers to the atoms of the input cell either way.
        symprec: tolerance of the primitive-cell search, Å.
        oxidation: see :func:`oxidation_states`.
        log_coulomb_clip: c in ``clip(ln C, −c, c)``.
        dtype: float type of the feature arrays.

    Returns:
        Dict of numpy arrays (Q queries, N supercell sites):

        * ``numbers`` (Q,) int64: atomic numbers of the queries.
        * ``site_features`` (Q, 9): :data:`SITE_FEATURE_NAMES`.
        * ``interaction_features`` (Q, N, 2): distance (Å) and clipped ln C.
        * ``key_site`` (N,) int64: the query whose site features key j carries
          (the unique site j is an image of; ``arange(N)`` for ``"all"``).
        * ``supercell_matrix`` (3, 3) int64: supercell lattice = P @ primitive lattice.
        * ``n_primitive``, ``max_atoms`` () int64 and ``log_coulomb_clip`` () float64:
          provenance, so that a cache can be checked.

    Raises:
        ValueError: for a disordered structure or unknown options.
    """
    if queries not in ("unique", "all"):
        raise ValueError("queries must be 'unique' or 'all'")
    crystal = _as_crystal(structure)
    if len(crystal) == 0:
        raise ValueError("empty structure")
    if np.abs(crystal.occupancy - 1.0).max() > 1e-3:
        raise ValueError("Site-Net needs an ordered structure (all occupancies 1)")
    oxi = oxidation_states(crystal, oxidation)
    if primitive:
        crystal, source = primitive_cell(crystal, symprec)
        oxi = oxi[source]
    n = len(crystal)
    sc = sitenet_supercell(crystal.lattice, n, max_atoms)
    sup = crystal.make_supercell(sc.matrix)
    det = len(sup) // n
    key_unique = np.repeat(np.arange(n), det)  # images of site k are consecutive (make_supercell)
    if queries == "unique":
        q_index = np.arange(n) * det  # first image of each site = the primitive atom itself
        key_site = key_unique
    else:
        q_index = np.arange(len(sup))
        key_site = np.arange(len(sup))
    q_numbers = sup.numbers[q_index]
    d = distance_matrix(sup.lattice, sup.frac[q_index], sup.frac)
    c = coulomb_matrix(q_numbers, sup.numbers, d)
    logc = np.clip(np.log(c), -log_coulomb_clip, log_coulomb_clip)
    site = np.concatenate([sitenet_features(q_numbers), oxi[key_unique[q_index]][:, None]], axis=1)
    return {
        "numbers": q_numbers.astype(np.int64),
        "site_features": site.astype(dtype),
        "interaction_features": np.stack([d, logc], axis=-1).astype(dtype),
        "key_site": key_site.astype(np.int64),
        "supercell_matrix": np.asarray(sc.matrix, dtype=np.int64),
        "n_primitive": np.array(n, dtype=np.int64),
        "max_atoms": np.array(max_atoms, dtype=np.int64),
        "log_coulomb_clip": np.array(log_coulomb_clip, dtype=np.float64),
    }


def save_features(path: str | os.PathLike, features: dict[str, np.ndarray]) -> Path:
    """Write a featurized structure as an ``.npz`` file, atomically."""
    buf = io.BytesIO()
    np.savez(buf, **features)
    return atomic_write(path, buf.getvalue())


def load_features(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a file written by :func:`save_features` (no pickles)."""
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


# ------------------------------------------------------------------------------------------- batches
@dataclasses.dataclass
class SitenetBatch:
    """Several featurized structures as flat tensors (Q queries, P pairs, B structures).

    The pairs of query q are its keys in supercell order and are contiguous;
    nothing is padded.

    Attributes:
        numbers: (Q,) atomic numbers of the queries.
        site_features: (Q, 9) scalar site features (:data:`SITE_FEATURE_NAMES`).
        site_batch: (Q,) structure index of each query (the index tensor of Fig. 8).
        pair_features: (P, 2) interaction features: distance (Å), clipped ln C.
        pair_query: (P,) query i of each pair (index into the Q axis).
        pair_key: (P,) query whose site features key j carries (index into the Q axis).
        n_structures: B.
        target: (B,) targets (NaN where unknown).
        ids: structure ids.
    """

    numbers: torch.Tensor
    site_features: torch.Tensor
    site_batch: torch.Tensor
    pair_features: torch.Tensor
    pair_query: torch.Tensor
    pair_key: torch.Tensor
    n_structures: int
    target: torch.Tensor
    ids: list[str]

    def to(self, device: torch.device | str) -> SitenetBatch:
        """The batch on another device."""
        return dataclasses.replace(
            self,
            **{
                f.name: getattr(self, f.name).to(device)
                for f in dataclasses.fields(self)
                if isinstance(getattr(self, f.name), torch.Tensor)
            },
        )

    @property
    def n_sites(self) -> int:
        """Q, query sites in the batch."""
        return int(self.numbers.numel())

    @property
    def n_pairs(self) -> int:
        """P, (query, key) pairs in the batch."""
        return int(self.pair_query.numel())

    @property
    def pair_distance(self) -> torch.Tensor:
        """(P,) minimum-image distance of each pair, Å."""
        return self.pair_features[:, 0]

    @property
    def pair_batch(self) -> torch.Tensor:
        """(P,) structure index of each pair."""
        return self.site_batch[self.pair_query]


def collate(samples: Sequence[dict], dtype: torch.dtype = torch.float32) -> SitenetBatch:
    """Join featurized structures (:func:`featurize` dicts) into one :class:`SitenetBatch`.

    Args:
        samples: dicts from :func:`featurize`, optionally with ``"target"``
            (float) and ``"id"`` (str).
        dtype: float type of the feature tensors.
    """
    n_q = [len(s["numbers"]) for s in samples]
    offsets = np.cumsum([0, *n_q])
    pair_query, pair_key, pair_feats = [], [], []
    for s, o in zip(samples, offsets, strict=False):
        q, n_keys = s["interaction_features"].shape[:2]
        key_site = np.asarray(s["key_site"])
        if key_site.shape != (n_keys,):
            raise ValueError("key_site does not match interaction_features")
        pair_query.append(np.repeat(np.arange(q), n_keys) + o)
        pair_key.append(np.tile(key_site, q) + o)
        pair_feats.append(np.asarray(s["interaction_features"]).reshape(-1, 2))

    def t(a: np.ndarray, dt: torch.dtype) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(a)).to(dt)

    target = [float(np.asarray(s.get("target", np.nan))) for s in samples]
    return SitenetBatch(
        numbers=t(np.concatenate([s["numbers"] for s in samples]), torch.long),
        site_features=t(np.concatenate([s["site_features"] for s in samples]), dtype),
        site_batch=t(np.repeat(np.arange(len(samples)), n_q), torch.long),
        pair_features=t(np.concatenate(pair_feats), dtype),
        pair_query=t(np.concatenate(pair_query), torch.long),
        pair_key=t(np.concatenate(pair_key), torch.long),
        n_structures=len(samples),
        target=torch.tensor(target, dtype=dtype),
        ids=[str(s.get("id", "")) for s in samples],
    )


class UniqueSiteBatchSampler(Sampler[list[int]]):
    """Batches of dataset indices holding at most ``max_sites`` query (unique) sites each.

    Structures are taken in (optionally shuffled) order and a batch is closed
    when the next structure would exceed the budget; a structure that alone
    exceeds it forms a batch of its own.

    Args:
        n_sites: (S,) query sites of every structure (``len(features["numbers"])``).
        max_sites: budget of unique sites per batch (paper: 1200).
        shuffle: shuffle the order every epoch.
        seed: seed of the shuffle; epoch e uses ``seed + e`` (see :meth:`set_epoch`).
    """

    def __init__(
        self,
        n_sites: Sequence[int],
        max_sites: int = DEFAULT_SITE_BUDGET,
        shuffle: bool = True,
        seed: int = 0,
    ):
        self.n_sites = np.asarray(n_sites, dtype=np.int64)
        if max_sites < 1:
            raise ValueError("max_sites must be at least 1")
        self.max_sites = int(max_sites)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the shuffle of epoch ``epoch``."""
        self.epoch = int(epoch)

    def _batches(self) -> list[list[int]]:
        order = np.arange(len(self.n_sites))
        if self.shuffle:
            order = np.random.default_rng(self.seed + self.epoch).permutation(order)
        batches: list[list[int]] = []
        current: list[int] = []
        used = 0
        for i in order.tolist():
            k = int(self.n_sites[i])
            if current and used + k > self.max_sites:
                batches.append(current)
                current, used = [], 0
            current.append(i)
            used += k
        if current:
            batches.append(current)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self._batches())

    def __len__(self) -> int:
        return len(self._batches())


class SitenetFeatureDataset(Dataset):
    """Featurized structures (dicts or ``.npz`` paths from :func:`save_features`) with targets.

    Args:
        items: featurized dicts, or paths read lazily with :func:`load_features`.
        targets: (S,) targets, or None.
        ids: structure ids, or None.
    """

    def __init__(
        self, items: Sequence, targets: Sequence[float] | None = None, ids: Sequence[str] | None = None
    ):
        self.items = list(items)
        self.targets = None if targets is None else np.asarray(targets, dtype=float)
        self.ids = None if ids is None else [str(i) for i in ids]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, k: int) -> dict:
        item = self.items[k]
        sample = dict(item) if isinstance(item, dict) else load_features(item)
        if self.targets is not None:
            sample["target"] = float(self.targets[k])
        if self.ids is not None:
            sample["id"] = self.ids[k]
        return sample

    def n_sites(self) -> np.ndarray:
        """(S,) query sites of every structure (for :class:`UniqueSiteBatchSampler`)."""
        return np.array([len(self[k]["numbers"]) for k in range(len(self))], dtype=np.int64)
