r"""Training losses for ADP tensors (all take (M, 3, 3) predicted and true U_cart, Å²).

* ``l1``: the CartNet paper's loss, mean |Û − U| over the nine entries (SI Table S1).
* ``size_shape``: separates the size of an ellipsoid from its shape,

  ``|ln Û_eq − ln U_eq| + KL(N(0, U/U_eq) ‖ N(0, Û/Û_eq))``

  with U_eq = tr U / 3 and the Kullback–Leibler divergence of two centred
  Gaussians ``½[tr(B⁻¹A) − 3 − ln det(B⁻¹A)]``, zero only when the shapes are
  equal. Both terms are dimensionless, so small and large ellipsoids weigh
  alike; an L1 loss on entries lets the largest ellipsoids (molecules at room
  temperature) dominate and teaches a sphere first (an orientation average).
* ``size_shape_l1``: ``size_shape`` plus the L1 loss in units of 0.01 Å², for
  absolute accuracy as well.
"""

from __future__ import annotations

import torch

LOSSES = ("l1", "size_shape", "size_shape_l1")
#: Å², the unit of the L1 term in ``size_shape_l1``.
L1_UNIT = 0.01


def l1_loss(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over the nine entries, Å²."""
    return (pred - true).abs().mean()


def size_shape_terms(pred: torch.Tensor, true: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-atom ``|ln Û_eq − ln U_eq|`` and the shape KL divergence, each (M,).

    Requires positive definite tensors (the true ones pass the dataset filters,
    the predicted ones are positive definite by construction of both ADP heads).
    """
    p, t = pred.double(), true.double()
    ueq_p = p.diagonal(dim1=1, dim2=2).sum(1) / 3
    ueq_t = t.diagonal(dim1=1, dim2=2).sum(1) / 3
    size = (ueq_p.log() - ueq_t.log()).abs()
    A = t / ueq_t[:, None, None]
    B = p / ueq_p[:, None, None]
    L = torch.linalg.cholesky(B)
    M = torch.cholesky_solve(A, L)
    logdet_b = 2 * L.diagonal(dim1=1, dim2=2).log().sum(1)
    logdet_a = torch.linalg.slogdet(A)[1]
    kl = 0.5 * (M.diagonal(dim1=1, dim2=2).sum(1) - 3 - logdet_a + logdet_b)
    return size.to(pred.dtype), kl.to(pred.dtype)


def adp_loss(name: str, pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """The named loss (module docstring), a scalar."""
    if name == "l1":
        return l1_loss(pred, true)
    if name not in LOSSES:
        raise ValueError(f"unknown ADP loss {name!r}; choose from {', '.join(LOSSES)}")
    size, kl = size_shape_terms(pred, true)
    loss = size.mean() + kl.mean()
    if name == "size_shape_l1":
        loss = loss + l1_loss(pred, true) / L1_UNIT
    return loss
