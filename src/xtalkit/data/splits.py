"""Train/validation/test splits: grouped (repeated structures together), random, MatFormer, Matbench.

Two structures are "the same structure" when they have the same formula unit
and their cell signatures (sorted Niggli-reduced lengths and volume per atom,
see :func:`xtalkit.data.store.cell_signature`) agree within a relative
tolerance: the same compound measured at another temperature or deposited
twice. Sameness is made transitive with union-find, the resulting groups are
shuffled with a seed and assigned whole to test, validation and training.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from xtalkit.errors import XtalkitError

#: Matbench's KFold seed and number of folds.
MATBENCH_SEED = 18012019
MATBENCH_FOLDS = 5
#: Seed of the MatFormer (ALIGNN/JARVIS) random split.
MATFORMER_SEED = 123


def group_structures(formulas: list[str], signatures: np.ndarray, rel_tol: float = 0.03) -> np.ndarray:
    """Group index of every structure (repeated structures share a group).

    Args:
        formulas: (S,) formula unit of each structure.
        signatures: (S, 4) cell signatures.
        rel_tol: relative tolerance on every signature component.

    Returns:
        (S,) int64 group ids, numbered by first appearance.
    """
    n = len(formulas)
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    by_formula: dict[str, list[int]] = defaultdict(list)
    for i, f in enumerate(formulas):
        by_formula[f].append(i)
    sig = np.asarray(signatures, dtype=float)
    for members in by_formula.values():
        if len(members) < 2:
            continue
        m = np.array(members)
        s = sig[m]
        close = (np.abs(s[:, None, :] - s[None, :, :]) <= rel_tol * np.abs(s[:, None, :])).all(axis=2)
        for a, b in zip(*np.nonzero(np.triu(close, 1)), strict=True):
            ra, rb = find(m[a]), find(m[b])
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    roots = np.array([find(i) for i in range(n)])
    _, first, inverse = np.unique(roots, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))  # renumber groups by first appearance
    return order[inverse].astype(np.int64)


def grouped_split(
    groups: np.ndarray, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0
) -> np.ndarray:
    """Assign whole groups to train (0), validation (1) and test (2).

    Groups are visited in a seeded random order; each goes to test until test
    holds its fraction of the structures, then to validation, then to training.

    Returns:
        (S,) int array of split codes.
    """
    if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-9 or min(fractions) < 0:
        raise ValueError("fractions must be three non-negative numbers summing to 1")
    groups = np.asarray(groups)
    n = len(groups)
    ids, sizes = np.unique(groups, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(ids))
    code = {}
    filled = [0, 0, 0]
    targets = [fractions[0] * n, fractions[1] * n, fractions[2] * n]
    for g in order:
        if filled[2] < targets[2]:
            k = 2
        elif filled[1] < targets[1]:
            k = 1
        else:
            k = 0
        code[ids[g]] = k
        filled[k] += sizes[g]
    return np.array([code[g] for g in groups], dtype=np.int64)


# ------------------------------------------------------------------ random, MatFormer and Matbench splits
def random_split(n: int, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0) -> np.ndarray:
    """Labels of a seeded random split (module docstring, ``random``): (n,) object array."""
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-6:
        raise XtalkitError("split fractions must be three non-negative numbers summing to 1")
    n_val = round(fractions[1] * n)
    n_test = round(fractions[2] * n)
    perm = np.random.default_rng(seed).permutation(n)
    labels = np.full(n, "train", dtype=object)
    labels[perm[n - n_val - n_test : n - n_test]] = "val"
    labels[perm[n - n_test :]] = "test"
    return labels


def matformer_split(
    n: int,
    n_train: int | None = None,
    n_val: int | None = None,
    n_test: int | None = None,
    seed: int = MATFORMER_SEED,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
) -> np.ndarray:
    """Labels of ALIGNN's ``get_id_train_val_test`` (module docstring, ``matformer``): (n,) object array."""
    n_train = int(fractions[0] * n) if n_train is None else int(n_train)
    n_val = int(fractions[1] * n) if n_val is None else int(n_val)
    n_test = int(fractions[2] * n) if n_test is None else int(n_test)
    if n_train + n_val + n_test > n:
        raise XtalkitError(f"matformer split: {n_train} + {n_val} + {n_test} rows asked, {n} available")
    ids = list(range(n))
    rng = random.Random(seed)  # same stream as random.seed(seed); random.shuffle(ids)
    rng.shuffle(ids)
    labels = np.full(n, "", dtype=object)
    labels[ids[:n_train]] = "train"
    if n_test > 0:
        labels[ids[n - n_val - n_test : n - n_test]] = "val"
        labels[ids[n - n_test :]] = "test"
    else:
        labels[ids[n - n_val :]] = "val"
    return labels


def matbench_folds(n: int, n_folds: int = MATBENCH_FOLDS, seed: int = MATBENCH_SEED) -> np.ndarray:
    """Test fold of every row under ``KFold(n_folds, shuffle=True, random_state=seed)`` (scikit-learn).

    Returns:
        (n,) int64 fold index; fold k is the test set of Matbench fold k.
    """
    if n < n_folds:
        raise XtalkitError(f"matbench split: {n} rows cannot make {n_folds} folds")
    order = np.arange(n)
    np.random.RandomState(seed).shuffle(order)  # what KFold does with an int random_state
    sizes = np.full(n_folds, n // n_folds, dtype=np.int64)
    sizes[: n % n_folds] += 1
    fold = np.empty(n, dtype=np.int64)
    start = 0
    for k, size in enumerate(sizes):
        fold[order[start : start + size]] = k
        start += size
    return fold
