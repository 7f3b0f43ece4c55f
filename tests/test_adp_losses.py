"""ADP training losses: identities of the size/shape loss."""

import math

import numpy as np
import pytest
import torch

from xtalkit.geometry.rotations import random_rotations
from xtalkit.training.adp_losses import adp_loss, size_shape_terms

from conftest import random_spd


def spd(n=200, seed=0):
    return torch.from_numpy(random_spd(np.random.default_rng(seed), n))


def test_zero_for_equal_tensors():
    U = spd()
    for name in ("l1", "size_shape", "size_shape_l1"):
        assert float(adp_loss(name, U, U)) == pytest.approx(0, abs=1e-10)


def test_size_and_shape_separate():
    U = spd()
    size, kl = size_shape_terms(2.0 * U, U)  # same shape, twice the size
    np.testing.assert_allclose(size, math.log(2), rtol=1e-12)
    np.testing.assert_allclose(kl, 0, atol=1e-10)
    # a stretch at constant trace changes shape only
    V = U.clone()
    stretch = torch.diag(torch.tensor([1.3, 1.0, 1.0], dtype=torch.float64))
    V = stretch @ U @ stretch
    V = V * (U.diagonal(dim1=1, dim2=2).sum(1) / V.diagonal(dim1=1, dim2=2).sum(1))[:, None, None]
    size, kl = size_shape_terms(V, U)
    np.testing.assert_allclose(size, 0, atol=1e-12)
    assert (kl > 0).all()


def test_hand_computed_kl_and_rotation_invariance():
    # true = diag(2, 1, 0.. ) normalized; prediction a sphere: KL = ½[tr A − 3 − ln det A] with tr A = 3
    true = torch.diag(torch.tensor([0.03, 0.02, 0.01], dtype=torch.float64))[None]
    pred = 0.02 * torch.eye(3, dtype=torch.float64)[None]
    a = np.array([1.5, 1.0, 0.5])
    _, kl = size_shape_terms(pred, true)
    np.testing.assert_allclose(kl, 0.5 * (a.sum() - 3 - np.log(a.prod())), rtol=1e-12)
    P, T = spd(50, 1), spd(50, 2)
    R = random_rotations(50, generator=torch.Generator().manual_seed(0)).double()
    a1 = size_shape_terms(P, T)
    a2 = size_shape_terms(R @ P @ R.transpose(1, 2), R @ T @ R.transpose(1, 2))
    for x, y in zip(a1, a2, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-9)  # float32 rotations


def test_unknown_loss_is_an_error():
    with pytest.raises(ValueError, match="unknown ADP loss"):
        adp_loss("l2", spd(2), spd(2))
