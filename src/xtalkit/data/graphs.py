"""Crystals as radius graphs for the message-passing models, and their batches.

:func:`crystal_graph` turns one structure into numpy arrays (atoms, edges,
edge vectors, targets); :func:`collate` stacks several into a
:class:`GraphBatch` of torch tensors. Edges follow the convention of
:mod:`xtalkit.geometry.neighbors`: ``src`` = neighbour j (sender), ``dst`` =
centre i (receiver), ``vec`` = p_j − p_i (CartNet eqs. 5-6).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch.utils.data import Dataset

from xtalkit.geometry.molecules import find_molecules
from xtalkit.geometry.neighbors import DEFAULT_CUTOFF, RadiusGraph, radius_graph


@dataclasses.dataclass
class GraphBatch:
    """A batch of crystal graphs (all tensors; N atoms, E edges, B structures).

    Attributes:
        z: (N,) atomic numbers.
        batch: (N,) structure index of each atom.
        temperature: (B,) K.
        src: (E,) sender atom (neighbour j).
        dst: (E,) receiver atom (centre i).
        vec: (E, 3) p_j − p_i, Å.
        dist: (E,) |vec|, Å.
        edge_batch: (E,) structure index of each edge.
        target: (N, 3, 3) Cartesian U targets, Å² (NaN where none).
        scored: (N,) atoms that are predicted and scored (non-H with a target).
        n_graphs: B.
        ids: structure ids.
        mol: (N,) molecule of each atom, numbered across the batch
            (:mod:`xtalkit.geometry.molecules`; every atom its own when unknown).
        mol_finite: (N,) atom belongs to a finite molecule (not an extended structure).
        rel: (N, 3) position from the molecule's centre of mass, Å (zero when not finite).
    """

    z: torch.Tensor
    batch: torch.Tensor
    temperature: torch.Tensor
    src: torch.Tensor
    dst: torch.Tensor
    vec: torch.Tensor
    dist: torch.Tensor
    edge_batch: torch.Tensor
    target: torch.Tensor
    scored: torch.Tensor
    n_graphs: int
    ids: list[str]
    mol: torch.Tensor
    mol_finite: torch.Tensor
    rel: torch.Tensor

    def to(self, device: torch.device | str) -> GraphBatch:
        """The batch on another device."""
        return dataclasses.replace(
            self,
            **{
                f.name: getattr(self, f.name).to(device)
                for f in dataclasses.fields(self)
                if isinstance(getattr(self, f.name), torch.Tensor)
            },
        )

    def rotated(self, R: torch.Tensor) -> GraphBatch:
        """The same batch with structure b rotated by ``R[b]``: vec → R vec, U → R U Rᵀ (SI S2).

        Positions from molecular centres rotate with the vectors: rel → R rel.

        Args:
            R: (B, 3, 3) rotation matrices.
        """
        Re = R[self.edge_batch]
        vec = torch.einsum("eij,ej->ei", Re, self.vec)
        Ra = R[self.batch]
        target = Ra @ self.target @ Ra.transpose(1, 2)
        rel = torch.einsum("nij,nj->ni", Ra, self.rel)
        return dataclasses.replace(self, vec=vec, target=target, rel=rel)

    @property
    def n_atoms(self) -> int:
        """N, atoms in the batch."""
        return int(self.z.numel())


def crystal_graph(
    numbers: np.ndarray,
    frac: np.ndarray,
    lattice: np.ndarray,
    *,
    temperature: float,
    U: np.ndarray | None = None,
    scored: np.ndarray | None = None,
    cutoff: float = DEFAULT_CUTOFF,
    hydrogens: bool = True,
    ident: str = "",
    molecules: bool = True,
    graph: RadiusGraph | None = None,
) -> dict:
    """One structure as graph arrays.

    Args:
        numbers: (n,) atomic numbers.
        frac: (n, 3) fractional coordinates.
        lattice: (3, 3) Å, rows.
        temperature: K.
        U: (n, 3, 3) targets (Å²) or None.
        scored: (n,) atoms to predict; default: every non-H atom.
        cutoff: graph radius, Å.
        hydrogens: keep H atoms as graph nodes (False: ablation 2 of CartNet Table 5).
        ident: structure id.
        molecules: also find the molecules (``mol``, ``mol_finite``, ``rel``: see
            :class:`GraphBatch`); bonds come from the graph's own edges.
        graph: the radius graph at ``cutoff`` of the atoms kept (all of them, or the non-H ones
            without ``hydrogens``) with this ``lattice``, if already built (the predictor's input
            checks build it); default: searched here.

    Returns:
        A dict of numpy arrays for :func:`collate`.
    """
    numbers = np.asarray(numbers)
    n = len(numbers)
    scored = (numbers != 1) if scored is None else np.asarray(scored, bool)
    U = np.full((n, 3, 3), np.nan) if U is None else np.asarray(U, float)
    if not hydrogens:
        keep = numbers != 1
        numbers, frac, U, scored = numbers[keep], np.asarray(frac)[keep], U[keep], scored[keep]
    frac = np.asarray(frac, float)
    g = radius_graph(lattice, frac, cutoff) if graph is None else graph
    if len(g.centers) and max(g.centers.max(), g.neighbors.max()) >= len(numbers):
        raise ValueError("the graph given is not a graph of these atoms")
    extra = {}
    if molecules:
        mols = find_molecules(numbers, frac, g.centers, g.neighbors, g.shifts, g.distances)
        extra = {
            "mol": mols.index,
            "mol_finite": mols.finite_atoms,
            "rel": mols.relative_positions(numbers, lattice),
        }
    return {
        **extra,
        "z": numbers.astype(np.int64),
        "temperature": float(temperature),
        "src": g.neighbors,
        "dst": g.centers,
        "vec": g.vectors,
        "dist": g.distances,
        "target": U,
        "scored": scored,
        "id": ident,
    }


def _molecule_arrays(samples: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batch-wide molecule index, finite mask and relative positions (defaults when absent)."""
    index, finite, rel, base = [], [], [], 0
    for s in samples:
        n = len(s["z"])
        mol = s.get("mol")
        if mol is None:
            mol, fin, r = np.arange(n), np.zeros(n, bool), np.zeros((n, 3))
        else:
            fin, r = s["mol_finite"], s["rel"]
        index.append(np.asarray(mol, np.int64) + base)
        finite.append(np.asarray(fin, bool))
        rel.append(np.asarray(r, np.float32).reshape(n, 3))
        base += int(np.max(mol)) + 1 if n else 0
    return np.concatenate(index), np.concatenate(finite), np.concatenate(rel)


def collate(samples: list[dict]) -> GraphBatch:
    """Stack graph dicts into one :class:`GraphBatch` (float32 geometry and targets)."""
    offsets = np.cumsum([0] + [len(s["z"]) for s in samples])
    mol, mol_finite, rel = _molecule_arrays(samples)
    src = np.concatenate([s["src"] + o for s, o in zip(samples, offsets, strict=False)])
    dst = np.concatenate([s["dst"] + o for s, o in zip(samples, offsets, strict=False)])
    return GraphBatch(
        z=torch.from_numpy(np.concatenate([s["z"] for s in samples])),
        batch=torch.from_numpy(np.repeat(np.arange(len(samples)), [len(s["z"]) for s in samples])),
        temperature=torch.tensor([s["temperature"] for s in samples], dtype=torch.float32),
        src=torch.from_numpy(src.astype(np.int64)),
        dst=torch.from_numpy(dst.astype(np.int64)),
        vec=torch.from_numpy(np.concatenate([s["vec"] for s in samples]).astype(np.float32)),
        dist=torch.from_numpy(np.concatenate([s["dist"] for s in samples]).astype(np.float32)),
        edge_batch=torch.from_numpy(np.repeat(np.arange(len(samples)), [len(s["src"]) for s in samples])),
        target=torch.from_numpy(np.concatenate([s["target"] for s in samples]).astype(np.float32)),
        scored=torch.from_numpy(np.concatenate([s["scored"] for s in samples])),
        n_graphs=len(samples),
        ids=[s["id"] for s in samples],
        mol=torch.from_numpy(mol),
        mol_finite=torch.from_numpy(mol_finite),
        rel=torch.from_numpy(rel),
    )


class ADPGraphDataset(Dataset):
    """Graphs of the structures of one or more :class:`~xtalkit.data.store.ADPStore` selections.

    Args:
        stores: stores (each already restricted to a split).
        cutoff: graph radius, Å.
        hydrogens: keep H atoms as nodes.
        exclude: ids to leave out (e.g. training structures repeated in a test split).
        molecules: find molecules in each graph (needed by the harmonic head's rigid-body part
            only; the search is most of the graph-building time).
    """

    def __init__(
        self, stores: list, cutoff: float = DEFAULT_CUTOFF, hydrogens: bool = True, exclude=(),
        molecules: bool = True,
    ):  # fmt: skip
        self.stores = list(stores)
        self.cutoff = cutoff
        self.hydrogens = hydrogens
        self.molecules = molecules
        excl = set(exclude)
        self.index = [
            (s, i) for s, st in enumerate(self.stores) for i, ident in enumerate(st.ids) if ident not in excl
        ]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, k: int) -> dict:
        s, i = self.index[k]
        sample = self.stores[s][i]
        return crystal_graph(
            sample.numbers,
            sample.frac,
            sample.lattice,
            temperature=sample.temperature,
            U=sample.U,
            scored=sample.scored,
            cutoff=self.cutoff,
            hydrogens=self.hydrogens,
            ident=sample.id,
            molecules=self.molecules,
        )

    def temperatures(self) -> np.ndarray:
        """(S,) temperatures of the structures in this dataset, K."""
        columns = [st.column("temperature") for st in self.stores]
        return np.array([columns[s][i] for s, i in self.index], dtype=float)
