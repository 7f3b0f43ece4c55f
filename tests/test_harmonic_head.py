"""The equivariant harmonic ADP head: oscillator physics, exact equivariance, positivity, TLS identities."""

import math

import numpy as np
import pytest
import torch

from xtalkit import read_crystal
from xtalkit.data.graphs import collate, crystal_graph
from xtalkit.examples import path as example_path
from xtalkit.geometry.rotations import random_rotations
from xtalkit.models.cartnet import CartNet
from xtalkit.models.checkpoint import load_model, save_model
from xtalkit.models.harmonic_head import (
    HBAR_OMEGA_UNIT,
    K_B,
    isotropic_part,
    oscillator_msd,
    oscillator_tensor,
    skew,
    thermal_energy,
    tls_tensor,
)

from conftest import EXPERIMENTAL, shared_or_skip

torch.set_num_threads(1)


def harmonic_model(seed=0, **kw):
    torch.manual_seed(seed)
    kw = {"dim": 32, "num_layers": 2, "num_rbf": 16, "direction": False, "temperature": False, **kw}
    return CartNet(head="harmonic", **kw).eval()


def graph_of(crystal, T=150.0, **kw):
    return crystal_graph(
        crystal.numbers, crystal.frac, crystal.lattice, temperature=T, U=crystal.U_cart, **kw
    )


def test_oscillator_limits_and_derivative():
    kappa = torch.tensor([0.3, 1.0, 4.0], dtype=torch.float64)
    m = 12.0
    a = HBAR_OMEGA_UNIT / math.sqrt(m)
    # high temperature: classical equipartition, U = k_B T / κ
    kT = torch.tensor(K_B * 3000.0, dtype=torch.float64)
    u, _ = oscillator_msd(kappa, torch.tensor(a, dtype=torch.float64), kT)
    np.testing.assert_allclose(u, kT / kappa, rtol=2e-3)
    # T → 0: zero-point motion ħ/(2√(mκ)) = a/(2√κ)
    u0, _ = oscillator_msd(
        kappa, torch.tensor(a, dtype=torch.float64), torch.tensor(K_B * 1e-3, dtype=torch.float64)
    )
    np.testing.assert_allclose(u0, a / (2 * kappa.sqrt()), rtol=1e-12)
    # analytic derivative against central differences
    kT = torch.tensor(K_B * 150.0, dtype=torch.float64)
    _, du = oscillator_msd(kappa, torch.tensor(a, dtype=torch.float64), kT)
    h = 1e-6
    up, _ = oscillator_msd(kappa + h, torch.tensor(a, dtype=torch.float64), kT)
    um, _ = oscillator_msd(kappa - h, torch.tensor(a, dtype=torch.float64), kT)
    np.testing.assert_allclose(du, (up - um) / (2 * h), rtol=1e-6)


def test_oscillator_tensor_is_the_scalar_law_along_principal_axes():
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    kappas = np.array([0.5, 1.5, 6.0])
    K = torch.from_numpy(Q @ np.diag(kappas) @ Q.T)[None]
    U = oscillator_tensor(K, torch.tensor([14.0]), torch.tensor([200.0]))[0].numpy()
    a = torch.tensor(HBAR_OMEGA_UNIT / math.sqrt(14.0), dtype=torch.float64)
    expected, _ = oscillator_msd(torch.from_numpy(kappas), a, torch.tensor(K_B * 200.0, dtype=torch.float64))
    np.testing.assert_allclose(U, Q @ np.diag(expected.numpy()) @ Q.T, atol=1e-14)


@pytest.mark.parametrize("split", [0.0, 1e-9, 1e-3, 0.5])
def test_oscillator_tensor_gradient_is_finite_and_right_at_degenerate_eigenvalues(split):
    # a sphere (split 0) is where eigh's own backward divides by zero
    rng = np.random.default_rng(1)
    Q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    K0 = torch.from_numpy(Q @ np.diag([1.0, 1.0 + split, 1.0 + 2 * split]) @ Q.T)
    W = torch.from_numpy(rng.normal(size=(3, 3)))
    mass, T = torch.tensor([12.0]), torch.tensor([100.0])

    def f(K):
        return (oscillator_tensor(K[None], mass, T)[0] * W).sum()

    K = K0.clone().requires_grad_(True)
    f(K).backward()
    grad = K.grad
    assert torch.isfinite(grad).all()
    # directional derivative along a symmetric perturbation, against central differences
    D = torch.from_numpy(rng.normal(size=(3, 3)))
    D = D + D.T
    h = 1e-6
    numeric = (f(K0 + h * D) - f(K0 - h * D)) / (2 * h)
    np.testing.assert_allclose(float((grad * D).sum()), float(numeric), rtol=1e-5, atol=1e-12)


def test_skew_and_tls_identities():
    rng = np.random.default_rng(2)
    r = torch.from_numpy(rng.normal(size=(50, 3)))
    w = torch.from_numpy(rng.normal(size=(50, 3)))
    A = skew(r)
    np.testing.assert_allclose((A @ w[:, :, None])[..., 0], torch.linalg.cross(r, w), atol=1e-14)
    # a libration moves no atom along its own radius: r̂ᵀ A L Aᵀ r̂ = 0
    G = torch.from_numpy(rng.normal(size=(50, 3, 3)))
    L = G @ G.transpose(1, 2)
    U = tls_tensor(torch.zeros_like(L), L, r)
    np.testing.assert_allclose(torch.einsum("ni,nij,nj->n", r, U, r), 0, atol=1e-12)
    # Hirshfeld: rigid-body motion gives two atoms of one molecule equal mean-square displacements
    # along the line joining them (the rigid-bond test passes exactly)
    T1 = G[0] @ G[0].T
    L1 = G[1] @ G[1].T
    ri, rj = r[:25], r[25:]
    Ui = tls_tensor(T1.expand(25, 3, 3), L1.expand(25, 3, 3), ri)
    Uj = tls_tensor(T1.expand(25, 3, 3), L1.expand(25, 3, 3), rj)
    u = (rj - ri) / (rj - ri).norm(dim=1, keepdim=True)
    delta = torch.einsum("ni,nij,nj->n", u, Ui, u) - torch.einsum("ni,nij,nj->n", u, Uj, u)
    np.testing.assert_allclose(delta, 0, atol=1e-12)
    assert (torch.linalg.eigvalsh(U) > -1e-12).all()


def _real_structures():
    root = shared_or_skip(EXPERIMENTAL)
    files = sorted(root.glob("*/*.cif"))
    picked = []
    for f in files:
        try:
            c = read_crystal(f)
        except Exception:  # any five readable structures will do
            continue
        if 10 <= len(c) <= 120 and c.temperature:
            picked.append(c)
        if len(picked) == 5:
            break
    return picked


def test_exactly_equivariant_on_real_structures_without_averaging():
    """100 random rotations of 5 real structures: max |U(R·x) − R U(x) Rᵀ| ≤ 1e-5 Å² in float32."""
    crystals = _real_structures()
    assert len(crystals) == 5
    model = harmonic_model()
    batch = collate([graph_of(c, T=c.temperature) for c in crystals])
    assert bool(batch.mol_finite.any())  # the rigid-body part is exercised
    owner = batch.batch[batch.scored]
    gen = torch.Generator().manual_seed(0)
    worst = 0.0
    with torch.no_grad():
        base = model(batch)
        assert base.dtype == torch.float32
        for _ in range(20):  # 5 structures × 20 batches = 100 rotations per structure
            R = random_rotations(batch.n_graphs, generator=gen)
            rotated = model(batch.rotated(R))
            Ra = R[owner]
            worst = max(worst, float((rotated - Ra @ base @ Ra.transpose(1, 2)).abs().max()))
    assert worst <= 1e-5, worst


def test_positive_definite_for_random_structures_and_weights():
    rng = np.random.default_rng(3)
    for seed in range(4):
        model = harmonic_model(seed=seed)
        with torch.no_grad():  # larger weights than a fresh network: a harsher test of positivity
            for p in model.parameters():
                p.mul_(3.0)
        graphs = []
        for _ in range(4):
            n = int(rng.integers(2, 30))
            lattice = np.diag(rng.uniform(3, 9, 3)) + rng.normal(scale=0.5, size=(3, 3))
            numbers = rng.choice([1, 6, 7, 8, 14, 26, 79], size=n)
            graphs.append(
                crystal_graph(numbers, rng.random((n, 3)), lattice, temperature=float(rng.uniform(1, 1500)))
            )
        with torch.no_grad():
            U = model(collate(graphs)).double()
        assert torch.isfinite(U).all()
        np.testing.assert_allclose(U, U.transpose(1, 2), atol=1e-9)
        assert (torch.linalg.eigvalsh(U) > 0).all()


def test_temperature_law():
    """At fixed geometry: U(T) rises with T, tends to a non-zero zero-point value, U(2T)/U(T) → 2."""
    c = read_crystal(example_path("urea"))
    model = harmonic_model()

    def ueq(T):
        with torch.no_grad():
            U = model(collate([graph_of(c, T=T)])).double()
        return U.diagonal(dim1=1, dim2=2).sum(1) / 3

    temps = [1e-3, 1.0, 10.0, 50.0, 100.0, 200.0, 300.0, 600.0, 1200.0]
    values = torch.stack([ueq(T) for T in temps])
    steps = values.diff(dim=0)
    assert (steps >= 0).all()  # monotonic, atom by atom (flat in the zero-point regime)
    assert (steps[3:] > 0).all()  # strictly rising from 50 K on
    assert (values[0] > 1e-5).all()  # zero-point motion
    np.testing.assert_allclose(values[1], values[0], rtol=1e-3)  # flat near T = 0
    ratio = ueq(2e5) / ueq(1e5)
    np.testing.assert_allclose(ratio, 2.0, rtol=1e-3)


def test_thermal_energy_limits():
    hw = torch.tensor(0.01, dtype=torch.float64)
    np.testing.assert_allclose(thermal_energy(hw, torch.tensor(K_B * 1e-3, dtype=torch.float64)), 0.005)
    kT = torch.tensor(K_B * 1e4, dtype=torch.float64)
    np.testing.assert_allclose(thermal_energy(hw, kT), kT, rtol=1e-4)


def test_control_without_directions_predicts_spheres():
    c = read_crystal(example_path("urea"))
    model = harmonic_model(head_directions=False)
    with torch.no_grad():
        U = model(collate([graph_of(c)])).double()
    np.testing.assert_allclose(U, isotropic_part(U), atol=1e-9)
    full = harmonic_model()
    with torch.no_grad():
        V = full(collate([graph_of(c)])).double()
    lam = torch.linalg.eigvalsh(V)
    assert float((lam[:, 2] / lam[:, 0]).max()) > 1.05  # the full head is not spherical here


def test_rigid_body_part_only_for_molecules():
    rutile = read_crystal(example_path("rutile"))
    g = graph_of(rutile, T=295.0)
    assert not g["mol_finite"].any()  # an extended oxide: harmonic part only
    with_rigid = harmonic_model()
    without = harmonic_model(rigid_body=False)
    without.load_state_dict(with_rigid.state_dict(), strict=False)
    with torch.no_grad():
        np.testing.assert_allclose(with_rigid(collate([g])), without(collate([g])), atol=1e-7)


def test_harmonic_model_file_round_trip(tmp_path):
    model = harmonic_model(rigid_body=True)
    save_model(tmp_path / "m.pt", model, metadata={"task": "adp"})
    loaded, _ = load_model(tmp_path / "m.pt")
    c = read_crystal(example_path("urea"))
    b = collate([graph_of(c)])
    with torch.no_grad():
        np.testing.assert_allclose(model(b), loaded(b), atol=0)
    assert loaded.equivariant and loaded.predicts_adps


def test_harmonic_head_refuses_direction_inputs():
    with pytest.raises(ValueError, match="invariant backbone"):
        CartNet(head="harmonic", direction=True)
