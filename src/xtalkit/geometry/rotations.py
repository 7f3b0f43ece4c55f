"""Uniformly random rotations (Haar measure on SO(3)).

A unit quaternion with i.i.d. normal components is uniform on the 3-sphere,
and its rotation matrix is uniform on SO(3) (Shoemake, Graphics Gems III).
"""

from __future__ import annotations

import numpy as np
import torch


def _quaternion_to_matrix(q):
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ]
    if isinstance(q, torch.Tensor):
        return torch.stack([torch.stack(r, dim=-1) for r in rows], dim=-2)
    return np.stack([np.stack(r, axis=-1) for r in rows], axis=-2)


def random_rotations(n: int, generator: torch.Generator | None = None, dtype=torch.float32) -> torch.Tensor:
    """``n`` uniformly random rotation matrices, shape (n, 3, 3), det = +1."""
    q = torch.randn(n, 4, generator=generator, dtype=torch.float64)
    q = q / q.norm(dim=1, keepdim=True)
    return _quaternion_to_matrix(q).to(dtype)


def random_rotations_np(n: int, rng: np.random.Generator) -> np.ndarray:
    """NumPy version of :func:`random_rotations`, shape (n, 3, 3), float64."""
    q = rng.normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return _quaternion_to_matrix(q)
