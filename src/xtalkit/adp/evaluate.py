"""Predicting and scoring ADPs on datasets; the rotation check of CartNet §6.5.

Every metric is a mean over scored atoms (non-H atoms with an experimental
tensor), so large cells weigh in proportion to their atoms, as in the paper.

Rotation averaging (``average_rotations=K``): the prediction for a structure
is ``(1/K) Σ_k R_kᵀ U(R_k · x) R_k`` over K random rotations R_k applied to
the input geometry. Averaging over rotations projects the network onto its
rotation-equivariant part, so the result is closer to equivariant (exactly
equivariant only as K → ∞), at K times the cost.
"""

from __future__ import annotations

import numpy as np
import torch

from xtalkit.adp import metrics
from xtalkit.crystal.adp import u_equiv
from xtalkit.data.graphs import GraphBatch, collate
from xtalkit.geometry.rotations import random_rotations


@torch.no_grad()
def predict_batch(
    model: torch.nn.Module,
    batch: GraphBatch,
    *,
    average_rotations: int = 0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """U_cart (float64, Å², on the CPU) of the scored atoms of a batch, shape (M, 3, 3).

    The batch is moved to the model's device (a GPU when Lightning put the model there).

    Args:
        model: a CartNet with a Cholesky head, in eval mode.
        batch: the graphs.
        average_rotations: K > 0 averages ``R_kᵀ U(R_k x) R_k`` over K random rotations.
        generator: torch RNG for the rotations.
    """
    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    if average_rotations <= 0:
        return model(batch.to(device)).double().cpu()
    scored_batch = batch.batch[batch.scored]
    acc = torch.zeros(int(batch.scored.sum()), 3, 3, dtype=torch.float64)
    for _ in range(average_rotations):
        R = random_rotations(batch.n_graphs, generator=generator)
        U = model(batch.rotated(R).to(device)).double().cpu()
        Ra = R.double()[scored_batch]
        acc += Ra.transpose(1, 2) @ U @ Ra
    return acc / average_rotations


def _batches(dataset, batch_size: int):
    for start in range(0, len(dataset), batch_size):
        yield collate([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])


def evaluate(
    model: torch.nn.Module,
    dataset,
    *,
    batch_size: int = 8,
    average_rotations: int = 0,
    seed: int = 0,
    per_structure: bool = False,
    return_tensors: bool = False,
) -> dict:
    """MAE (Å²), S12 (%), IoU (%) and relative volume error of a model on a graph dataset.

    Args:
        model: CartNet (Cholesky head).
        dataset: an :class:`~xtalkit.data.graphs.ADPGraphDataset` (or any list of graph dicts).
        batch_size: structures per forward pass.
        average_rotations: see :func:`predict_batch`.
        seed: seed of the rotations.
        per_structure: also return per-structure MAE and IoU.
        return_tensors: also return ``"U_pred"`` and ``"U_true"``, (n, 3, 3) arrays of the
            scored atoms, Å² (e.g. for :func:`xtalkit.adp.analysis_plots.plot_parity`).

    Returns:
        Dict of atom-weighted means and counts.
    """
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    preds, trues, owners, ids, temps, pairs, vecs = [], [], [], [], [], [], []
    done = 0
    for batch in _batches(dataset, batch_size):
        p = predict_batch(model, batch, average_rotations=average_rotations, generator=gen)
        preds.append(p.numpy())
        trues.append(batch.target[batch.scored].double().numpy())
        owners.append(batch.batch[batch.scored].numpy() + len(ids))
        temps.append(batch.temperature.double().numpy())
        pair, vec = bonded_scored_pairs(batch)
        pairs.append(pair + done)
        vecs.append(vec)
        done += len(p)
        ids += batch.ids
    U_pred, U_true = np.concatenate(preds), np.concatenate(trues)
    res = score(
        U_pred, U_true, np.concatenate(owners), ids, per_structure,
        temperatures=np.concatenate(temps), bonds=(np.concatenate(pairs), np.concatenate(vecs)),
    )  # fmt: skip
    if return_tensors:
        res.update(U_pred=U_pred, U_true=U_true)
    return res


def bonded_scored_pairs(batch: GraphBatch) -> tuple[np.ndarray, np.ndarray]:
    """Covalently bonded pairs of scored atoms of a batch, each once.

    Returns:
        ``(pairs, vectors)``: (P, 2) rows into the batch's scored atoms (the order of
        ``model(batch)``) and (P, 3) vectors between them, Å.
    """
    from xtalkit.geometry.molecules import bonded_edges

    src, dst = batch.src.numpy(), batch.dst.numpy()
    scored = batch.scored.numpy()
    ok = bonded_edges(batch.z.numpy(), dst, src, batch.dist.double().numpy()) & scored[src] & scored[dst]
    ok &= src > dst  # the graph holds both directions
    row = np.cumsum(scored) - 1
    return np.stack([row[dst[ok]], row[src[ok]]], 1), batch.vec.double().numpy()[ok]


def score(
    pred: np.ndarray,
    true: np.ndarray,
    owner: np.ndarray | None = None,
    ids=None,
    per_structure=False,
    *,
    temperatures: np.ndarray | None = None,
    bonds: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict:
    """Atom-weighted metrics of predicted against true tensors (both (M, 3, 3), Å²).

    Args:
        pred: (M, 3, 3) predictions, Å².
        true: (M, 3, 3) targets, Å².
        owner: (M,) structure of each atom (index into ``ids``).
        ids: structure ids.
        per_structure: also return per-structure MAE and IoU.
        temperatures: (S,) K, one per structure: adds the median U_eq ratio in each
            temperature third of the structures (``ueq_ratio_by_temperature``).
        bonds: ``(pairs (P, 2), vectors (P, 3))`` of bonded atoms: adds the median Hirshfeld
            rigid-bond Δ of predictions and targets (``rigid_bond_delta``, ``..._true``), Å².

    Returns:
        ``mae`` (Å²), ``s12`` (%), ``iou`` (%), ``volume_relative_error`` (fraction);
        diagnostics of size against shape: ``ueq_mae`` (Å², error of U_eq = tr U/3),
        ``shape_iou`` (%, :func:`~xtalkit.adp.metrics.shape_iou`), the medians of
        λmax/λmin of predictions and targets; ``atoms``, ``structures``, and with
        ``per_structure`` the per-structure MAE and IoU.
    """
    mae = metrics.mae(pred, true)
    iou = metrics.iou(pred, true)
    out = {
        "atoms": len(pred),
        "structures": len(ids) if ids is not None else None,
        "mae": float(mae.mean()),
        "s12": float(metrics.s12(pred, true).mean()),
        "iou": float(100 * iou.mean()),
        "volume_relative_error": float(metrics.volume_relative_error(pred, true).mean()),
        # size against shape (metrics module docstring)
        "ueq_mae": float(np.abs(u_equiv(pred) - u_equiv(true)).mean()),
        "shape_iou": float(100 * metrics.shape_iou(pred, true).mean()),
        "median_anisotropy": float(np.median(metrics.anisotropy(pred))),
        "median_anisotropy_true": float(np.median(metrics.anisotropy(true))),
        "median_ueq_ratio": float(np.median(metrics.ueq_ratio(pred, true))),
    }
    if temperatures is not None and owner is not None:
        out["ueq_ratio_by_temperature"] = ueq_ratio_by_temperature(pred, true, owner, temperatures)
    if bonds is not None and len(bonds[0]):
        i, j = bonds[0][:, 0], bonds[0][:, 1]
        out["rigid_bond_delta"] = float(np.median(metrics.rigid_bond_delta(pred[i], pred[j], bonds[1])))
        out["rigid_bond_delta_true"] = float(np.median(metrics.rigid_bond_delta(true[i], true[j], bonds[1])))
        out["bonds"] = len(i)
    if per_structure and owner is not None:
        out["per_structure"] = {
            ident: {
                "mae": float(mae[owner == k].mean()),
                "iou": float(100 * iou[owner == k].mean()),
            }
            for k, ident in enumerate(ids)
            if (owner == k).any()
        }
    return out


def ueq_ratio_by_temperature(
    pred: np.ndarray, true: np.ndarray, owner: np.ndarray, temperatures: np.ndarray
) -> list[dict]:
    """Median predicted/true U_eq in each temperature third of the structures.

    Structures are sorted by temperature and cut into three groups of (nearly)
    equal count; each atom belongs to its structure's group.

    Args:
        pred: (M, 3, 3) Å².
        true: (M, 3, 3) Å².
        owner: (M,) structure of each atom.
        temperatures: (S,) K per structure.

    Returns:
        One dict per non-empty third: ``t_min``, ``t_max`` (K), ``structures``, ``atoms``,
        ``median_ueq_ratio``.
    """
    ratio = metrics.ueq_ratio(pred, true)
    temperatures = np.asarray(temperatures, float)
    order = np.argsort(temperatures, kind="stable")
    third = np.empty(len(order), int)
    third[order] = np.arange(len(order)) * 3 // max(len(order), 1)
    out = []
    for k in range(3):
        members = np.flatnonzero(third == k)
        sel = np.isin(owner, members)
        if not sel.any():
            continue
        t = temperatures[members]
        out.append(
            {"t_min": float(t.min()), "t_max": float(t.max()), "structures": len(members),
             "atoms": int(sel.sum()), "median_ueq_ratio": float(np.median(ratio[sel]))}
        )  # fmt: skip
    return out


@torch.no_grad()
def rotation_check(
    model: torch.nn.Module,
    dataset,
    *,
    rotations: int = 10,
    batch_size: int = 8,
    seed: int = 0,
    average_rotations: int = 0,
) -> dict:
    """How far the model is from equivariant (CartNet §6.5).

    For R random rotations per structure, compares the prediction for the
    rotated input, ``U(R x)``, with the rotated prediction, ``R U(x) Rᵀ``.

    Returns:
        Atom-weighted MAE (Å²), S12 (%) and IoU (%) between the two, pooled over rotations.
    """
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    a, b = [], []
    for batch in _batches(dataset, batch_size):
        base = predict_batch(model, batch, average_rotations=average_rotations, generator=gen)
        scored_batch = batch.batch[batch.scored]
        for _ in range(rotations):
            R = random_rotations(batch.n_graphs, generator=gen)
            rot = predict_batch(model, batch.rotated(R), average_rotations=average_rotations, generator=gen)
            Ra = R.double()[scored_batch]
            a.append(rot.numpy())
            b.append((Ra @ base @ Ra.transpose(1, 2)).numpy())
    res = score(np.concatenate(a), np.concatenate(b))
    res["rotations"] = rotations
    return res
