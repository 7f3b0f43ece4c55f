"""benchmarks/properties.py and scripts/package_property_model.py on a tiny synthetic data directory."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from pymatgen.core import Lattice, Structure

from xtalkit.data.tables import load_splits
from xtalkit.property import PropertyPredictor

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[1]


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


bench = _load(REPO / "benchmarks" / "properties.py", "bench_properties")
package = _load(REPO / "scripts" / "package_property_model.py", "package_property_model")

CATIONS = {"Li": -1.0, "Na": -0.6, "K": -0.3, "Mg": -1.4, "Ca": -1.2}
ANIONS = {"F": -2.0, "Cl": -1.1, "O": -1.6, "S": -0.7}


def _rows():
    rows = []
    for kind, offset in (("rocksalt", 0.0), ("cscl", 0.4)):
        for a in CATIONS:
            for b in ANIONS:
                if kind == "rocksalt":
                    lat = Lattice(np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]]) * 2.6)
                    s = Structure(lat, [a, b], [[0, 0, 0], [0.5, 0.5, 0.5]])
                else:
                    s = Structure(Lattice.cubic(3.1), [a, b], [[0, 0, 0], [0.5, 0.5, 0.5]])
                e = 0.5 * (CATIONS[a] + ANIONS[b]) + offset
                rows.append({"cif": s.to(fmt="cif"), "e": e, "gap": max(0.0, -2 * e), "k": 10 ** (2 + e / 4)})
    return rows


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """mp.csv.gz (40 rows, folds 0-8), wbm_10k.csv.gz (6 rows), aflow/bulk_modulus split files in GPa."""
    root = tmp_path_factory.mktemp("materials")
    rows = _rows()
    mp = pd.DataFrame({
        "material_id": [f"mp-{i}" for i in range(len(rows))],
        "formation_energy_per_atom": [r["e"] for r in rows],
        "band_gap": [r["gap"] for r in rows],
        "formula_fold": [i % 9 for i in range(len(rows))],
        "cif": [r["cif"] for r in rows],
    })  # fmt: skip
    mp.to_csv(root / "mp.csv.gz", index=False)
    wbm = pd.DataFrame({"cif": [r["cif"] for r in rows[::7]], "formation_energy_per_atom": [r["e"] for r in rows[::7]],
                        "band_gap": [r["gap"] for r in rows[::7]]})  # fmt: skip
    wbm.to_csv(root / "wbm_10k.csv.gz")
    d = root / "aflow" / "bulk_modulus"
    d.mkdir(parents=True)
    k = [r["k"] for r in rows]
    k[3] = 0.0  # no log10: left out
    for name, sl in (("train", slice(0, 28)), ("val", slice(28, 34)), ("test", slice(34, 40))):
        pd.DataFrame({"cif": [r["cif"] for r in rows[sl]], "bulk_modulus": k[sl]}).to_csv(
            d / f"{name}.csv.gz"
        )
    return root


def test_log10_table_and_subsample(data_dir):
    t = load_splits(data_dir / "aflow" / "bulk_modulus", "bulk_modulus")
    assert t.units == "GPa" and len(t) == 40
    lt = bench.log10_table(t)
    assert lt.target == "log10(bulk_modulus)" and lt.units == "log10 GPa"
    assert len(lt) == 39 and "log10" in lt.skipped[-1].reason and "0" in lt.skipped[-1].reason
    keep = t.y > 0
    np.testing.assert_allclose(lt.y, np.log10(t.y[keep]))
    assert lt.split_sizes() == {"train": 27, "val": 6, "test": 6}
    # seeded, and the validation rows do not depend on the training size
    a = bench.subsample(lt, 10, 3, None, seed=0)
    b = bench.subsample(lt, 20, 3, None, seed=0)
    assert a.split_sizes() == {"train": 10, "val": 3, "test": 6}
    assert [i for i, s in zip(a.ids, a.split, strict=True) if s == "val"] == [
        i for i, s in zip(b.ids, b.split, strict=True) if s == "val"
    ]
    assert a.ids == bench.subsample(lt, 10, 3, None, seed=0).ids
    assert a.split_spec["subsample"]["available"]["train"] == 27


def test_benchmark_end_to_end_resume_and_package(data_dir, tmp_path):
    argv = ["--data", str(data_dir), "--work", str(tmp_path / "work"), "--out", str(tmp_path / "results"),
            "--tasks", "formation-energy", "bulk-modulus", "--epochs", "1", "--max-train", "20", "--threads", "1"]  # fmt: skip
    results = bench.main([*argv, "--models", "cartnet", "composition", "mean"])
    doc = json.loads((tmp_path / "results" / "properties.json").read_text())
    assert doc["settings"]["max_train"] == 20 and doc["settings"]["epochs"] == 1
    fe = doc["tasks"]["formation-energy"]
    assert fe["units"] == "eV/atom" and set(fe["rows"]) == {"cartnet", "composition", "mean"}
    row = fe["rows"]["cartnet"]
    assert row["n_train"] == 20 and row["epochs_run"] == 1 and row["wbm_n"] == 6
    assert np.isfinite(row["test_mae"]) and np.isfinite(row["wbm_mae"]) and row["train_seconds"] > 0
    bm = doc["tasks"]["bulk-modulus"]
    assert bm["units"] == "log10 GPa" and bm["target"] == "log10(bulk_modulus)"
    assert bm["rows"]["mean"].get("wbm_mae") is None
    md = (tmp_path / "results" / "properties.md").read_text()
    assert "| formation-energy (eV/atom) | CartNet | 20 / " in md
    assert "| bulk-modulus (log10 GPa) | training mean |" in md
    assert results["tasks"]["formation-energy"]["rows"]["cartnet"]["test_mae"] == row["test_mae"]

    # a second invocation reads the finished run back instead of training again
    run = Path(row["run_dir"])
    stamp = (run / "model.pt").stat().st_mtime_ns
    again = bench.main([*argv, "--models", "cartnet"])
    assert (run / "model.pt").stat().st_mtime_ns == stamp
    assert again["tasks"]["formation-energy"]["rows"]["cartnet"]["test_mae"] == row["test_mae"]
    assert set(again["tasks"]["formation-energy"]["rows"]) == {"cartnet", "composition", "mean"}  # merged

    # packaging: metadata the predictor needs, card with test and WBM numbers
    out = tmp_path / "pretrained"
    pt = package.main([str(run), "--name", "formation-energy", "--results",
                       str(tmp_path / "results" / "properties.json"), "--out", str(out)])  # fmt: skip
    pred = PropertyPredictor(pt)
    assert pred.units == "eV/atom" and pred.target == "formation_energy_per_atom"
    assert pred.metadata["shipped_as"] == "formation-energy"
    assert pred.metadata["benchmark"]["wbm_mae"] == pytest.approx(row["wbm_mae"])
    assert np.isfinite(pred.predict(_rows()[0]["cif"])).all()
    card = (out / "formation-energy.md").read_text()
    assert f"{row['test_mae']:.4g} eV/atom" in card and f"{row['wbm_mae']:.4g} eV/atom" in card
    assert "folds 0–6 training, 7 validation, 8 test" in card
    with pytest.raises(SystemExit):  # a formation-energy run is not a band-gap model
        package.main([str(run), "--name", "band-gap", "--out", str(out)])


def test_cli_applies_the_same_transform_and_subsample_as_the_benchmark(data_dir, capsys):
    """`--transform log10 --max-train N` in the CLI gives the benchmark's table (one library function)."""
    import json

    from xtalkit.cli.main import main
    from xtalkit.data.transforms import apply_transforms

    t = load_splits(data_dir / "aflow" / "bulk_modulus", "bulk_modulus")
    lib = apply_transforms(t, transform="log10", max_train=10, max_val=3, seed=0)
    # by hand: 28 training rows less row 3 (K = 0 GPa has no log10), 6 validation, 6 test rows
    assert lib.split_spec["subsample"]["available"] == {"train": 27, "val": 6, "test": 6}
    assert lib.split_sizes() == {"train": 10, "val": 3, "test": 6}  # no --max-test: every test row
    first_row = {"train": 0, "val": 28, "test": 34}  # ids are row numbers within each split file
    rows = [first_row[s] + int(i) for i, s in zip(lib.ids, lib.split, strict=True)]
    assert len(set(rows)) == 19 and 3 not in rows and set(range(34, 40)) <= set(rows)
    # the target is log10 K in log10 GPa: K = 10^(2 + e/4) in _rows, so log10 K = 2 + e/4
    energies = [r["e"] for r in _rows()]
    np.testing.assert_allclose(lib.y, [2 + energies[r] / 4 for r in rows], rtol=1e-12)
    assert lib.units == "log10 GPa" and lib.target == "log10(bulk_modulus)"
    argv = ["property", "baseline", "--data", str(data_dir / "aflow" / "bulk_modulus"), "--target",
            "bulk_modulus", "--transform", "log10", "--max-train", "10", "--max-val", "3", "--json"]  # fmt: skip
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["units"] == "log10 GPa" and doc["train"] == 10 and doc["mae"]["val"]["n"] == 3
