"""property/: the predictor, `xtalkit property` commands and the composition baseline."""

import csv
import json

import numpy as np
import pytest

from property_data import binary_structure
from xtalkit.cli.main import main
from xtalkit.property import PropertyPredictor
from xtalkit.property.baselines import CompositionBaseline, MeanPredictor, mean_absolute_error


# ---------------------------------------------------------------------------------------------- CLI
def test_cli_predict_directory_with_corrupt_file(cartnet_property_run, binaries, tmp_path, capsys):
    _t, result = cartnet_property_run
    ids, structures, _y = binaries
    d = tmp_path / "cifs"
    d.mkdir()
    for i, s in zip(ids[30:35], structures[30:35], strict=True):
        (d / f"{i}.cif").write_text(s.to(fmt="cif"))
    (d / "corrupt.cif").write_text("data_x\n_cell_length_a 'oops\n")
    out = tmp_path / "results.csv"
    code = main(["property", "predict", "--model", str(result.run_dir / "model.pt"), str(d), "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and "1 of 6 inputs failed" in err and "corrupt.cif" in err
    with open(out) as fh:
        rows = list(csv.DictReader(fh))
    assert [r["file"].split("/")[-1] for r in rows] == sorted(f"{i}.cif" for i in ids[30:35])
    assert all(r["units"] == "eV/atom" for r in rows)
    want = PropertyPredictor(result.run_dir / "model.pt").predict(sorted(d.glob("*-*.cif")))
    np.testing.assert_allclose([float(r["formation_energy_per_atom"]) for r in rows], want, rtol=1e-5)


def test_cli_train_and_evaluate(binaries_csv, cartnet_property_run, tmp_path, capsys):
    _t, result = cartnet_property_run
    code = main(["property", "evaluate", "--model", str(result.run_dir / "model.pt"), "--data", str(binaries_csv),
                 "--no-cache", "--json"])  # fmt: skip
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["n"] == 2 and doc["mae"] == pytest.approx(result.summary["test_mae"], rel=1e-5)
    assert doc["target"] == "formation_energy_per_atom" and doc["units"] == "eV/atom"
    run = tmp_path / "run"
    argv = ["train", "property", "cartnet", "--data", str(binaries_csv), "--target", "band_gap",
            "--preset", "cpu", "--epochs", "1", "--dim", "8", "--num-layers", "1", "--no-cache",
            "--quiet", "-o", str(run)]  # fmt: skip
    code = main(argv)  # the one front door, `xtalkit train`
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and (run / "model.pt").is_file()
    from xtalkit.pretrained import load

    assert load(run, task="property").metadata["xtalkit"]
    assert main([*argv, "--resume"]) == 0  # resumes the finished run with its own settings
    capsys.readouterr()
    assert summary["units"] == "eV" and summary["split"]["method"] == "fold"
    assert summary["split"]["sizes"] == {"train": 22, "val": 2, "test": 2}
    code = main(["property", "train", "sitenet", "--data", str(binaries_csv), "--target", "band_gap", "--dim", "8",
                 "-o", str(tmp_path / "x")])  # fmt: skip
    assert code == 1 and "does not apply to sitenet" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------- baseline
def test_composition_baseline_beats_mean_on_linear_target():
    rng = np.random.default_rng(0)
    elements = ["Li", "Na", "Mg", "Al", "Si", "O", "F", "S", "Cl", "Fe"]
    weights = rng.normal(size=len(elements))
    comps, y = [], []
    for _ in range(400):
        k = rng.integers(2, 4)
        pick = rng.choice(len(elements), size=k, replace=False)
        amounts = rng.integers(1, 5, size=k)
        comps.append({elements[p]: int(a) for p, a in zip(pick, amounts, strict=True)})
        x = amounts / amounts.sum()
        y.append(float(x @ weights[pick]))
    y = np.array(y)
    gbm = CompositionBaseline(n_threads=1, max_iter=300).fit(comps[:320], y[:320])
    mean = MeanPredictor().fit(comps[:320], y[:320])
    mae_gbm = mean_absolute_error(y[320:], gbm.predict(comps[320:]))
    mae_mean = mean_absolute_error(y[320:], mean.predict(comps[320:]))
    assert mae_gbm < 0.3 * mae_mean, (mae_gbm, mae_mean)
    # structures work as inputs too (NaCl in two cells: one composition, one prediction)
    nacl = binary_structure("rocksalt", "Na", "Cl")
    assert gbm.predict([nacl, nacl * (2, 1, 1)])[0] == pytest.approx(gbm.predict([{"Na": 1, "Cl": 1}])[0])


def test_an_empty_dataset_has_no_mae():
    from xtalkit.data.property_cache import FeatureDataset
    from xtalkit.errors import XtalkitError
    from xtalkit.property.predict import evaluate_dataset

    predictor = PropertyPredictor("band-gap")
    empty = FeatureDataset([], [], [], predictor.featurizer)
    with pytest.raises(XtalkitError, match="no structures to evaluate"):
        evaluate_dataset(predictor.model, empty)
