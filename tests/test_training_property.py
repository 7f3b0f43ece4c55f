"""training/property.py: CartNet and Site-Net learn a synthetic target, save, predict and resume."""

import csv

import numpy as np
import pytest
import torch

from xtalkit.data.property_cache import (
    FeatureCache,
)
from xtalkit.data.tables import (
    load_splits,
    structure_to_crystal,
)
from xtalkit.errors import XtalkitError
from xtalkit.property import PropertyPredictor, evaluate_table
from xtalkit.training.property import make_config, train


def _epoch_losses(run) -> list[float]:
    with open(run / "metrics.csv") as fh:
        return [float(r["train_loss"]) for r in csv.DictReader(fh) if r.get("train_loss")]


def _in_memory(model, featurizer, crystals) -> np.ndarray:
    out = []
    model.eval()
    with torch.no_grad():
        for c in crystals:
            inputs, _ = featurizer.collate([featurizer.sample(featurizer(c))])
            out.append(float(model(inputs)[0]))
    return np.array(out)


def test_cartnet_training_and_predictor(cartnet_property_run):
    t, result = cartnet_property_run
    losses = _epoch_losses(result.run_dir)
    assert len(losses) == 20
    assert np.mean(losses[-3:]) < 0.7 * losses[0], losses  # seeds 0-2 give 0.44-0.56
    s = result.summary
    assert s["target"] == "formation_energy_per_atom" and s["units"] == "eV/atom" and s["model"] == "cartnet"
    assert s["split"]["sizes"] == {"train": 20, "val": 2, "test": 2} and s["skipped_rows"] == 4
    assert s["val_mae"] == pytest.approx(s["best_val_mae"], rel=1e-5)  # the saved epoch is the best one
    assert s["train_seconds"] > 0 and s["test_mae"] is not None
    train_y = [v for v, i, lab in zip(t.y, t.ids, t.split, strict=True) if lab == "train" and i != "bad-cif"]
    assert s["target_mean"] == pytest.approx(float(np.mean(train_y)))
    skipped = (result.run_dir / "skipped.csv").read_text()
    assert "bad-cif" in skipped and "missing target" in skipped
    # the model file predicts what the in-memory network predicts
    predictor = PropertyPredictor(result.run_dir / "model.pt", batch_size=4)
    assert predictor.target == "formation_energy_per_atom" and predictor.units == "eV/atom"
    crystals = [structure_to_crystal(src) for src in t.structures[:24]]
    got = predictor.predict(crystals)
    want = _in_memory(result.model, predictor.featurizer, crystals)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.ptp(got) > 1e-3  # not a constant
    # evaluation on the test split reproduces the stored test MAE
    ev = evaluate_table(predictor, t, "test")
    assert ev["n"] == 2 and ev["mae"] == pytest.approx(s["test_mae"], rel=1e-5)
    # a run directory is not overwritten; --resume continues it
    with pytest.raises(XtalkitError, match="already there"):
        train(make_config("cartnet", "cpu", epochs=1), t, result.run_dir, progress=False)


def test_sitenet_band_gap_training_and_predictor(binaries_csv, tmp_path):
    t = load_splits(binaries_csv, "band_gap")
    cfg = make_config(
        "sitenet", "cpu", max_atoms=16, embedding_dim=8, site_dim_per_head=8, interaction_dim_per_head=4,
        attention_hidden=(16,), pre_pool=(16,), post_pool=(16,), epochs=16, lr=2e-3, max_sites=8,
    )  # fmt: skip
    result = train(cfg, t, tmp_path / "run", cache=FeatureCache(tmp_path / "cache"), progress=False)
    losses = _epoch_losses(tmp_path / "run")
    assert len(losses) == 16 and np.mean(losses[-3:]) < 0.65 * losses[0], losses  # seeds 0-2: 0.39-0.40
    s = result.summary
    assert s["clamp_output"] is True and s["units"] == "eV" and s["model"] == "sitenet"
    assert s["featurizer"]["max_atoms"] == 16
    predictor = PropertyPredictor(tmp_path / "run" / "model.pt")
    crystals = [structure_to_crystal(src) for src in t.structures[:24]]
    got = predictor.predict(crystals)
    np.testing.assert_allclose(got, _in_memory(result.model, predictor.featurizer, crystals), atol=1e-5)
    assert (got >= 0).all()
    # resume: two more epochs from the last checkpoint (history kept in metrics.csv)
    cfg2 = make_config("sitenet", **{**cfg.as_dict(), "epochs": 18})
    resumed = train(
        cfg2, t, tmp_path / "run", cache=FeatureCache(tmp_path / "cache"), progress=False, resume=True
    )
    after = _epoch_losses(tmp_path / "run")
    assert len(after) == 18 and after[:16] == losses and resumed.summary["epochs_run"] == 18
