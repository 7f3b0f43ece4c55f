r"""Space groups and lattice parameters from the composition (the MLatticeABC step of AlphaCrystal-II §2.1).

The paper takes the space group and the lattice of a formula from MLatticeABC
(its ref. 41, random forests on composition descriptors); neither is described
further. :class:`LatticeModel` is our stand-in, trained on the rows of a
:class:`~xtalkit.csp.data.DistanceDataset` (for ``mp.csv.gz``: folds 0-7, the
training and validation folds; fold 8 stays unseen for the CSP benchmark).

Features. ``x`` = :func:`xtalkit.property.baselines.composition_features` of
the cell: the 103 element fractions and 8 fraction-weighted element
properties (intensive: every cell of one compound gives the same ``x``).

Predictors (scikit-learn random forests, ``n_estimators`` trees, seeded):

1. **Crystal system** — a classifier of the 7 systems on ``x``: ``P_cs(s | x)``.
2. **Space group** — a classifier of the training set's space groups on ``x``:
   ``P_sg(g | x)``. The ranking score combines both (hierarchical):
   ``score(g) = P_cs(sys(g)) · P_sg(g) / Σ_{g' ∈ sys(g)} P_sg(g')``, i.e. the
   system from the coarser classifier and the group within the system from the
   finer one (0 when the group classifier gives the system no weight).
3. **Volume** — a regressor of ``ln(V / N)`` (Å³ per atom) on ``x``.
4. **Shape** — regressors on ``[x, one-hot crystal system, space-group number]``,
   each trained only on the systems where its parameter is free, in the
   conventional cell of pyxtal's standard setting (the setting of
   :func:`~xtalkit.csp.reconstruct.reconstruct`): ``ln(c/a)`` (all but cubic),
   ``ln(b/a)`` (triclinic, monoclinic, orthorhombic), β (triclinic,
   monoclinic; unique axis b), α and γ (triclinic).

Lattice of a cell formula with N atoms in space group g (:meth:`LatticeModel.lattice`):
the angles are those the system fixes (90°, or γ = 120° for hexagonal and
trigonal groups on hexagonal axes) or the predicted ones (clipped to 60-150°;
a triclinic triple that gives no cell is replaced by 90°), the ratios are 1
where the system ties lengths, and a follows from the predicted volume
``V = N · v̂`` with ``V = a³ (b/a)(c/a) √(1 − cos²α − cos²β − cos²γ + 2 cos α cos β cos γ)``.

Space groups that can hold the cell. :meth:`LatticeModel.top_space_groups`
returns, in order of score, only groups with at least one combination of
Wyckoff positions that holds the cell's atoms (:func:`holds_composition`,
the rule of pyxtal: a position without free parameters holds one set of atoms,
a position with free parameters any number of sets). When fewer than ``k``
groups with a positive score qualify, P1 (which holds anything) is added last.

Storage without pickle. Fitted forests are exported to plain arrays
(:class:`ForestArrays`: per node the split feature, threshold and children;
regressor leaf values; classifier leaf probabilities as a sparse CSR matrix)
and saved with :meth:`LatticeModel.save` in one ``.npz`` read with
``allow_pickle=False``, metadata as JSON. Prediction walks the trees in numpy
and reproduces scikit-learn's ``predict``/``predict_proba`` (features are
compared in float32 as scikit-learn does). Why not a torch MLP saved with
:func:`~xtalkit.models.checkpoint.save_model`: that format only rebuilds the
network classes registered in :mod:`xtalkit.models.checkpoint`, and forests
are what MLatticeABC uses and train in seconds on one core.

Measured (100 trees, one core): fitted on the 2 214 training and validation
rows among the first 3 000 rows of ``mp.csv.gz`` in 4 s, a 4.8 MB file; on
200 of its fold-8 rows the true space group is ranked first for 41 % and
within the first five for 70 %, and the volume per atom is off by 8.9 % on
average. The whole of folds 0-7 (≈ 10 900 rows) gives a file of ≈ 25 MB.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import math
import os
from pathlib import Path

import numpy as np

from xtalkit.csp.data import CRYSTAL_SYSTEMS, crystal_system, crystal_system_index
from xtalkit.errors import XtalkitError
from xtalkit.io import atomic_write

FORMAT = "xtalkit-lattice"
VERSION = 1

SHAPE_TARGETS: dict[str, tuple[str, ...]] = {
    "log_c_over_a": ("triclinic", "monoclinic", "orthorhombic", "tetragonal", "trigonal", "hexagonal"),
    "log_b_over_a": ("triclinic", "monoclinic", "orthorhombic"),
    "beta": ("triclinic", "monoclinic"),
    "alpha": ("triclinic",),
    "gamma": ("triclinic",),
}
"""Shape parameters and the crystal systems in which each is free (and learned)."""

ANGLE_RANGE = (60.0, 150.0)
"""Degrees; predicted free angles are clipped to this range."""


# ---------------------------------------------------------------------------------- forests as arrays
@dataclasses.dataclass(eq=False)
class ForestArrays:
    """A fitted scikit-learn forest as plain arrays (all trees' nodes concatenated).

    Attributes:
        feature: (n_nodes,) split feature, −1 at leaves.
        threshold: (n_nodes,) float64 split threshold (go left when ``x ≤ threshold``).
        left: (n_nodes,) global index of the left child (−1 at leaves).
        right: (n_nodes,) global index of the right child.
        roots: (T,) index of each tree's root.
        value: regressor: (n_nodes, n_outputs) leaf means; classifier: None.
        proba_indptr: classifier: (n_nodes + 1,) CSR row pointers of leaf probabilities.
        proba_classes: classifier: class indices (into ``classes``) of the CSR entries.
        proba_values: classifier: probabilities of the CSR entries.
        classes: classifier: (C,) class labels; regressor: empty.
    """

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    roots: np.ndarray
    value: np.ndarray | None = None
    proba_indptr: np.ndarray | None = None
    proba_classes: np.ndarray | None = None
    proba_values: np.ndarray | None = None
    classes: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))

    @property
    def is_classifier(self) -> bool:
        """True for a classifier forest."""
        return self.proba_indptr is not None

    @classmethod
    def from_sklearn(cls, forest) -> ForestArrays:
        """Export a fitted ``RandomForestRegressor`` / ``RandomForestClassifier`` (single output)."""
        feats, thr, lefts, rights, roots, values, probas = [], [], [], [], [], [], []
        offset = 0
        classifier = hasattr(forest, "classes_")
        for est in forest.estimators_:
            t = est.tree_
            n = t.node_count
            leaf = t.children_left == -1
            feats.append(np.where(leaf, -1, t.feature).astype(np.int32))
            thr.append(t.threshold.astype(np.float64))
            lefts.append(np.where(leaf, -1, t.children_left + offset).astype(np.int32))
            rights.append(np.where(leaf, -1, t.children_right + offset).astype(np.int32))
            roots.append(offset)
            if classifier:
                v = t.value[:, 0, :].astype(np.float64)
                s = v.sum(axis=1, keepdims=True)
                v = np.divide(v, s, out=np.zeros_like(v), where=s > 0)
                v[~leaf] = 0.0
                probas.append(v)
            else:
                values.append(t.value[:, :, 0].astype(np.float64))
            offset += n
        out = cls(
            feature=np.concatenate(feats),
            threshold=np.concatenate(thr),
            left=np.concatenate(lefts),
            right=np.concatenate(rights),
            roots=np.asarray(roots, dtype=np.int32),
        )
        if classifier:
            p = np.concatenate(probas)
            nz = p > 0
            out.proba_indptr = np.concatenate([[0], np.cumsum(nz.sum(axis=1))]).astype(np.int64)
            rows, cols = np.nonzero(nz)
            out.proba_classes = cols.astype(np.int32)
            out.proba_values = p[rows, cols].astype(np.float64)
            out.classes = np.asarray(forest.classes_)
        else:
            out.value = np.concatenate(values)
        return out

    def leaves(self, X: np.ndarray) -> np.ndarray:
        """(S, T) leaf index reached by each sample in each tree."""
        x = np.asarray(X, dtype=np.float32)  # scikit-learn compares float32 features with float64 thresholds
        node = np.tile(self.roots, (x.shape[0], 1)).astype(np.int64)
        rows = np.arange(x.shape[0])[:, None]
        while True:
            f = self.feature[node]
            inner = f >= 0
            if not inner.any():
                return node
            go_left = x[rows, np.where(inner, f, 0)] <= self.threshold[node]
            node = np.where(inner, np.where(go_left, self.left[node], self.right[node]), node)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Regressor: (S, n_outputs) mean over trees of the leaf values."""
        if self.value is None:
            raise XtalkitError("not a regression forest")
        return self.value[self.leaves(X)].mean(axis=1)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Classifier: (S, C) mean over trees of the leaf class probabilities."""
        if not self.is_classifier:
            raise XtalkitError("not a classification forest")
        leaves = self.leaves(X)
        S, T = leaves.shape
        out = np.zeros((S, self.classes.size))
        for s in range(S):
            for leaf in leaves[s]:
                a, b = self.proba_indptr[leaf], self.proba_indptr[leaf + 1]
                out[s, self.proba_classes[a:b]] += self.proba_values[a:b]
        return out / T

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """Named arrays for an ``.npz`` (``prefix/field``)."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if v is not None:
                out[f"{prefix}/{f.name}"] = np.asarray(v)
        return out

    @classmethod
    def from_arrays(cls, arrays: dict, prefix: str) -> ForestArrays:
        """Inverse of :meth:`arrays`."""
        kw = {}
        for f in dataclasses.fields(cls):
            key = f"{prefix}/{f.name}"
            if key in arrays:
                kw[f.name] = np.asarray(arrays[key])
        return cls(**kw)


# ------------------------------------------------------------------------------ Wyckoff feasibility
@functools.cache
def _group_info(space_group: int) -> tuple[str, str, tuple[tuple[int, int], ...]]:
    """(symbol, lattice type, ((multiplicity, 1 if free else 0), ...)) of a space group (pyxtal)."""
    from pyxtal.symmetry import Group

    g = Group(int(space_group))
    # pyxtal's own test of a free position (Group.list_wyckoff_combinations): trace of the first operation > 0
    positions = tuple(
        (int(g[i].multiplicity), int(np.trace(g[i].ops[0].rotation_matrix) > 0)) for i in range(len(g))
    )
    return str(g.symbol), str(g.lattice_type), positions


def space_group_symbol(space_group: int) -> str:
    """Hermann-Mauguin symbol of a space group (pyxtal's), e.g. 225 → ``"Fm-3m"``."""
    return _group_info(int(space_group))[0]


def holds_composition(space_group: int, counts) -> bool:
    """Whether some combination of Wyckoff positions of a group holds these atoms in its conventional cell.

    A Wyckoff position without free parameters holds one set of ``multiplicity``
    atoms of one element and cannot be used twice; a position with free
    parameters can be used any number of times. "Free" is pyxtal's test in
    ``Group.list_wyckoff_combinations`` (the enumeration
    :func:`~xtalkit.csp.reconstruct.reconstruct` uses): the trace of the
    position's first operation is positive. Exact and fast (no enumeration);
    pyxtal itself gives up (returns no combination) when the number of
    combinations to enumerate exceeds 10⁷, which this test does not mimic.

    Args:
        space_group: International number, 1-230.
        counts: atoms per element in the conventional cell, e.g. ``[4, 4]``.
    """
    if not 1 <= int(space_group) <= 230:
        raise XtalkitError(f"space group must be 1-230, got {space_group}")
    _, _, positions = _group_info(int(space_group))
    free = sorted({m for m, dof in positions if dof > 0})
    fixed: dict[int, int] = {}
    for m, dof in positions:
        if dof == 0:
            fixed[m] = fixed.get(m, 0) + 1
    mults = sorted(fixed)
    ns = sorted((int(c) for c in counts), reverse=True)

    @functools.cache
    def by_free(n: int) -> bool:  # n as a sum of free multiplicities (unbounded)
        if n == 0:
            return True
        return any(m <= n and by_free(n - m) for m in free)

    @functools.cache
    def solve(k: int, left: tuple[int, ...]) -> bool:
        if k == len(ns):
            return True

        def choose(j: int, remaining: int, used: tuple[int, ...]) -> bool:
            if j == len(mults):
                if not by_free(remaining):
                    return False
                return solve(k + 1, tuple(a - b for a, b in zip(left, used, strict=True)))
            m = mults[j]
            for u in range(min(left[j], remaining // m) + 1):
                if choose(j + 1, remaining - u * m, (*used, u)):
                    return True
            return False

        return choose(0, ns[k], ())

    return solve(0, tuple(fixed[m] for m in mults))


# ------------------------------------------------------------------------------------- the model
@dataclasses.dataclass
class LatticeConfig:
    """Hyperparameters of the forests (module docstring).

    Attributes:
        n_estimators: trees per forest.
        min_samples_leaf: smallest leaf.
        max_features_classifier: features tried per split of the classifiers (``"sqrt"`` or a fraction).
        max_features_regressor: fraction of features tried per split of the regressors.
        max_depth: depth limit (None: none).
        seed: ``random_state`` of every forest.
    """

    n_estimators: int = 100
    min_samples_leaf: int = 2
    max_features_classifier: str | float = "sqrt"
    max_features_regressor: float = 0.33
    max_depth: int | None = None
    seed: int = 0

    def as_dict(self) -> dict:
        """Plain-data form."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class SpaceGroupGuess:
    """One ranked space group.

    Attributes:
        number: International number.
        symbol: Hermann-Mauguin symbol.
        crystal_system: Its crystal system.
        score: Ranking score (module docstring), 0 for the P1 fallback.
    """

    number: int
    symbol: str
    crystal_system: str
    score: float


def _counts(formula) -> np.ndarray:
    """(103,) atoms per element of a cell formula (string, Composition, mapping) or a counts vector."""
    from xtalkit.csp.encoding import parse_formula
    from xtalkit.elements import Z_MAX

    if isinstance(formula, np.ndarray) and formula.shape == (Z_MAX,):
        return formula.astype(float)
    c = np.zeros(Z_MAX)
    for z, n in parse_formula(formula, max_atoms=10**6):
        c[z - 1] = n
    return c


def composition_matrix(counts: np.ndarray) -> np.ndarray:
    """(S, 111) composition features of (S, 103) element counts (module docstring)."""
    from xtalkit.property.baselines import composition_features

    return composition_features(np.atleast_2d(counts), weighted_means=True)


def _shape_matrix(x: np.ndarray, space_groups: np.ndarray) -> np.ndarray:
    systems = crystal_system_index(space_groups)
    onehot = np.eye(len(CRYSTAL_SYSTEMS))[systems]
    return np.concatenate([x, onehot, np.asarray(space_groups, dtype=float)[:, None]], axis=1)


def shape_targets(lattices: np.ndarray) -> dict[str, np.ndarray]:
    """Shape targets of (S, 6) conventional lattice parameters (Å, degrees)."""
    p = np.asarray(lattices, dtype=float)
    return {
        "log_c_over_a": np.log(p[:, 2] / p[:, 0]),
        "log_b_over_a": np.log(p[:, 1] / p[:, 0]),
        "alpha": p[:, 3],
        "beta": p[:, 4],
        "gamma": p[:, 5],
    }


def cell_volume(params) -> float:
    """Å³, volume of a cell with lattice parameters (a, b, c, α, β, γ) in Å and degrees."""
    a, b, c, al, be, ga = (float(v) for v in params)
    ca, cb, cg = (math.cos(math.radians(v)) for v in (al, be, ga))
    return a * b * c * math.sqrt(max(1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg, 0.0))


class LatticeModel:
    """Crystal system, space groups, volume and cell shape from the composition (module docstring).

    Args:
        forests: ``{"crystal_system", "space_group", "volume", <shape targets>...}`` forests
            (a shape target may be missing when the training set had no row of its systems).
        meta: plain data (training set, sizes, settings, scores).
    """

    def __init__(self, forests: dict[str, ForestArrays], meta: dict):
        self.forests = forests
        self.meta = meta

    # -------------------------------------------------------------- fitting
    @classmethod
    def fit(
        cls,
        counts: np.ndarray,
        space_groups: np.ndarray,
        lattices: np.ndarray,
        natoms: np.ndarray,
        config: LatticeConfig | None = None,
        meta: dict | None = None,
    ) -> LatticeModel:
        """Fit every forest.

        Args:
            counts: (S, 103) atoms per element (any cell of each compound).
            space_groups: (S,) international numbers.
            lattices: (S, 6) conventional-cell parameters in pyxtal's setting, Å and degrees.
            natoms: (S,) atoms in that conventional cell.
            config: forest settings.
            meta: extra plain data to keep.

        Raises:
            XtalkitError: fewer than 2 rows, or inconsistent shapes.
        """
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        cfg = config or LatticeConfig()
        counts = np.atleast_2d(np.asarray(counts, dtype=float))
        sg = np.asarray(space_groups, dtype=np.int64)
        lat = np.asarray(lattices, dtype=float)
        n = np.asarray(natoms, dtype=float)
        S = counts.shape[0]
        if S < 2 or sg.shape != (S,) or lat.shape != (S, 6) or n.shape != (S,):
            raise XtalkitError(
                f"need ≥ 2 rows of counts (S, 103), groups (S,), lattices (S, 6), atoms (S,); "
                f"got {counts.shape}, {sg.shape}, {lat.shape}, {n.shape}"
            )
        x = composition_matrix(counts)
        systems = crystal_system_index(sg)

        def classifier():
            return RandomForestClassifier(
                n_estimators=cfg.n_estimators,
                min_samples_leaf=cfg.min_samples_leaf,
                max_features=cfg.max_features_classifier,
                max_depth=cfg.max_depth,
                random_state=cfg.seed,
                n_jobs=1,
            )

        def regressor():
            return RandomForestRegressor(
                n_estimators=cfg.n_estimators,
                min_samples_leaf=cfg.min_samples_leaf,
                max_features=cfg.max_features_regressor,
                max_depth=cfg.max_depth,
                random_state=cfg.seed,
                n_jobs=1,
            )

        forests = {
            "crystal_system": ForestArrays.from_sklearn(classifier().fit(x, systems)),
            "space_group": ForestArrays.from_sklearn(classifier().fit(x, sg)),
        }
        volumes = np.array([cell_volume(p) for p in lat])
        forests["volume"] = ForestArrays.from_sklearn(regressor().fit(x, np.log(volumes / n)))
        xs = _shape_matrix(x, sg)
        targets = shape_targets(lat)
        trained = {}
        for name, where in SHAPE_TARGETS.items():
            keep = np.isin(systems, [CRYSTAL_SYSTEMS.index(s) for s in where])
            trained[name] = int(keep.sum())
            if keep.sum() >= 2:
                forests[name] = ForestArrays.from_sklearn(regressor().fit(xs[keep], targets[name][keep]))
        info = {
            "format": FORMAT,
            "version": VERSION,
            "config": cfg.as_dict(),
            "n_train": S,
            "shape_rows": trained,
            "space_groups_seen": int(np.unique(sg).size),
            **(meta or {}),
        }
        return cls(forests, info)

    # -------------------------------------------------------------- prediction
    def crystal_system_proba(self, formula) -> dict[str, float]:
        """``{crystal system: P_cs}`` for a cell formula."""
        f = self.forests["crystal_system"]
        p = f.predict_proba(composition_matrix(_counts(formula)))[0]
        out = dict.fromkeys(CRYSTAL_SYSTEMS, 0.0)
        for c, v in zip(f.classes, p, strict=True):
            out[CRYSTAL_SYSTEMS[int(c)]] = float(v)
        return out

    def space_group_scores(self, formula) -> list[tuple[int, float]]:
        """``[(group, score), ...]`` of every group seen in training, best first (module docstring)."""
        f = self.forests["space_group"]
        p = f.predict_proba(composition_matrix(_counts(formula)))[0]
        groups = f.classes.astype(int)
        systems = crystal_system_index(groups)
        pcs = self.crystal_system_proba(formula)
        score = np.zeros_like(p)
        for s, name in enumerate(CRYSTAL_SYSTEMS):
            sel = systems == s
            total = p[sel].sum()
            if total > 0:
                score[sel] = pcs[name] * p[sel] / total
        order = np.lexsort((groups, -score))
        return [(int(groups[i]), float(score[i])) for i in order]

    def top_space_groups(self, formula, k: int = 5, *, compatible: bool = True) -> list[SpaceGroupGuess]:
        """The ``k`` best-scoring groups (positive score) that can hold the cell, then P1 if short.

        Args:
            formula: cell contents (conventional cell of the group), e.g. ``"Na4Cl4"``.
            k: number of groups wanted.
            compatible: keep only groups with a Wyckoff combination for the cell
                (:func:`holds_composition`); False: the raw ranking (no P1 fallback).
        """
        counts = _counts(formula)
        cell = [int(c) for c in counts[counts > 0]]
        out = []
        for g, s in self.space_group_scores(counts):
            if len(out) >= k or s <= 0:
                break
            if not compatible or holds_composition(g, cell):
                out.append(SpaceGroupGuess(g, space_group_symbol(g), crystal_system(g), s))
        if compatible and len(out) < k and all(o.number != 1 for o in out):
            out.append(SpaceGroupGuess(1, space_group_symbol(1), "triclinic", 0.0))
        return out

    def volume_per_atom(self, formula) -> float:
        """Å³ per atom predicted for the composition."""
        return float(np.exp(self.forests["volume"].predict(composition_matrix(_counts(formula)))[0, 0]))

    def lattice(self, formula, space_group: int) -> np.ndarray:
        """(a, b, c, α, β, γ), Å and degrees, of the conventional cell of a group holding the formula.

        Args:
            formula: cell contents; N = its number of atoms sets the volume.
            space_group: International number; fixes the crystal system.

        Returns:
            (6,) lattice parameters fitting the group in pyxtal's setting (module docstring).
        """
        counts = _counts(formula)
        g = int(space_group)
        system = crystal_system(g)
        lattice_type = _group_info(g)[1]
        x = composition_matrix(counts)
        xs = _shape_matrix(x, np.array([g]))

        def shape(name: str, default: float) -> float:
            f = self.forests.get(name)
            if f is None or system not in SHAPE_TARGETS[name]:
                return default
            return float(f.predict(xs)[0, 0])

        rc = math.exp(shape("log_c_over_a", 0.0)) if system != "cubic" else 1.0
        rb = math.exp(shape("log_b_over_a", 0.0))
        if system in ("tetragonal", "trigonal", "hexagonal", "cubic"):
            rb = 1.0
        al, be, ga = 90.0, 90.0, 90.0
        if lattice_type in ("hexagonal", "trigonal") and system in ("hexagonal", "trigonal"):
            ga = 120.0
        if system in ("monoclinic", "triclinic"):
            be = float(np.clip(shape("beta", 90.0), *ANGLE_RANGE))
        if system == "triclinic":
            al = float(np.clip(shape("alpha", 90.0), *ANGLE_RANGE))
            ga = float(np.clip(shape("gamma", 90.0), *ANGLE_RANGE))
            if cell_volume((1, 1, 1, al, be, ga)) < 0.2:
                al, be, ga = 90.0, 90.0, 90.0
        volume = float(counts.sum()) * self.volume_per_atom(counts)
        unit = cell_volume((1.0, rb, rc, al, be, ga))
        a = (volume / unit) ** (1.0 / 3.0)
        return np.array([a, a * rb, a * rc, al, be, ga])

    # -------------------------------------------------------------- files
    def save(self, path: str | os.PathLike) -> Path:
        """Write the model as one ``.npz`` (no pickled objects) atomically."""
        arrays = {}
        for name, f in self.forests.items():
            arrays.update(f.arrays(name))
        arrays["meta_json"] = np.array(json.dumps({**self.meta, "forests": sorted(self.forests)}))
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        return atomic_write(path, buf.getvalue())

    @classmethod
    def load(cls, path: str | os.PathLike) -> LatticeModel:
        """Read a model written by :meth:`save` (``allow_pickle=False``).

        Raises:
            XtalkitError: missing file, not a lattice model, or another version.
        """
        path = Path(path)
        if not path.is_file():
            raise XtalkitError(f"{path}: no such lattice model file")
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            meta = json.loads(str(arrays.pop("meta_json")))
        except Exception as exc:
            raise XtalkitError(f"{path}: not a lattice model file ({type(exc).__name__})") from None
        if meta.get("format") != FORMAT:
            raise XtalkitError(f"{path}: not a lattice model file")
        if meta.get("version") != VERSION:
            raise XtalkitError(f"{path}: lattice model version {meta.get('version')}, expected {VERSION}")
        forests = {name: ForestArrays.from_arrays(arrays, name) for name in meta.get("forests", [])}
        for need in ("crystal_system", "space_group", "volume"):
            if need not in forests:
                raise XtalkitError(f"{path}: lattice model without its {need} forest")
        return cls(forests, meta)


def fit_lattice_model(
    dataset, splits: tuple[str, ...] = ("train", "val"), config: LatticeConfig | None = None
) -> LatticeModel:
    """Fit a :class:`LatticeModel` on the rows of some splits of a dataset (default: folds 0-7 of mp).

    Args:
        dataset: a :class:`~xtalkit.csp.data.DistanceDataset` (every row has symmetry, targets or not).
        splits: split labels to train on.
        config: forest settings.

    Raises:
        XtalkitError: fewer than 2 rows in those splits.
    """
    idx = np.flatnonzero(np.isin(dataset.split, list(splits)))
    if idx.size < 2:
        raise XtalkitError(f"{idx.size} rows in splits {', '.join(splits)}; need at least 2")
    sub = dataset.subset(idx)
    return LatticeModel.fit(
        sub.element_counts(),
        sub.space_group,
        sub.lattice,
        sub.conventional_atoms,
        config,
        meta={"data": dataset.meta.get("source"), "splits": list(splits)},
    )
