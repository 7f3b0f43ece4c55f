"""csp/lattice.py and csp/lattice_eval.py: forests, space-group compatibility, the lattice model and its report."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from xtalkit.csp.data import CRYSTAL_SYSTEMS
from xtalkit.csp.lattice import (
    ForestArrays,
    LatticeConfig,
    LatticeModel,
    cell_volume,
    holds_composition,
)
from xtalkit.errors import XtalkitError


def test_forest_arrays_reproduce_scikit_learn():
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 6))
    y = (X[:, 0] > 0).astype(int) * 3 + (X[:, 1] > 0.5) + 10
    Xt = rng.normal(size=(40, 6))
    c = RandomForestClassifier(15, min_samples_leaf=2, random_state=0).fit(X, y)
    np.testing.assert_allclose(
        ForestArrays.from_sklearn(c).predict_proba(Xt), c.predict_proba(Xt), atol=1e-12
    )
    r = RandomForestRegressor(15, random_state=0).fit(X, X[:, 0] - 2 * X[:, 2])
    np.testing.assert_allclose(ForestArrays.from_sklearn(r).predict(Xt)[:, 0], r.predict(Xt), atol=1e-12)


@pytest.mark.parametrize(
    ("group", "counts", "ok"),
    [(225, [4, 4], True), (225, [1, 1], False), (225, [2, 2], False), (136, [2, 4], True),
     (221, [1, 1, 3], True), (1, [5, 7], True), (166, [3, 6], True), (166, [1, 2], False)],
)  # fmt: skip
def test_holds_composition(group, counts, ok):
    from pyxtal.symmetry import Group

    assert holds_composition(group, counts) is ok
    assert bool(Group(group).list_wyckoff_combinations(counts)[0]) is ok  # pyxtal agrees


def _synthetic(elements_a, elements_b):
    """Stoichiometry decides the group: AB → Pm-3m (221), AB2 → P-3m1 (164); v = 5 + <Z>/4 Å³/atom."""
    from xtalkit.elements import atomic_number

    counts, groups, lattices, natoms, names = [], [], [], [], []
    for a in elements_a:
        for b in elements_b:
            za, zb = atomic_number(a), atomic_number(b)
            for nb, g in ((1, 221), (2, 164)):
                v = 5.0 + (za + nb * zb) / (1 + nb) / 4.0
                c = np.zeros(103)
                c[za - 1], c[zb - 1] = 1, nb
                n = 1 + nb
                if g == 221:
                    p = [(n * v) ** (1 / 3)] * 3 + [90.0] * 3
                else:  # c/a = 1.6 on hexagonal axes
                    aa = (n * v / (1.6 * math.sqrt(3) / 2)) ** (1 / 3)
                    p = [aa, aa, 1.6 * aa, 90.0, 90.0, 120.0]
                counts.append(c)
                groups.append(g)
                lattices.append(p)
                natoms.append(n)
                names.append(f"{a}{b}{nb if nb > 1 else ''}")
    return np.array(counts), np.array(groups), np.array(lattices), np.array(natoms), names


def test_lattice_model_on_a_synthetic_set(tmp_path):
    train = _synthetic(["Li", "Na", "K", "Cs", "Mg", "Sr", "Ba", "Be"], ["F", "Cl", "I", "O", "Se"])
    test = _synthetic(["Rb", "Ca"], ["Br", "S"])
    model = LatticeModel.fit(*train[:4], config=LatticeConfig(n_estimators=30, seed=0))
    hits, vol_err = 0, []
    for c, g, p, n, name in zip(*test, strict=True):
        top = model.top_space_groups(name, k=2)
        assert 1 <= len(top) <= 2 and all(holds_composition(t.number, c[c > 0]) for t in top)
        hits += top[0].number == g
        v = model.volume_per_atom(name)
        vol_err.append(abs(v - cell_volume(p) / n) / (cell_volume(p) / n))
        lat = model.lattice(name, g)
        assert cell_volume(lat) == pytest.approx(n * v, rel=1e-9)  # V = N · v̂ exactly
        if g == 164:
            assert lat[0] == lat[1] and lat[5] == 120.0 and lat[2] / lat[0] == pytest.approx(1.6, rel=0.02)
        else:
            assert lat[0] == lat[1] == lat[2] and tuple(lat[3:]) == (90.0, 90.0, 90.0)
    assert hits == len(test[1])  # the best group is the true one for every held-out composition
    assert max(vol_err) < 0.08
    probs = model.crystal_system_proba("RbBr")
    assert sum(probs.values()) == pytest.approx(1.0) and set(probs) == set(CRYSTAL_SYSTEMS)
    model.save(tmp_path / "lat.npz")
    back = LatticeModel.load(tmp_path / "lat.npz")
    np.testing.assert_array_equal(back.lattice("CaS2", 164), model.lattice("CaS2", 164))
    with np.load(tmp_path / "lat.npz", allow_pickle=False) as z:  # plain arrays, no pickle
        assert "space_group/threshold" in z.files
    (tmp_path / "bad.npz").write_bytes(b"not a model")
    with pytest.raises(XtalkitError, match="not a lattice model"):
        LatticeModel.load(tmp_path / "bad.npz")


def test_p1_fallback_when_no_predicted_group_holds_the_cell():
    c = np.zeros((6, 103))
    for i, (za, zb) in enumerate([(11, 17), (19, 17), (11, 35), (19, 35), (3, 9), (12, 8)]):
        c[i, za - 1], c[i, zb - 1] = 4, 4
    model = LatticeModel.fit(c, np.full(6, 225), np.tile([5.0] * 3 + [90.0] * 3, (6, 1)), np.full(6, 8.0),
                             config=LatticeConfig(n_estimators=5))  # fmt: skip
    assert [g.number for g in model.top_space_groups("Na4Cl4", 3)] == [225, 1]
    assert [g.number for g in model.top_space_groups("NaCl", 3)] == [1]  # Fm-3m cannot hold 1 + 1 atoms


def _load_benchmark(name: str):
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _lattice_results(n_train: int, n_test: int) -> dict:
    scores = {"crystal_system_accuracy": 0.5, "space_group_top1": 0.25, "space_group_top5": 0.5,
              "space_group_top10": 0.75, "volume_per_atom_mare": 0.125, "length_mare_true_group": 0.0625,
              "free_angle_mae_deg": None, "n_free_angles": 0}  # fmt: skip
    return {"model": scores, "baseline": dict(scores), "n_test": n_test, "n_train": n_train, "v_base": 20.0}


def test_lattice_report_says_which_table_model_and_rows_it_scored():
    from xtalkit.csp.lattice_eval import lattice_markdown

    doc = {"lattice_model": "my_forests.npz", "data": "/data/tiny.csv", "results": _lattice_results(9, 2)}
    text = lattice_markdown(doc)
    head, provenance = text.splitlines()[0], text.splitlines()[2]
    assert head == "# Space group and lattice from the composition (tiny.csv: 2 test rows)"
    assert provenance.startswith(
        "Lattice model `my_forests.npz`, scored on the 2 test rows of `/data/tiny.csv` (conventional cells, "
        "pyxtal setting); the baselines are fitted on its 9 training and validation rows. Baseline: "
    )
    assert "mp.csv.gz" not in text and "fold" not in text and "unseen" not in text
    assert "| space group within the first 5 | 50.0% | 50.0% |" in text
    assert "| free angles given the true group, MAE (°) | – | – |" in text
    assert "Wall time" not in text  # no "seconds" in the CLI's document
    # a caller's own wording replaces the default heading and provenance, not the table
    own = lattice_markdown({**doc, "seconds": 3.2}, title="T", provenance="P.")
    assert own.startswith("# T\n\nP. Baseline: most frequent system") and "Wall time 3 s." in own


def test_lattice_benchmark_keeps_its_published_text():
    """benchmarks/lattice.py passes its own wording (folds 0-7, fold 8): the stored report is reproduced."""
    from pathlib import Path

    bench = _load_benchmark("lattice")
    results = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
    doc = json.loads((results / "lattice.json").read_text())
    assert bench.markdown(doc) == (results / "lattice.md").read_text()
    assert bench.markdown(doc).startswith("# Space group and lattice from the composition (mp.csv.gz fold 8)")


def test_evaluate_lattice_needs_training_and_test_rows(csp_dataset):
    from xtalkit.csp.lattice_eval import evaluate_lattice

    rows = np.arange(len(csp_dataset))
    with pytest.raises(XtalkitError, match="no training rows to fit the baselines"):
        evaluate_lattice(None, csp_dataset, rows[:0], rows)
    with pytest.raises(XtalkitError, match="no test rows to score"):
        evaluate_lattice(None, csp_dataset, rows, rows[:0])
