"""AlphaCrystal-II: encoding, distance targets, network, metrics, reconstruction, relaxation."""

from __future__ import annotations

import functools
import math
import time

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

from xtalkit.csp import (
    DistanceBins,
    check_charge_balance,
    distance_map_overlap,
    distance_matrix_mse,
    distance_matrix_rmse,
    distance_target,
    encode_composition,
    energy_distance,
    parse_formula,
    predict_distances,
    reconstruct,
    stack_targets,
    standard_setting,
    structure_match,
    structure_rms,
    superpose_distance,
    wyckoff_mse,
    wyckoff_rmse,
)
from xtalkit.elements import alphacrystal_features
from xtalkit.errors import XtalkitError
from xtalkit.models.checkpoint import load_model, save_model
from xtalkit.models.distmat import DistMatNet, masked_cross_entropy

torch.set_num_threads(1)

STRICT = {"ltol": 0.2, "stol": 0.3, "angle_tol": 5.0}  # pymatgen's default StructureMatcher tolerances


@functools.cache
def _from_spacegroup(symbol: str, lattice: tuple, species: tuple, coords: tuple) -> Structure:
    # pymatgen's from_spacegroup takes ~0.6 s for Fm-3m; build each structure once
    return Structure.from_spacegroup(symbol, Lattice.from_parameters(*lattice), list(species), list(coords))


def spacegroup_structure(symbol, lattice, species, coords) -> Structure:
    key = (tuple(float(x) for x in lattice), tuple(species), tuple(tuple(c) for c in coords))
    return _from_spacegroup(symbol, *key).copy()


def nacl(a: float = 5.64) -> Structure:
    return spacegroup_structure("Fm-3m", (a, a, a, 90, 90, 90), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def cscl(a: float = 4.12) -> Structure:
    return spacegroup_structure("Pm-3m", (a, a, a, 90, 90, 90), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def rutile(x: float = 0.305) -> Structure:
    return spacegroup_structure(
        "P4_2/mnm", (4.594, 4.594, 2.959, 90, 90, 90), ["Ti", "O"], [[0, 0, 0], [x, x, 0]]
    )


def srtio3(a: float = 3.905) -> Structure:
    return spacegroup_structure(
        "Pm-3m", (a, a, a, 90, 90, 90), ["Sr", "Ti", "O"], [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0]]
    )


def batio3_tetragonal() -> Structure:
    """P4mm BaTiO3: two inequivalent O sites (1b apical, 2c equatorial)."""
    return Structure.from_spacegroup(
        "P4mm",
        Lattice.tetragonal(3.99, 4.03),
        ["Ba", "Ti", "O", "O"],
        [[0, 0, 0], [0.5, 0.5, 0.515], [0.5, 0.5, 0.025], [0.5, 0, 0.488]],
    )


# ---------------------------------------------------------------- encoding


def test_encoding_shape_order_and_padding():
    enc = encode_composition("O3TiSr")  # order of the formula text does not matter
    assert enc.features.shape == (12, 11)
    assert enc.mask.tolist() == [True] * 5 + [False] * 7
    # Pauling electronegativity ascending: Sr 0.95 < Ti 1.54 < O 3.44
    assert enc.numbers.tolist() == [38, 22, 8, 8, 8]
    assert enc.formula == "SrTiO3"
    np.testing.assert_array_equal(enc.features[:5], alphacrystal_features(np.array([38, 22, 8, 8, 8])))
    assert np.all(enc.features[5:] == 0)
    assert enc.pair_mask.sum() == 5 * 4
    # cell formula is not reduced
    assert encode_composition("Na4Cl4").numbers.tolist() == [11] * 4 + [17] * 4
    assert parse_formula("Fe2O3") == [(26, 2), (8, 3)]


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("Na7Cl6", "13 atoms per cell"),
        ("Xx2O", "unknown element 'Xx'"),
        ("Na0.5Cl", "not a positive whole number"),
        ("", "cannot read formula"),
    ],
)
def test_formula_errors(formula, message):
    with pytest.raises(XtalkitError, match=message):
        encode_composition(formula)


def test_charge_balance_flag():
    ok = check_charge_balance("Na4Cl4")
    assert ok.balanced and ok.oxidation_states == {"Na": 1.0, "Cl": -1.0}
    with pytest.warns(UserWarning, match="no charge-balanced"):
        bad = check_charge_balance("TiIn")
    assert not bad.balanced and bad.oxidation_states is None
    assert check_charge_balance("TiIn", warn=False).balanced is False


# ---------------------------------------------------------------- distance targets


def test_nacl_distance_matrix_by_hand():
    a = 5.64
    t = distance_target(nacl(a))
    d = t.distances
    assert t.encoding.numbers.tolist() == [11] * 4 + [17] * 4
    off = ~np.eye(4, dtype=bool)
    # Na-Na and Cl-Cl: face-centred neighbours at a/√2
    np.testing.assert_allclose(d[:4, :4][off], a / math.sqrt(2), atol=1e-9)
    np.testing.assert_allclose(d[4:8, 4:8][off], a / math.sqrt(2), atol=1e-9)
    # Na-Cl: each Na has three Cl at a/2 and one at a√3/2 in the 8-atom cell
    nacl_block = np.sort(d[:4, 4:8], axis=1)
    np.testing.assert_allclose(nacl_block[:, :3], a / 2, atol=1e-9)
    np.testing.assert_allclose(nacl_block[:, 3], a * math.sqrt(3) / 2, atol=1e-9)
    np.testing.assert_allclose(d, d.T)
    assert np.all(np.diag(d) == 0) and np.all(d[8:] == 0) and np.all(d[:, 8:] == 0)
    assert t.pair_mask.sum() == 8 * 7


@pytest.mark.parametrize("name", ["BaTiO3", "TiO2"])
def test_target_does_not_depend_on_site_order(name):
    """Order rule 3: inequivalent O sites (BaTiO3 1b + 2c) and four equivalent O (rutile 4f)."""
    s = batio3_tetragonal() if name == "BaTiO3" else rutile()
    ref = distance_target(s)
    z_ref = ref.encoding.numbers.tolist()
    assert z_ref == ([56, 22, 8, 8, 8] if name == "BaTiO3" else [22, 22, 8, 8, 8, 8])
    rng = np.random.default_rng(3)
    for _ in range(6):
        perm = rng.permutation(len(s))
        shuffled = Structure(s.lattice, [s[i].species for i in perm], [s[i].frac_coords for i in perm])
        t = distance_target(shuffled)
        np.testing.assert_allclose(t.distances, ref.distances, atol=1e-9)
        # the returned order maps encoding rows back to the shuffled sites
        assert [shuffled[i].specie.Z for i in t.order] == z_ref
        np.testing.assert_allclose(
            t.distances[: len(s), : len(s)],
            np.array([[shuffled[i].distance(shuffled[j]) for j in t.order] for i in t.order]),
            atol=1e-9,
        )


def test_distance_target_errors():
    big = nacl().make_supercell([2, 1, 1], in_place=False)  # 16 atoms
    with pytest.raises(XtalkitError, match="16 atoms per cell"):
        distance_target(big)


@pytest.mark.parametrize("n_groups", [5, 10, 20])
def test_discretization_round_trip(n_groups):
    bins = DistanceBins(d_min=0.9488, d_max=23.3361, n_groups=n_groups)
    assert bins.width == pytest.approx((23.3361 - 0.9488) / n_groups)  # eq. 5
    d = np.random.default_rng(0).uniform(bins.d_min, bins.d_max, size=2000)
    d = np.concatenate([d, [bins.d_min, bins.d_max]])
    k = bins.classify(d)
    assert k.min() >= 0 and k.max() <= n_groups - 1 and k[-1] == n_groups - 1 and k[-2] == 0
    back = bins.decode(k)
    assert np.all(np.abs(back - d) <= bins.width / 2 + 1e-9)
    onehot = bins.one_hot(d)
    assert onehot.shape == (d.size, n_groups) and np.all(onehot.sum(-1) == 1)
    np.testing.assert_array_equal(onehot.argmax(-1), k)
    with pytest.raises(XtalkitError):
        bins.decode(np.array([n_groups]))


def test_bins_from_training_targets():
    ts = [distance_target(nacl()), distance_target(cscl())]
    bins = DistanceBins.from_targets([t.distances for t in ts], [t.pair_mask for t in ts], n_groups=10)
    assert bins.d_min == pytest.approx(5.64 / 2)  # Na-Cl nearest neighbours, the shortest valid pair
    assert bins.d_max == pytest.approx(5.64 * math.sqrt(3) / 2)  # Na-Cl body diagonal, the longest
    _, _, classes, pmask = stack_targets(ts, bins)
    assert classes.shape == (2, 12, 12) and pmask.sum() == 56 + 2
    # Cs-Cl at 4.12·√3/2 = 3.568 Å: ⌊(3.568 − 2.82) / 0.2064⌋ = 3
    assert classes[1, 0, 1] == 3 and classes[0][pmask[0]].max() == 9 and classes[0][pmask[0]].min() == 0


# ---------------------------------------------------------------- network


def _batch():
    ts = [distance_target(nacl()), distance_target(rutile())]
    bins = DistanceBins.from_targets([t.distances for t in ts], [t.pair_mask for t in ts], n_groups=5)
    f, m, c, pm = (torch.as_tensor(x) for x in stack_targets(ts, bins))
    return bins, f, m, c, pm


def _tiny(bins: DistanceBins) -> DistMatNet:
    return DistMatNet(
        num_groups=bins.n_groups, d_min=bins.d_min, d_max=bins.d_max,
        filters_1d=8, blocks_1d=3, filters_2d=16, blocks_2d=3,
    )  # fmt: skip


def test_network_shape_symmetry_and_padding():
    torch.manual_seed(0)
    bins, f, m, _, _ = _batch()
    net = _tiny(bins).eval()
    out = net(f, m)
    assert out.shape == (2, 5, 12, 12)
    assert torch.allclose(out, out.transpose(-1, -2))
    # padded feature rows do not reach the valid pairs
    noisy = f.clone()
    noisy[~m] = torch.randn(int((~m).sum()), 11) * 100
    pair = (m[:, :, None] & m[:, None, :])[:, None].expand_as(out)
    assert torch.allclose(net(noisy, m)[pair], out[pair], atol=1e-5)
    # paper widths: 32 → 128 in 1D, 256 → 1024 in 2D, 9 blocks each
    paper = DistMatNet()
    assert [b.conv2.out_channels for b in paper.blocks_1d] == [32] * 3 + [64] * 3 + [128] * 3
    assert [b.conv2.out_channels for b in paper.blocks_2d] == [256] * 3 + [512] * 3 + [1024] * 3


@pytest.mark.parametrize("kind", ["categorical", "binary"])
def test_masked_loss_ignores_padding_and_diagonal(kind):
    *_, c, pm = _batch()
    logits = torch.randn(2, 5, 12, 12, generator=torch.Generator().manual_seed(1))
    ref = masked_cross_entropy(logits, c, pm, kind)
    changed_logits = logits.clone()
    changed_logits[:, :, ~pm[0]] = 50.0 * torch.randn_like(changed_logits[:, :, ~pm[0]])
    changed_classes = torch.where(pm, c, torch.full_like(c, 4))
    assert torch.allclose(masked_cross_entropy(changed_logits, changed_classes, pm, kind), ref)
    # and it is the mean over valid pairs (categorical)
    if kind == "categorical":
        per = torch.nn.functional.cross_entropy(logits, c, reduction="none")
        assert torch.allclose(ref, per[pm].mean())


def test_tiny_overfit_two_compositions():
    """A network that ignored the input could at best predict the class frequencies of the 86 valid
    pairs (cross-entropy = their entropy, 1.38 nats; a uniform guess gives ln 5 = 1.61). Memorizing
    the two targets drives the loss towards 0: we require < 0.1 and every valid pair right."""
    torch.manual_seed(0)
    bins, f, m, c, pm = _batch()
    counts = np.bincount(c[pm].numpy(), minlength=5) / pm.sum().item()
    entropy = -(counts[counts > 0] * np.log(counts[counts > 0])).sum()
    assert entropy > 1.3
    net = _tiny(bins)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        loss = masked_cross_entropy(net(f, m), c, pm)
        loss.backward()
        opt.step()
    assert loss.item() < 0.1
    net.eval()
    classes, dist = net.predict(f, m)
    assert (classes[pm] == c[pm]).all()
    np.testing.assert_allclose(dist[pm].numpy(), bins.decode(c[pm].numpy()), rtol=1e-6)
    assert (dist[~pm] == 0).all()
    # the formula entry point gives the same matrix, ready for reconstruct()
    d_nacl, mask = predict_distances(net, "Na4Cl4")
    assert mask.sum() == 8
    np.testing.assert_allclose(d_nacl, dist[0].numpy(), rtol=1e-6)


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    bins, f, m, _, _ = _batch()
    net = _tiny(bins).eval()
    save_model(tmp_path / "dm.pt", net, metadata={"bins": [bins.d_min, bins.d_max, bins.n_groups]})
    back, meta = load_model(tmp_path / "dm.pt")
    assert isinstance(back, DistMatNet) and meta["bins"][2] == 5
    assert torch.allclose(back(f, m), net(f, m))


# ---------------------------------------------------------------- metrics


def test_distance_matrix_metrics():
    t = distance_target(rutile())
    d, pm = t.distances, t.pair_mask
    assert distance_matrix_mse(d, d, pm) == 0.0
    assert distance_map_overlap(d, d, pm) == 1.0
    shifted = np.where(pm, d + 0.1, d)
    assert distance_matrix_rmse(shifted, d, pm) == pytest.approx(0.1)
    assert distance_matrix_mse(shifted, d, t.encoding.mask) == pytest.approx(0.01)  # atom mask form
    # eq. 4: push two symmetric target contacts beyond 8 Å → overlap = 1 − 2/30
    far = d.copy()
    far[0, 1] = far[1, 0] = 9.0
    assert distance_map_overlap(far, d, pm) == pytest.approx(1 - 2 / 30)
    with pytest.raises(XtalkitError, match="no pair within"):
        distance_map_overlap(d, np.where(pm, 9.0, 0.0), pm)
    with pytest.raises(XtalkitError, match="equal shape"):
        distance_matrix_mse(d, d[:5, :5])
    with pytest.raises(XtalkitError, match="no valid atom pair"):
        distance_matrix_mse(d, d, np.zeros((12, 12), dtype=bool))


def test_structure_metrics_identities():
    s = rutile()
    assert structure_match(s, s)
    assert structure_rms(s, s) < 1e-8
    moved = s.copy()
    moved.translate_sites(list(range(len(s))), [0.13, 0.27, 0.41])
    perm = [4, 1, 5, 0, 3, 2]
    moved = Structure(moved.lattice, [moved[i].species for i in perm], [moved[i].frac_coords for i in perm])
    assert superpose_distance(moved, s) == pytest.approx(0.0, abs=1e-9)
    # one atom moved by δ: after the best translation D = |δ| √(n−1) / n
    kicked = s.copy()
    kicked.translate_sites([3], [0.1, 0.0, 0.0], frac_coords=False)
    assert superpose_distance(kicked, s) == pytest.approx(0.1 * math.sqrt(5) / 6, rel=1e-6)
    with pytest.raises(XtalkitError, match="same atoms"):
        superpose_distance(nacl(), s)
    with pytest.raises(XtalkitError, match="do not match"):
        structure_rms(cscl(), nacl())


@pytest.mark.parametrize("align", [True, False])
def test_wyckoff_errors(align):
    s = rutile(0.305)
    assert wyckoff_mse(s, s, align=align) == pytest.approx(0.0, abs=1e-16)
    # O at x = 0.315 instead of 0.305: the independent atoms are Ti (exact) and O, off by (0.01, 0.01, 0)
    p = rutile(0.315)
    assert wyckoff_mse(p, s, align=align) == pytest.approx(2 * 0.01**2 / 6, rel=1e-6)
    assert wyckoff_rmse(p, s, align=align) == pytest.approx(math.sqrt(2 * 0.01**2 / 6), rel=1e-6)
    with pytest.raises(XtalkitError, match="compositions differ"):
        wyckoff_mse(nacl(), s, align=align)


def test_energy_distance_with_given_energy():
    def volume_per_atom(st):  # a stand-in energy function, "eV/atom"
        return st.volume / len(st)

    assert energy_distance(nacl(), nacl(), energy_fn=volume_per_atom) == 0.0
    assert energy_distance(nacl(5.7), nacl(5.64), energy_fn=volume_per_atom) == pytest.approx(
        (5.7**3 - 5.64**3) / 8
    )
    with pytest.raises(XtalkitError, match="compositions differ"):
        energy_distance(cscl(), nacl(), energy_fn=volume_per_atom)


# ---------------------------------------------------------------- reconstruction

CASES = {
    "NaCl": (nacl, 225),
    "CsCl": (cscl, 221),
    "TiO2": (rutile, 136),
    "SrTiO3": (srtio3, 221),
}


@pytest.mark.parametrize("name", list(CASES))
def test_reconstruction_recovers_structure(name):
    build, sg = CASES[name]
    s = build()
    t = distance_target(s)
    cands = reconstruct(
        t.encoding.formula, sg, s.lattice.parameters, t.distances, t.encoding.mask,
        population=24, generations=30, seed=0,
    )  # fmt: skip
    best = cands[0]
    assert [c.loss for c in cands] == sorted(c.loss for c in cands)
    assert best.loss < 1e-10
    assert best.distance_rmse < 1e-5
    assert structure_match(best.structure, s, **STRICT)
    assert structure_rms(best.structure, s, **STRICT) < 1e-4
    assert best.structure.composition == s.composition
    # the assignment maps target rows onto candidate sites of the same element
    z = np.array([site.specie.Z for site in best.structure])
    assert z[best.assignment].tolist() == t.encoding.numbers.tolist()


def test_reconstruction_wrong_wyckoff_sets_score_worse():
    s = srtio3()
    t = distance_target(s)
    cands = reconstruct("SrTiO3", 221, s.lattice.parameters, t.distances, t.encoding.mask, seed=0)
    # Sr/Ti at 1a/1b and O at 3c/3d: 4 templates; O on the edges (Sr-O = a/2) must lose
    assert len(cands) == 4
    good = [c for c in cands if structure_match(c.structure, s, **STRICT)]
    assert len(good) == 2 and all(c.loss < 1e-10 for c in good)
    assert all(c.loss > 0.1 for c in cands if c not in good)


def test_reconstruction_with_free_lattice():
    s = rutile()
    t = distance_target(s)
    off = (4.594 * 1.02, 4.594 * 1.02, 2.959 * 0.98, 90, 90, 90)
    best = reconstruct(
        "Ti2O4", 136, off, t.distances, t.encoding.mask,
        length_tolerance=0.05, population=32, generations=40, seed=0,
    )[0]  # fmt: skip
    a, _, c = best.structure.lattice.abc
    assert a == pytest.approx(4.594, rel=1e-3) and c == pytest.approx(2.959, rel=1e-3)
    assert structure_match(best.structure, s, **STRICT)


def test_reconstruction_deadline_stops_after_one_template():
    # SrTiO3 in Pm-3m has 4 templates; a deadline already past leaves exactly one of them
    s = srtio3()
    t = distance_target(s)
    args = ("SrTiO3", 221, s.lattice.parameters, t.distances, t.encoding.mask)
    assert len(reconstruct(*args, seed=0)) == 4
    assert len(reconstruct(*args, seed=0, deadline=time.monotonic() - 1.0)) == 1


def test_reconstruction_is_reproducible():
    s = rutile()
    t = distance_target(s)
    args = ("Ti2O4", 136, s.lattice.parameters, t.distances, t.encoding.mask)
    a = reconstruct(*args, population=8, generations=5, polish=False, seed=7)
    b = reconstruct(*args, population=8, generations=5, polish=False, seed=7)
    assert [c.loss for c in a] == [c.loss for c in b]
    np.testing.assert_array_equal(a[0].structure.frac_coords, b[0].structure.frac_coords)


def test_standard_setting_of_pnma():
    """pymatgen's conventional cell of Pnma sorts the axes; standard_setting gives pyxtal's setting."""
    s = Structure.from_spacegroup(
        "Pnma", Lattice.orthorhombic(6.86, 3.73, 9.14), ["Zr", "As", "As"],
        [[0.7727, 0.25, 0.1619], [0.9170, 0.25, 0.8526], [0.8797, 0.25, 0.4577]],
    )  # fmt: skip
    c, sg = standard_setting(s)
    assert sg == 62 and len(c) == 12
    t = distance_target(c)
    best = reconstruct(
        t.encoding.formula, sg, c.lattice.parameters, t.distances, t.encoding.mask,
        population=32, generations=40, seed=0,
    )[0]  # fmt: skip
    assert structure_match(best.structure, s, **STRICT)


def test_reconstruction_from_discretized_target():
    """A network predicts bin centres, not distances: rutile from its 20-group target (1.12 Å wide bins)."""
    s = rutile()
    t = distance_target(s)
    bins = DistanceBins(n_groups=20)  # the paper's Mp_12 range
    coarse = np.where(t.pair_mask, bins.decode(bins.classify(t.distances)), 0.0)
    assert distance_matrix_rmse(coarse, t.distances, t.pair_mask) > 0.2
    cands = reconstruct("Ti2O4", 136, s.lattice.parameters, coarse, t.encoding.mask, seed=0)
    assert structure_match(cands[0].structure, s, **STRICT)
    assert cands[0].loss > 0.01  # the coarse target cannot be met exactly


def test_reconstruction_errors():
    s = nacl()
    t = distance_target(s)
    with pytest.raises(XtalkitError, match="does not fit the cubic"):
        reconstruct("Na4Cl4", 225, (5.64, 5.64, 6.0, 90, 90, 90), t.distances, t.encoding.mask)
    with pytest.raises(XtalkitError, match="no combination of Wyckoff positions"):
        reconstruct("Na3Cl3", 225, s.lattice.parameters, t.distances[:6, :6])
    with pytest.raises(XtalkitError, match="marks 8 atoms"):
        reconstruct("CsCl", 221, (4.12,) * 3 + (90,) * 3, t.distances, t.encoding.mask)


# ---------------------------------------------------------------- CHGNet


def test_chgnet_relax_lowers_energy():
    """≈ 6 s on one core (model load ≈ 2 s), so not marked slow."""
    pytest.importorskip("chgnet")
    from xtalkit.csp import predict_energy, relax

    s = nacl(5.9)  # expanded by 5 %
    e0 = predict_energy(s)
    relaxed, e = relax(s, steps=60, fmax=0.05)
    assert e < e0 - 1e-3
    assert relaxed.composition == s.composition
    assert relaxed.lattice.a < 5.85
    assert energy_distance(relaxed, relaxed) == 0.0
