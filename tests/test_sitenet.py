"""Site-Net: featurization physics, eqs. 3-8, unit-cell invariance (§3.2), unique-site identity (§3.1)."""

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

from xtalkit import read_crystal
from xtalkit.crystal.core import Crystal
from xtalkit.data.sitenet_features import (
    SITE_FEATURE_NAMES,
    SitenetFeatureDataset,
    UniqueSiteBatchSampler,
    collate,
    featurize,
    load_features,
    primitive_cell,
    save_features,
)
from xtalkit.elements import sitenet_features
from xtalkit.examples import path as example_path
from xtalkit.geometry.rotations import random_rotations_np
from xtalkit.models.checkpoint import load_model, save_model
from xtalkit.models.sitenet import (
    SiteNet,
    long_range_coefficient,
    segment_softmax,
    straight_through_clamp,
)
from xtalkit.property.sitenet_analysis import attention_distance_histogram, plot_attention_histogram

from conftest import TRICLINIC, lattice_from_parameters

torch.set_num_threads(1)

SMALL = dict(
    embedding_dim=8,
    site_dim_per_head=8,
    interaction_dim_per_head=4,
    attention_hidden=(16,),
    pre_pool=(12,),
    post_pool=(16, 16),
)
N = 50  # supercell budget used in the tests (paper: 500; 50 and 100 in Table 2)


def small_model(seed=0, **kw):
    torch.manual_seed(seed)
    return SiteNet(**{**SMALL, **kw}).double().eval()


def triclinic(seed=1, n=5):
    rng = np.random.default_rng(seed)
    numbers = [8, 14, 26, 8, 3, 1, 12][:n]
    return Crystal(lattice=lattice_from_parameters(**TRICLINIC), numbers=numbers, frac=rng.random((n, 3)))


def nacl_conventional():
    s = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    return Crystal.from_pymatgen(s)


def batch_of(crystals, max_atoms=N, **kw):
    return collate([featurize(c, max_atoms, dtype=np.float64, **kw) for c in crystals], torch.float64)


@torch.no_grad()
def predict(model, crystal, max_atoms=N, **kw):
    return model(batch_of([crystal], max_atoms, **kw)).item()


# --------------------------------------------------------------------------------------- featurization
def test_featurize_nacl_primitive_supercell_and_features():
    f = featurize(nacl_conventional(), 100)
    # conventional 8-atom cell → primitive 2-atom cell; queries = the 2 unique sites
    assert f["numbers"].tolist() == [11, 17]
    Q, Nk, two = f["interaction_features"].shape
    assert (Q, two) == (2, 2) and Nk <= 100 and Nk == 2 * round(np.linalg.det(f["supercell_matrix"]))
    assert Nk == 96  # 48 copies of the 2-atom cell (the pseudo-cubic choice within 100 atoms)
    det = Nk // 2
    np.testing.assert_array_equal(f["key_site"], np.repeat([0, 1], det))
    assert f["site_features"].dtype == np.float32 and f["interaction_features"].dtype == np.float32
    # 9 scalar features: the 8 elemental ones and the oxidation state (0 by default)
    assert f["site_features"].shape == (2, len(SITE_FEATURE_NAMES)) == (2, 9)
    np.testing.assert_allclose(f["site_features"][:, :8], sitenet_features([11, 17]), rtol=1e-6)
    np.testing.assert_array_equal(f["site_features"][:, 8], 0.0)
    d = f["interaction_features"][..., 0]
    # the unique site itself is key k·det at distance 0, its images of the same element ≥ a/√2 away
    assert d[0, 0] == 0 and d[1, det] == 0
    assert d[0, 1:det].min() == pytest.approx(5.64 / np.sqrt(2), rel=1e-6)
    # nearest Na–Cl distance is a/2
    assert d[0, det:].min() == pytest.approx(2.82, rel=1e-6)
    # log Coulomb: self term ln(½ Z^2.4), others ln(Z_i Z_j / d)
    logc = f["interaction_features"][..., 1]
    assert logc[0, 0] == pytest.approx(np.log(0.5 * 11**2.4), rel=1e-6)
    zk = np.repeat([11, 17], det)
    off = d > 0
    np.testing.assert_allclose(logc[off], np.log((f["numbers"][:, None] * zk[None, :] / np.where(off, d, 1))[off]),
                               rtol=1e-5)  # fmt: skip


def test_distances_are_supercell_minimum_image_as_pymatgen():
    c = triclinic(n=6)
    f = featurize(c, 100, dtype=np.float64)
    prim, _ = primitive_cell(c)
    sup = prim.make_supercell(f["supercell_matrix"])
    det = len(sup) // len(prim)
    dm = sup.to_pymatgen().distance_matrix  # pymatgen's own periodic minimum image
    np.testing.assert_allclose(f["interaction_features"][..., 0], dm[::det], atol=1e-9)
    full = featurize(c, 100, queries="all", dtype=np.float64)
    np.testing.assert_allclose(full["interaction_features"][..., 0], dm, atol=1e-9)


def test_log_coulomb_clip_and_supercell_budgets():
    # UO2 (fluorite): self term ½·92^2.4 = e^10.17 is clipped at 10
    s = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.47), ["U", "O"], [[0, 0, 0], [0.25, 0.25, 0.25]])
    for n_max in (50, 100, 500):
        f = featurize(s, n_max)
        Nk = f["interaction_features"].shape[1]
        assert n_max // 2 < Nk <= n_max and Nk % 3 == 0  # whole primitive cells, never above the budget
        logc = f["interaction_features"][..., 1]
        assert logc.max() == 10.0 and logc.min() > -10.0
        assert logc[0, 0] == 10.0  # U with itself
        assert f["numbers"].tolist() == [92, 8, 8]


def test_oxidation_state_options():
    c = nacl_conventional()
    assert featurize(c, 50, oxidation="guess")["site_features"][:, 8].tolist() == [1.0, -1.0]
    assert featurize(c, 50)["site_features"][:, 8].tolist() == [0.0, 0.0]
    # per-atom values of the input cell follow their atoms through the primitive reduction
    values = np.where(c.numbers == 11, 3.0, -2.0)
    assert featurize(c, 50, oxidation=values)["site_features"][:, 8].tolist() == [3.0, -2.0]
    with pytest.raises(ValueError, match="ordered"):
        featurize(c.replace(occupancy=np.full(len(c), 0.5)), 50)


def test_features_cache_round_trip(tmp_path):
    f = featurize(read_crystal(example_path("rutile")), 50)
    save_features(tmp_path / "rutile.npz", f)
    g = load_features(tmp_path / "rutile.npz")
    assert set(g) == set(f)
    for k in f:
        assert g[k].dtype == f[k].dtype
        np.testing.assert_array_equal(g[k], f[k])


# ------------------------------------------------------------------------------------ the equations
@pytest.mark.parametrize("shared", [False, True])
def test_attention_block_is_eqs_3_to_7_written_densely(shared):
    model = small_model(shared_head_features=shared)
    batch = batch_of([triclinic()])
    block = model.blocks[0]
    Q, H, d = batch.n_sites, 3, 8
    Nk = batch.n_pairs // Q
    torch.manual_seed(5)
    S = torch.randn(Q, 3 * d, dtype=torch.float64)
    I = torch.randn(batch.n_pairs, 12, dtype=torch.float64)  # noqa: E741
    with torch.no_grad():
        S_new, I_new, a = block(S, I, batch.pair_query, batch.pair_key)
        # eq. 3 as a dense (Q, N, 2λ+μ) tensor, S_i ‖ I_ij ‖ S_j
        B = torch.cat(
            [S[:, None, :].expand(Q, Nk, -1), I.view(Q, Nk, 12), S[batch.pair_key.view(Q, Nk)]], dim=2
        )
        assert B.shape[-1] == 2 * 24 + 12
        np.testing.assert_allclose(
            block.bond_features(S, I, batch.pair_query, batch.pair_key), B.view(-1, 60)
        )
        W, b = block.first_linear()
        pre = B @ W.T + b
        w_pre, f_pre, i_pre = pre.split(block.split, dim=2)
        mish_ln = lambda x, norm: norm(torch.nn.functional.mish(x))  # noqa: E731
        logits = block.w_out(mish_ln(w_pre, block.w_norm))  # g^W
        a_ref = torch.softmax(logits, dim=1)  # eq. 5: softmax over j
        AF = mish_ln(f_pre, block.f_norm)  # eq. 4
        if shared:
            summed = torch.einsum("qjh,qjf->qhf", a_ref, AF)
        else:
            summed = torch.einsum("qjh,qjhf->qhf", a_ref, AF.view(Q, Nk, H, d))
        S_ref = block.g_s(summed.reshape(Q, H * d))  # eq. 6
        I_ref = mish_ln(i_pre, block.i_norm)  # eq. 7
    np.testing.assert_allclose(a.view(Q, Nk, H), a_ref, atol=1e-13)
    np.testing.assert_allclose(a.view(Q, Nk, H).sum(1), 1.0, atol=1e-13)
    np.testing.assert_allclose(S_new, S_ref, atol=1e-11)
    np.testing.assert_allclose(I_new.view(Q, Nk, -1), I_ref, atol=1e-11)


def test_paper_widths():
    torch.manual_seed(0)
    m = SiteNet()
    assert (
        m.embedding.weight.shape[1] + 9 == 101 == m.site_in.linear.in_features
    )  # Table 1: 101 site features
    assert (m.site_dim, m.interaction_dim) == (90, 48)  # λ, μ of §2.2
    assert len(m.blocks) == 2 and m.blocks[0].heads == 3
    W, _ = m.blocks[0].first_linear()
    assert W.shape[1] == 2 * 90 + 48  # B_ij
    assert m.blocks[0].w_out.in_features == 225 and m.blocks[0].w_out.out_features == 3  # g^W [1, 225]
    assert m.pre_pool[0].linear.in_features == 180 and m.pre_pool[0].linear.out_features == 94
    assert [layer.linear.out_features for layer in m.post_pool] == [200, 200, 200]
    f = featurize(nacl_conventional(), 100)
    with torch.no_grad():
        assert m.eval()(collate([f])).shape == (1,)


def test_segment_softmax_by_hand():
    logits = torch.tensor([[0.0], [np.log(3.0)], [5.0], [-torch.inf]], dtype=torch.float64)
    a = segment_softmax(logits, torch.tensor([0, 0, 1, 1]), 2)
    np.testing.assert_allclose(a[:, 0], [0.25, 0.75, 1.0, 0.0], atol=1e-15)


# ------------------------------------------------------------------------------------- invariance §3.2
def _translated(c):
    return c.replace(frac=np.mod(c.frac + np.array([0.31, 0.57, 0.83]), 1.0))


def _unimodular(c):
    return c.make_supercell([[1, 1, 0], [0, 1, 0], [0, 0, 1]])  # det 1: same lattice, new basis


def _unimodular2(c):
    return c.make_supercell([[2, 1, 0], [1, 1, 0], [1, 0, 1]])  # det 1


def _permuted(c):
    return c.select(np.random.default_rng(3).permutation(len(c)))


def _rotated(c):
    return c.rotated(random_rotations_np(1, np.random.default_rng(4))[0])


@pytest.mark.parametrize("transform", [_translated, _unimodular, _unimodular2, _permuted, _rotated])
@pytest.mark.parametrize("structure", ["triclinic", "rutile"])
def test_prediction_invariant_under_cell_choice(transform, structure):
    c = triclinic() if structure == "triclinic" else read_crystal(example_path("rutile"))
    model = small_model()
    t = transform(c)
    assert not np.allclose(t.cart, c.cart)  # the input really changed
    p0, p1 = predict(model, c), predict(model, t)
    assert abs(p0 - p1) < 1e-9
    # control: moving one atom by 0.3 Å (not a change of cell) changes the prediction by far more
    shift = np.zeros((len(c), 3))
    shift[0] = [0.3, 0.0, 0.0]
    moved = c.replace(frac=c.frac + shift @ np.linalg.inv(c.lattice))
    assert abs(predict(model, moved) - p0) > 1e-6


def test_invariance_in_float32_to_1e5():
    c = triclinic()
    torch.manual_seed(0)
    model = SiteNet(**SMALL).eval()
    with torch.no_grad():
        p = [
            model(collate([featurize(x, N)])).item()
            for x in (c, _translated(c), _unimodular2(c), _permuted(c))
        ]
    assert np.ptp(p) < 1e-5


def test_conventional_and_primitive_cells_give_the_same_prediction():
    conv = nacl_conventional()
    prim = Crystal.from_pymatgen(conv.to_pymatgen().get_primitive_structure())
    assert (len(conv), len(prim)) == (8, 2)
    model = small_model()
    assert abs(predict(model, conv) - predict(model, prim)) < 1e-9
    assert len(featurize(conv, N)["numbers"]) == 2
    assert len(featurize(conv, N, primitive=False)["numbers"]) == 8  # the cell as given


# ------------------------------------------------------------------------------- unique sites §3.1
@pytest.mark.parametrize("cutoff", [None, 4.0])
def test_unique_sites_equal_rows_of_full_computation(cutoff):
    c = triclinic()
    model = small_model(distance_cutoff=cutoff)
    bu = batch_of([c])
    bf = batch_of([c], queries="all")
    n = bu.n_sites
    det = bf.n_sites // n
    assert det > 1 and bf.n_pairs == det * bu.n_pairs  # N² pairs instead of n·N
    with torch.no_grad():
        eu, ef = model.encode(bu), model.encode(bf)
        # every image t of unique site k (full row k·det + t) has the unique site's features
        images = torch.arange(bf.n_sites) // det
        np.testing.assert_allclose(ef.sites, eu.sites[images], atol=1e-12)
        np.testing.assert_allclose(ef.pooled_sites, eu.pooled_sites[images], atol=1e-12)
        assert eu.sites.std(0).mean() > 0.1  # the sites do differ from one another
        np.testing.assert_allclose(model(bf), model(bu), atol=1e-12)
        # eq. 8 over unique rows equals eq. 8 over all N × N pairs
        np.testing.assert_allclose(
            model.long_range_coefficients(bf), model.long_range_coefficients(bu), atol=1e-12
        )


# ------------------------------------------------------------------------------------------ batches
def test_batch_equals_one_at_a_time():
    crystals = [triclinic(), read_crystal(example_path("rutile")), nacl_conventional()]
    model = small_model()
    with torch.no_grad():
        together = model(batch_of(crystals))
        alone = torch.cat([model(batch_of([c])) for c in crystals])
    assert together.shape == (3,)
    np.testing.assert_allclose(together, alone, atol=1e-12)
    assert np.ptp(alone.numpy()) > 1e-3  # different structures, different predictions


def test_unique_site_batch_sampler():
    sizes = [5, 300, 700, 1300, 2, 450, 600, 80]
    sampler = UniqueSiteBatchSampler(sizes, max_sites=1200, shuffle=True, seed=7)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(len(sizes)))
    for b in batches:
        assert sum(sizes[i] for i in b) <= 1200 or b == [3]  # 1300 alone exceeds the budget
    assert [3] in batches
    assert list(sampler) == batches and len(sampler) == len(batches)  # same epoch, same batches
    sampler.set_epoch(1)
    assert list(sampler) != batches
    fixed = list(UniqueSiteBatchSampler(sizes, max_sites=1200, shuffle=False))
    assert fixed == [[0, 1, 2], [3], [4, 5, 6, 7]]


def test_dataloader_with_cached_features_and_site_budget(tmp_path):
    crystals = [
        triclinic(),
        read_crystal(example_path("rutile")),
        nacl_conventional(),
        triclinic(seed=2, n=7),
    ]
    paths = []
    for k, c in enumerate(crystals):
        paths.append(save_features(tmp_path / f"{k}.npz", featurize(c, N)))
    ds = SitenetFeatureDataset(paths, targets=[0.5, 1.0, 1.5, 2.0], ids=["a", "b", "c", "d"])
    sizes = ds.n_sites()
    assert sizes.tolist() == [5, 6, 2, 7]
    sampler = UniqueSiteBatchSampler(sizes, max_sites=12, shuffle=False)
    loader = torch.utils.data.DataLoader(ds, batch_sampler=sampler, collate_fn=collate)
    batches = list(loader)
    assert [b.ids for b in batches] == [["a", "b"], ["c", "d"]]
    assert all(b.n_sites <= 12 for b in batches)
    np.testing.assert_array_equal(batches[1].target, [1.5, 2.0])
    np.testing.assert_array_equal(batches[1].site_batch, [0, 0, 1, 1, 1, 1, 1, 1, 1])
    torch.manual_seed(0)
    model = SiteNet(**SMALL).eval()
    with torch.no_grad():
        joined = torch.cat([model(b) for b in batches])
        alone = torch.cat([model(collate([ds[k]])) for k in range(4)])
    np.testing.assert_allclose(joined, alone, atol=1e-5)


# ------------------------------------------------------------------------------------- cutoff mask
def test_distance_cutoff_removes_keys_beyond_r():
    c = read_crystal(example_path("rutile"))
    r = 5.0
    batch = batch_of([c], 100)
    far = batch.pair_distance > r
    assert far.float().mean() > 0.3  # most of the supercell lies beyond 5 Å
    cut = small_model(distance_cutoff=r)
    free = small_model()  # same seed: same weights
    with torch.no_grad():
        enc = cut.encode(batch)
        for a in enc.attention:
            assert (a[far] == 0).all()
            assert (a[~far] > 0).all()
        # same as a batch from which the far keys were dropped
        keep = ~far
        dropped = type(batch)(**{**batch.__dict__, "pair_features": batch.pair_features[keep],
                                 "pair_query": batch.pair_query[keep], "pair_key": batch.pair_key[keep]})  # fmt: skip
        np.testing.assert_allclose(cut(batch), free(dropped), atol=1e-12)
        assert abs(cut(batch).item() - free(batch).item()) > 1e-4  # the far keys did matter
    with pytest.raises(ValueError):
        SiteNet(distance_cutoff=0.0)


# ------------------------------------------------------------------------------------- output clamp
def test_straight_through_clamp():
    x = torch.tensor([-2.0, -0.1, 0.0, 1.5], requires_grad=True)
    y = straight_through_clamp(x)
    assert y.tolist() == [0.0, 0.0, 0.0, 1.5]
    (y * torch.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
    assert x.grad.tolist() == [1.0, 2.0, 3.0, 4.0]  # identity gradient, also where clamped

    model = small_model(clamp_output=True, target_mean=-50.0)  # pushes every pre-activation negative
    batch = batch_of([triclinic()])
    pred = model(batch)
    assert pred.item() == 0.0
    (pred - 1.0).abs().sum().backward()
    assert model.out.weight.grad.abs().sum() > 0
    assert model.blocks[0].lin_i.weight.grad.abs().sum() > 0


# ----------------------------------------------------------------------------------------- analysis
def test_long_range_coefficient_by_hand():
    # structure 0: 2 pairs, 2 heads; structure 1: 1 pair
    att = torch.tensor([[0.9, 0.2], [0.1, 0.8], [1.0, 1.0]])
    dist = torch.tensor([1.0, 10.0, 3.0])
    lrc = long_range_coefficient(att, dist, torch.tensor([0, 0, 1]), 2)
    # head 1: max(0.9·1, 0.1·10) = 1.0; head 2: max(0.2·1, 0.8·10) = 8.0
    np.testing.assert_allclose(lrc, [9.0, 6.0], rtol=1e-6)


def test_attention_histogram_and_plot(tmp_path):
    model = small_model()
    batch = batch_of([triclinic(), read_crystal(example_path("rutile"))])
    with torch.no_grad():
        att = model.encode(batch).attention
    hists = [attention_distance_histogram(a, batch.pair_distance) for a in att]
    h = hists[0]
    assert h.counts.shape == (3, 60, 60)
    assert h.counts.sum() == 3 * batch.n_pairs  # every pair lies within 0-30 Å and 1e-6-1
    prop = h.proportions()
    filled = h.counts.sum(axis=2) > 0
    np.testing.assert_allclose(prop.sum(axis=2)[filled], 1.0)
    both = hists[0] + hists[1]
    np.testing.assert_array_equal(both.counts, hists[0].counts + hists[1].counts)
    plot_attention_histogram(hists, tmp_path / "fig6.png")
    assert (tmp_path / "fig6.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------------------- save/load
def test_save_load_round_trip_is_exact(tmp_path):
    torch.manual_seed(0)
    model = SiteNet(**SMALL, distance_cutoff=6.0, clamp_output=True, target_mean=1.3, target_std=0.7).eval()
    batch = collate([featurize(triclinic(), N), featurize(read_crystal(example_path("rutile")), N)])
    save_model(tmp_path / "sitenet.pt", model, metadata={"task": "band_gap"})
    loaded, meta = load_model(tmp_path / "sitenet.pt")
    assert isinstance(loaded, SiteNet) and meta == {"task": "band_gap"}
    assert loaded.init_args == model.init_args
    assert loaded.distance_cutoff == 6.0 and loaded.clamp_output
    assert loaded.target_mean.item() == pytest.approx(1.3) and loaded.target_std.item() == pytest.approx(0.7)
    with torch.no_grad():
        assert torch.equal(model(batch), loaded(batch))
