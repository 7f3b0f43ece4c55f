"""CartNet: each equation's physics, the augmentation, model files."""

import math

import numpy as np
import pytest
import torch

from xtalkit import XtalkitError, read_crystal
from xtalkit.data.graphs import collate, crystal_graph
from xtalkit.examples import path as example_path
from xtalkit.geometry.rotations import random_rotations
from xtalkit.models.cartnet import CartNet, cholesky_u, cosine_envelope, radial_basis
from xtalkit.models.checkpoint import load_model, save_model

torch.set_num_threads(1)


def graphs(names=("urea", "rutile"), temperatures=(123.0, 295.0), **kw):
    out = []
    for name, T in zip(names, temperatures, strict=True):
        c = read_crystal(example_path(name))
        out.append(crystal_graph(c.numbers, c.frac, c.lattice, temperature=T, U=c.U_cart, ident=name, **kw))
    return out


def small_model(**kw):
    torch.manual_seed(0)
    return CartNet(dim=32, num_layers=2, num_rbf=16, temperature_mean=200, temperature_std=80, **kw).eval()


def test_cholesky_head_is_positive_definite_for_random_inputs():
    for scale in (0.3, 1.0, 3.0):  # pre-activation scales a trained head produces
        o = torch.randn(5000, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * scale
        U = cholesky_u(o)
        np.testing.assert_allclose(U, U.transpose(1, 2))
        assert (torch.linalg.eigvalsh(U) > 0).all()
        if scale > 1:
            continue  # tiny diagonals next to large off-diagonals: U is too ill-conditioned to refactor
        # the Cholesky factor is unique: factorizing U gives back L (positive diagonal)
        L = torch.linalg.cholesky(U)
        np.testing.assert_allclose(torch.diagonal(L, dim1=1, dim2=2), torch.nn.functional.softplus(o[:, :3]) + 1e-4,
                                   rtol=1e-6, atol=1e-9)  # fmt: skip
        np.testing.assert_allclose(L[:, 1, 0], o[:, 3], rtol=1e-6, atol=1e-9)
    # eq. 17: L = [[sp(o1),0,0],[o4,sp(o2),0],[o6,o5,sp(o3)]], U = L Lᵀ
    o1 = torch.tensor([[0.3, -0.2, 0.1, 0.5, -0.7, 0.9]], dtype=torch.float64)
    sp = torch.nn.functional.softplus(o1[0, :3]) + 1e-4
    L = torch.tensor([[sp[0], 0, 0], [0.5, sp[1], 0], [0.9, -0.7, sp[2]]], dtype=torch.float64)
    np.testing.assert_allclose(cholesky_u(o1)[0], L @ L.T, atol=1e-15)


def test_radial_basis_and_envelope_by_hand():
    K, rc = 64, 5.0
    d = torch.tensor([0.0, 1.0, 2.5, 5.0], dtype=torch.float64)
    r = radial_basis(d, K, rc)
    mu = np.linspace(math.exp(-rc), 1.0, K)
    beta = (2.0 / K * (1 - math.exp(-rc))) ** -2
    expected = np.exp(-beta * (np.exp(-d.numpy())[:, None] - mu) ** 2)
    np.testing.assert_allclose(r, expected, rtol=1e-12)
    assert r[0, -1] == pytest.approx(1.0)  # d = 0 sits on the last centre, exp(−0) = 1
    env = cosine_envelope(d, rc)
    np.testing.assert_allclose(env, [1.0, 0.5 * (math.cos(math.pi / 5) + 1), 0.5, 0.0], atol=1e-12)


def test_only_non_hydrogen_atoms_are_predicted_and_output_is_pd():
    b = collate(graphs())
    U = small_model()(b)
    assert U.shape == (int((b.z != 1).sum()), 3, 3)
    assert (torch.linalg.eigvalsh(U.double()) > 0).all()


def test_untrained_head_predicts_initial_uiso():
    b = collate(graphs())
    U = small_model(initial_uiso=0.02)(b)
    np.testing.assert_allclose(U.detach(), np.broadcast_to(0.02 * np.eye(3), U.shape), rtol=1e-3, atol=1e-6)


def test_augmentation_rotates_vectors_and_targets():
    b = collate(graphs())
    R = random_rotations(b.n_graphs, generator=torch.Generator().manual_seed(1))
    r = b.rotated(R)
    k = b.edge_batch[10]
    np.testing.assert_allclose(r.vec[10], R[k] @ b.vec[10], atol=1e-6)
    np.testing.assert_allclose(r.dist, b.dist)
    i = int(torch.nonzero(b.scored)[0])
    g = b.batch[i]
    np.testing.assert_allclose(r.target[i], R[g] @ b.target[i] @ R[g].T, atol=1e-7)
    back = r.rotated(R.transpose(1, 2))
    np.testing.assert_allclose(back.vec, b.vec, atol=1e-5)
    np.testing.assert_allclose(back.target[b.scored], b.target[b.scored], atol=1e-7)
    # rotations are proper and orthogonal
    np.testing.assert_allclose(R @ R.transpose(1, 2), np.broadcast_to(np.eye(3), R.shape), atol=1e-6)
    np.testing.assert_allclose(torch.linalg.det(R), 1.0, atol=1e-6)


def test_without_direction_vectors_the_network_is_rotation_invariant():
    b = collate(graphs())
    R = random_rotations(b.n_graphs, generator=torch.Generator().manual_seed(2))
    m = small_model(direction=False, initial_uiso=0.0)
    np.testing.assert_allclose(m(b.rotated(R)).detach(), m(b).detach(), atol=1e-6)
    m = small_model(direction=True, initial_uiso=0.0)
    assert not torch.allclose(m(b.rotated(R)), m(b), atol=1e-6)  # it sees orientation


def test_scalar_head_is_invariant_to_atom_order():
    gs = graphs()
    m = small_model(head="scalar")
    ref = m(collate(gs)).detach()
    perm_gs = []
    for g in gs:
        n = len(g["z"])
        p = np.random.default_rng(0).permutation(n)  # new index k holds old atom p[k]
        inv = np.argsort(p)
        perm_gs.append({**g, "z": g["z"][p], "target": g["target"][p], "scored": g["scored"][p],
                        "src": inv[g["src"]], "dst": inv[g["dst"]]})  # fmt: skip
    np.testing.assert_allclose(m(collate(perm_gs)).detach(), ref, rtol=1e-5, atol=1e-6)


def test_temperature_input_matters_only_when_enabled():
    g = graphs()
    hot = collate([{**x, "temperature": 400.0} for x in g])
    cold = collate([{**x, "temperature": 50.0} for x in g])
    m = small_model(initial_uiso=0.0)
    assert not torch.allclose(m(hot), m(cold))
    m = small_model(temperature=False, initial_uiso=0.0)
    np.testing.assert_allclose(m(hot).detach(), m(cold).detach())


def test_graph_without_hydrogens():
    g = graphs(hydrogens=False)
    assert all((x["z"] != 1).all() for x in g)
    U = small_model(hydrogens=False)(collate(g))
    assert U.shape[0] == sum(len(x["z"]) for x in g)


def test_model_file_round_trip(tmp_path):
    m = small_model()
    b = collate(graphs())
    path = save_model(
        tmp_path / "m.pt", m, metadata={"note": "test", "val": np.float64(0.5), "n": np.int64(3)}
    )
    doc = torch.load(path, weights_only=True)  # plain data only
    assert doc["model_class"] == "CartNet" and doc["init_args"]["dim"] == 32
    m2, meta = load_model(path)
    assert meta == {"note": "test", "val": 0.5, "n": 3}
    np.testing.assert_allclose(m2(b).detach(), m(b).detach())
    assert float(m2.temperature_mean) == 200.0
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(XtalkitError, match=r"junk\.pt: not a readable model file"):
        load_model(tmp_path / "junk.pt")
    with pytest.raises(XtalkitError, match="no such model file"):
        load_model(tmp_path / "missing.pt")
