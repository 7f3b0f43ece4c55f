"""ADP metrics: physical identities and agreement of the fast IoU with the SI's voxel IoU."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from xtalkit.adp.metrics import (
    anisotropy,
    ellipsoid_volume,
    iou,
    iou_voxel,
    mae,
    s12,
    shape_iou,
    volume_relative_error,
)

from conftest import random_spd


def test_identical_tensors():
    U = random_spd(np.random.default_rng(0), 20)
    np.testing.assert_allclose(s12(U, U), 0.0, atol=1e-10)
    np.testing.assert_allclose(iou(U, U), 1.0, atol=1e-12)
    np.testing.assert_allclose(iou_voxel(U, U), 1.0)
    np.testing.assert_allclose(mae(U, U), 0.0)
    np.testing.assert_allclose(volume_relative_error(U, U), 0.0, atol=1e-12)


@pytest.mark.parametrize("r", [0.3, 0.5, 0.8, 0.95])
def test_concentric_spheres_iou_is_radius_ratio_cubed(r):
    big, small = 0.02 * np.eye(3), 0.02 * r**2 * np.eye(3)  # radii sqrt(0.02) and r·sqrt(0.02)
    assert iou(big, small)[0] == pytest.approx(r**3, abs=1e-3)
    # 64³ voxels: the error is of the order of the voxel layer on the small sphere's surface
    h = 2 / 64
    assert iou_voxel(big, small)[0] == pytest.approx(r**3, abs=3 * h * r**2 + 1e-3)


def test_s12_of_spheres_hand_value():
    a, b = 0.01, 0.04
    expected = 100 * (1 - (2 * np.sqrt(a * b) / (a + b)) ** 1.5)  # = 100 (1 − 0.8^1.5)
    assert s12(a * np.eye(3), b * np.eye(3))[0] == pytest.approx(expected)
    assert expected == pytest.approx(28.445, abs=1e-3)


def test_metrics_are_symmetric_and_rotation_invariant():
    rng = np.random.default_rng(1)
    U1, U2 = random_spd(rng, 30), random_spd(rng, 30)
    R = Rotation.random(30, random_state=rng).as_matrix()
    rot = lambda U: R @ U @ R.transpose(0, 2, 1)  # noqa: E731
    np.testing.assert_allclose(s12(U1, U2), s12(U2, U1), rtol=1e-10)
    np.testing.assert_allclose(iou(U1, U2), iou(U2, U1), atol=2e-3)  # quadrature error
    np.testing.assert_allclose(s12(rot(U1), rot(U2)), s12(U1, U2), rtol=1e-8)
    np.testing.assert_allclose(iou(rot(U1), rot(U2)), iou(U1, U2), atol=1e-9)
    # a common linear map leaves the IoU unchanged
    A = rng.normal(size=(3, 3)) + 3 * np.eye(3)
    np.testing.assert_allclose(iou(A @ U1 @ A.T, A @ U2 @ A.T), iou(U1, U2), atol=1e-9)


def test_volume():
    assert ellipsoid_volume(0.04 * np.eye(3))[0] == pytest.approx(4 / 3 * np.pi * 0.2**3)
    assert ellipsoid_volume(np.diag([0.01, 0.04, 0.09]))[0] == pytest.approx(4 / 3 * np.pi * 0.1 * 0.2 * 0.3)
    assert volume_relative_error(0.08 * np.eye(3), 0.02 * np.eye(3))[0] == pytest.approx(2**3 - 1)


def test_size_and_shape_diagnostics():
    rng = np.random.default_rng(4)
    U1, U2 = random_spd(rng, 25), random_spd(rng, 25)
    R = Rotation.random(25, random_state=rng).as_matrix()
    # λmax/λmin: hand value, rotation invariant, 1 for spheres
    D = np.diag([0.01, 0.02, 0.04])
    np.testing.assert_allclose(anisotropy(R @ D @ R.transpose(0, 2, 1)), 4.0, rtol=1e-10)
    assert anisotropy(0.03 * np.eye(3))[0] == pytest.approx(1.0)
    # shape IoU ignores the size of the prediction: c·U against U scores 1, any c
    np.testing.assert_allclose(shape_iou(7.5 * U1, U1), 1.0, atol=1e-12)
    np.testing.assert_allclose(shape_iou(0.3 * U2, U1), shape_iou(U2, U1), atol=1e-12)
    # a sphere of any size scores what the sphere of the true U_eq scores
    ueq = np.trace(U1, axis1=1, axis2=2) / 3
    np.testing.assert_allclose(shape_iou(np.eye(3) * 0.5, U1), iou(ueq[:, None, None] * np.eye(3), U1))


def test_fast_iou_agrees_with_voxel_reference():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from iou_speed import random_pairs

    U1, U2 = random_pairs(300, np.random.default_rng(3))
    d = np.abs(iou(U1, U2) - iou_voxel(U1, U2)) * 100
    assert d.mean() < 0.2 and d.max() < 1.0


@pytest.mark.parametrize("metric", [s12, iou, iou_voxel, shape_iou, ellipsoid_volume])
def test_invalid_tensors_raise(metric):
    bad = np.diag([0.01, 0.02, -0.001])
    args = (bad,) if metric is ellipsoid_volume else (bad, np.eye(3) * 0.01)
    with pytest.raises(ValueError, match="not positive definite"):
        metric(*args)
    nan = np.full((3, 3), np.nan)
    with pytest.raises(ValueError, match="NaN"):
        metric(*((nan,) if metric is ellipsoid_volume else (nan, np.eye(3))))


def test_ueq_ratio_and_rigid_bond_delta_by_hand():
    from xtalkit.adp.metrics import rigid_bond_delta, ueq_ratio

    rng = np.random.default_rng(5)
    U = random_spd(rng, 20)
    np.testing.assert_allclose(ueq_ratio(2 * U, U), 2.0)
    v = rng.normal(size=(20, 3))
    np.testing.assert_allclose(rigid_bond_delta(U, U, v), 0.0, atol=1e-15)
    a = np.diag([0.02, 0.01, 0.01])
    b = 0.01 * np.eye(3)
    # along x the first atom moves 0.01 Å² more; along y and z the two agree
    np.testing.assert_allclose(rigid_bond_delta(a, b, np.array([[3.0, 0, 0]])), [0.01])
    np.testing.assert_allclose(rigid_bond_delta(a, b, np.array([[0, 1.5, 0]])), [0.0], atol=1e-15)
    # at 45° in the xy plane: ½(0.02 + 0.01) − 0.01
    np.testing.assert_allclose(rigid_bond_delta(a, b, np.array([[1.0, 1.0, 0]])), [0.005])
    with pytest.raises(ValueError, match="zero length"):
        rigid_bond_delta(a, b, np.zeros((1, 3)))


def test_ueq_ratio_by_temperature_thirds():
    from xtalkit.adp.evaluate import ueq_ratio_by_temperature

    true = random_spd(np.random.default_rng(6), 12)
    owner = np.repeat(np.arange(6), 2)  # six structures of two atoms
    temps = np.array([300.0, 100.0, 200.0, 110.0, 290.0, 210.0])
    factor = np.array([1.3, 0.9, 1.0, 0.9, 1.3, 1.0])  # by structure: cold 0.9, middle 1.0, hot 1.3
    bins = ueq_ratio_by_temperature(true * factor[owner][:, None, None], true, owner, temps)
    assert [b["structures"] for b in bins] == [2, 2, 2]
    assert [(b["t_min"], b["t_max"]) for b in bins] == [(100, 110), (200, 210), (290, 300)]
    np.testing.assert_allclose([b["median_ueq_ratio"] for b in bins], [0.9, 1.0, 1.3])
