"""Predicting ADPs for a crystal with a trained CartNet.

:class:`ADPPredictor` wraps a model file and turns a :class:`Crystal` into a
crystal whose non-H atoms carry predicted ``U_cart`` (Å²):

* the temperature is the file's unless given explicitly; neither is an error;
* predictions for symmetry-equivalent atoms are made exactly consistent with
  the space group (:func:`~xtalkit.crystal.symmetrize.symmetrize_adps`), so
  the asymmetric unit written to a CIF is well defined;
* hydrogen atoms keep the displacement parameters of the input when they have
  one; otherwise they ride on the atom they are bonded to, as SHELXL's AFIX
  constraints do: ``U_iso(H) = 1.5 U_eq`` of the parent for H on O and on
  methyl carbons (C carrying three H), ``1.2 U_eq`` otherwise
  (``hydrogens="riding"`` applies this to every H);
* structures with partial occupancy or disorder are predicted, with a warning
  (the model was trained on ordered structures only); elements absent from the
  training data are predicted with a warning naming the atoms; a temperature
  outside the training range gives a warning;
* ``scale_to_input=True`` keeps the predicted shapes and rescales all
  predicted tensors of a structure by one factor so that their U_eq match the
  input's own U_eq or U_iso values on average (geometric mean over the non-H
  atoms that have one): for a refinement at the isotropic stage, or data
  whose overall displacement level (Wilson B) is known. Most of the error of
  a prediction from the structure alone is this one number per structure
  (README, ADP benchmark);
* cells whose graph has more than ``max_edges`` edges are refused with the
  numbers (memory grows with the edges: about 6 kB per edge at width 128);
* for the paper's Cholesky head, the structure is first rotated into the CIF
  standard orientation of its cell (a along x, b in the xy plane: the frame of
  every training structure) and the predictions are rotated back, so a rigid
  rotation of the input rotates the output exactly, ``U → R U Rᵀ``, whatever
  the network learned; the harmonic head is equivariant by construction and
  predicts in the input's own frame.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from xtalkit.crystal import adp
from xtalkit.crystal.core import Crystal, Flag
from xtalkit.data.graphs import collate, crystal_graph
from xtalkit.elements import symbol
from xtalkit.errors import CrystalError
from xtalkit.geometry.neighbors import RadiusGraph
from xtalkit.pretrained import DEFAULT_ADP_MODEL, load

#: Largest graph (edges) predicted by default.
MAX_EDGES = 1_500_000


@dataclasses.dataclass
class Prediction:
    """A predicted crystal with what the predictor noticed.

    Attributes:
        crystal: the input crystal with predicted U for non-H atoms (H per the riding rule).
        source: (n,) per atom ``"predicted"``, ``"input"`` (kept) or ``"riding"``.
        temperature: K used.
        model: model name or path.
        warnings: one-line warnings.
        implausible: (n,) True for atoms whose tensor has an eigenvalue outside
            :data:`~xtalkit.crystal.adp.PLAUSIBLE_EIGENVALUES` (also named in ``warnings``).
        isolated: (n,) True for atoms with no contact within the model's cutoff outside
            their own group (also named in ``warnings``).
    """

    crystal: Crystal
    source: np.ndarray
    temperature: float
    model: str
    warnings: list[str]
    implausible: np.ndarray | None = None
    isolated: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.crystal)
        if self.implausible is None:
            self.implausible = np.zeros(n, bool)
        if self.isolated is None:
            self.isolated = np.zeros(n, bool)


def _names(crystal: Crystal, mask: np.ndarray, limit: int = 8) -> str:
    """Labels of the masked atoms (asymmetric-unit labels once each), at most ``limit``."""
    labels = list(dict.fromkeys(str(lb) for lb in crystal.labels[mask]))
    more = f" and {len(labels) - limit} more" if len(labels) > limit else ""
    return ", ".join(labels[:limit]) + more


def input_checks(
    crystal: Crystal, cutoff: float, max_edges: int, *, lattice: np.ndarray | None = None
) -> tuple[list[str], np.ndarray, RadiusGraph]:
    """Refuse inputs a model cannot answer sensibly; warn about doubtful atoms.

    Refused (CrystalError): a graph estimated or found above ``max_edges``; ordered atoms
    closer than :data:`~xtalkit.geometry.contacts.MIN_DISTANCE` (duplicated rows); a
    structure in which nothing touches anything else within ``cutoff`` (a molecule alone
    in a large cell). Warned: single atoms or groups without contacts.

    Args:
        crystal: the structure (n atoms).
        cutoff: radius of the model's graph, Å.
        max_edges: the most directed edges accepted.
        lattice: (3, 3) the crystal's lattice vectors (rows, Å) in the Cartesian frame the
            model reads, e.g. ``crystal.lattice @ Q.T`` for a rotation Q; default: the
            crystal's own. Every check is the same in any frame; the graph is returned in this one.

    Returns:
        ``(warnings, isolated, graph)``: one-line warnings, the (n,) mask of isolated atoms and
        the radius graph at ``cutoff`` over all n atoms in the frame of ``lattice``
        (:func:`~xtalkit.geometry.neighbors.radius_graph`), for the model to reuse.
    """
    from xtalkit.geometry.contacts import MIN_DISTANCE, estimated_edges, isolated, stacked_pairs
    from xtalkit.geometry.neighbors import radius_graph

    where = {"source": crystal.source or None, "block": crystal.block or None}
    est = estimated_edges(crystal, cutoff)
    if est > 2 * max_edges:
        raise CrystalError(
            f"cell too large: {len(crystal)} atoms in {crystal.volume:.4g} Å³ give about {est:.3g} edges at "
            f"{cutoff:g} Å, above the limit of {max_edges}",
            **where,
        )
    graph = radius_graph(crystal.lattice if lattice is None else lattice, crystal.frac, cutoff)
    if len(graph) > max_edges:
        raise CrystalError(
            f"cell too large: {len(crystal)} atoms give {len(graph)} edges at {cutoff:g} Å, "
            f"above the limit of {max_edges}",
            **where,
        )
    pairs = stacked_pairs(crystal, graph)
    if len(pairs):
        i, j = pairs[0]
        d = graph.distances[(graph.centers == i) & (graph.neighbors == j)].min()
        raise CrystalError(
            f"atoms {crystal.labels[i]} and {crystal.labels[j]} are {d:.2f} Å apart (pairs closer "
            f"than {MIN_DISTANCE} Å: {len(pairs)}): duplicated atoms; not predicted",
            **where,
        )
    iso = isolated(graph)
    if iso.all_isolated:
        raise CrystalError(
            f"no atom has a contact within {cutoff:g} Å outside its own molecule: not a crystal packing "
            "(a molecule alone in a large cell?); not predicted",
            **where,
        )
    warnings = []
    heavy = ~crystal.is_hydrogen
    if (iso.isolated_atoms & heavy).any():
        warnings.append(
            f"atoms {_names(crystal, iso.isolated_atoms & heavy)} touch nothing else within {cutoff:g} Å: "
            "their ellipsoids are a guess"
        )
    return warnings, iso.isolated_atoms, graph


def riding_hydrogens(
    crystal: Crystal, U: np.ndarray, only_missing: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic H tensors riding on their parents (see module docstring).

    Args:
        crystal: the structure.
        U: (n, 3, 3) tensors with the non-H atoms filled in, Å².
        only_missing: (n,) H atoms to fill.

    Returns:
        ``(U, filled)``: updated tensors and a mask of the H atoms that got one.
    """
    from xtalkit.geometry.neighbors import radius_graph

    U = U.copy()
    filled = np.zeros(len(crystal), bool)
    if not only_missing.any():
        return U, filled
    g = radius_graph(crystal, cutoff=1.4)
    is_h = crystal.is_hydrogen
    n_h = np.zeros(len(crystal), int)
    close_h = is_h[g.neighbors] & (g.distances < 1.2)
    np.add.at(n_h, g.centers[close_h], 1)
    for h in np.flatnonzero(only_missing & is_h):
        cand = (g.centers == h) & ~is_h[g.neighbors]
        if not cand.any():
            continue
        parent = int(g.neighbors[cand][np.argmin(g.distances[cand])])
        if not np.isfinite(U[parent]).all():
            continue
        z = crystal.numbers[parent]
        factor = 1.5 if z == 8 or (z == 6 and n_h[parent] >= 3) else 1.2
        U[h] = factor * adp.u_equiv(U[parent]) * np.eye(3)
        filled[h] = True
    return U, filled


def overall_scale(U_pred: np.ndarray, U_ref: np.ndarray) -> float:
    """One factor s for which ``s · U_pred`` matches ``U_ref`` in U_eq on average (geometric mean).

    Args:
        U_pred: (n, 3, 3) predicted tensors, Å².
        U_ref: (n, 3, 3) reference tensors (anisotropic or isotropic), Å².

    Returns:
        ``exp(mean(ln(U_eq,ref / U_eq,pred)))``.
    """
    ratio = adp.u_equiv(np.asarray(U_ref)) / adp.u_equiv(np.asarray(U_pred))
    if len(ratio) == 0 or not (np.isfinite(ratio).all() and (ratio > 0).all()):
        raise ValueError("overall_scale needs tensors with positive, finite U_eq")
    return float(np.exp(np.mean(np.log(ratio))))


class ADPPredictor:
    """A trained ADP model ready to predict.

    Args:
        model: shipped model name (see ``xtalkit models list``) or a model-file path.
        max_edges: refuse graphs larger than this.
    """

    def __init__(self, model: str = DEFAULT_ADP_MODEL, max_edges: int = MAX_EDGES):
        loaded = load(model, task="adp")
        self.model, self.metadata, self.name = loaded.model, loaded.metadata, loaded.name
        if not self.model.predicts_adps:
            raise CrystalError(f"{self.name}: not an ADP model (head {self.model.head_kind!r})")
        self.max_edges = max_edges
        counts = self.metadata.get("train_element_counts") or {}
        self.seen = {int(z) for z, n in counts.items() if n > 0}
        self.t_range = self.metadata.get("train_temperature_range")

    @torch.no_grad()
    def predict(
        self,
        crystal: Crystal,
        temperature: float | None = None,
        *,
        hydrogens: str = "keep",
        average_rotations: int = 0,
        symmetrize: bool = True,
        seed: int = 0,
        scale_to_input: bool = False,
    ) -> Prediction:
        """Predict the ADPs of every non-H atom.

        Args:
            crystal: the structure (ADPs in it are ignored for non-H atoms).
            temperature: K; default: the crystal's.
            hydrogens: ``"keep"`` (input values where present, else riding) or ``"riding"``.
            average_rotations: K > 0 averages predictions over K random rotations (models that
                are not equivariant by construction only; ignored for the harmonic head, whose
                predictions rotate exactly with the input).
            symmetrize: make the tensors consistent with the crystal's symmetry operations.
            seed: seed of the rotations.
            scale_to_input: rescale the predictions to the input's own U_eq/U_iso values on
                average (module docstring); a warning says the factor, or that there was nothing
                to scale to.

        Raises:
            CrystalError: no temperature, a graph above ``max_edges``, stacked atoms or no packing
                (:func:`input_checks`).
        """
        from xtalkit.adp.evaluate import predict_batch

        where = crystal.source or None
        T = crystal.temperature if temperature is None else float(temperature)
        if T is None:
            raise CrystalError(
                "no temperature in the file: give one (-T K)", source=where, block=crystal.block
            )
        if not 0 < T < 5000:
            raise CrystalError(f"temperature {T} K is not physical", source=where, block=crystal.block)
        if hydrogens not in ("keep", "riding"):
            raise ValueError("hydrogens must be 'keep' or 'riding'")
        warnings: list[str] = []
        if Flag.PARTIAL_OCCUPANCY in crystal.flags or Flag.DISORDER in crystal.flags:
            warnings.append(
                "partial occupancy or disorder: predicted for the full ordered model, which the model was "
                "trained on; disordered sites are less reliable"
            )
        unseen = sorted({symbol(z) for z in crystal.numbers if self.seen and z not in self.seen and z != 1})
        if unseen:
            where = "; ".join(f"{el}: {_names(crystal, np.array(crystal.symbols) == el, 4)}" for el in unseen)
            warnings.append(f"elements not in the training data ({where})")
        if self.t_range and not (self.t_range[0] <= T <= self.t_range[1]):
            warnings.append(
                f"temperature {T:g} K is outside the training range {self.t_range[0]:g}-{self.t_range[1]:g} K"
            )
        # an equivariant head needs no canonical frame and no averaging: it is exact by construction
        Q = np.eye(3) if self.model.equivariant else crystal.standard_orientation()
        if self.model.equivariant:
            average_rotations = 0
        lattice = crystal.lattice @ Q.T
        check_warnings, isolated_atoms, graph = input_checks(
            crystal, self.model.cutoff, self.max_edges, lattice=lattice
        )
        warnings += check_warnings
        g = crystal_graph(
            crystal.numbers,
            crystal.frac,
            lattice,
            temperature=T,
            cutoff=self.model.cutoff,
            hydrogens=self.model.hydrogens,
            ident=crystal.source,
            molecules=self.model.equivariant,
            # the network reads the graph of the checks (searched once), unless it sees non-H atoms only
            graph=graph if self.model.hydrogens else None,
        )
        batch = collate([g])
        gen = torch.Generator().manual_seed(seed)
        pred = predict_batch(self.model, batch, average_rotations=average_rotations, generator=gen).numpy()
        pred = Q.T @ pred @ Q  # back to the input's frame
        U = np.full((len(crystal), 3, 3), np.nan)
        heavy = np.flatnonzero(~crystal.is_hydrogen)
        U[heavy] = pred
        if scale_to_input:
            ref = heavy[crystal.has_adp[heavy]]
            ref = ref[np.isfinite(crystal.U_eq[ref]) & (crystal.U_eq[ref] > 0)]
            if len(ref):
                factor = overall_scale(U[ref], crystal.U_cart[ref])
                U[heavy] *= factor
                warnings.append(
                    f"scaled to the input's displacement level: factor {factor:.3f} from {len(ref)} atoms"
                )
            else:
                warnings.append("--scale-to-input: the input has no U values of non-H atoms; not scaled")
        if symmetrize:  # before riding, so that H atoms ride on the symmetrized parents
            U = crystal.replace(U_cart=U).symmetrized_adps().U_cart
        types = np.where(crystal.is_hydrogen, "", "Uani").astype("<U4")
        source = np.where(crystal.is_hydrogen, "", "predicted").astype(object)
        h_known = crystal.is_hydrogen & crystal.has_adp
        if (
            hydrogens == "keep"
            and h_known.any()
            and (crystal.temperature is None or abs(T - crystal.temperature) > 0.5)
        ):
            file_t = "an unknown temperature" if crystal.temperature is None else f"{crystal.temperature:g} K"
            warnings.append(
                f"H atoms ride on their parents (1.2 or 1.5 U_eq): their file values are for {file_t}, "
                f"not {T:g} K"
            )
            hydrogens = "riding"
        if hydrogens == "keep":
            U[h_known] = crystal.U_cart[h_known]
            types[h_known] = crystal.adp_type[h_known]
            source[h_known] = "input"
        missing_h = crystal.is_hydrogen & ~np.isfinite(U).all(axis=(1, 2))
        U, filled = riding_hydrogens(crystal, U, missing_h)
        types[filled] = "Uiso"
        source[filled] = "riding"
        out = crystal.with_adps(U, types)
        out.temperature = T
        out.metadata = {**crystal.metadata, "adp_model": self.name, "adp_temperature": f"{T:g}"}
        bad = adp.implausible(U) & (source == "predicted")
        if bad.any():
            ev = adp.eigenvalues(U[bad])
            lo, hi = adp.PLAUSIBLE_EIGENVALUES
            warnings.append(
                f"predicted U of atoms {_names(crystal, bad)} outside the physical range {lo:g}-{hi:g} Å² "
                f"(eigenvalues {ev.min():.3g} to {ev.max():.3g} Å²): flagged, do not trust them"
            )
        return Prediction(out, source, T, self.name, warnings, implausible=bad, isolated=isolated_atoms)
