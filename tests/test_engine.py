"""The training engine's own rules: run-directory guard, resume check, element counts, finite metrics."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from xtalkit.errors import XtalkitError
from xtalkit.training import engine


def test_element_counts_count_structures_not_atoms():
    counts = engine.element_counts([np.array([6, 6, 1, 1, 1]), np.array([8, 1]), [6]])
    assert counts == {"1": 2, "6": 2, "8": 1}


def test_run_directory_guard_and_resume_check(tmp_path):
    out = tmp_path / "run"
    assert engine.open_run(out, resume=False, config={"epochs": 2}) == []
    with pytest.raises(XtalkitError, match="nothing to resume"):
        engine.open_run(out, resume=True, config={"epochs": 2})
    (out / "checkpoints").mkdir(parents=True)
    (out / "checkpoints" / "last.ckpt").write_bytes(b"x")
    (out / "config.json").write_text(json.dumps({"config": {"epochs": 2, "lr": 1e-3, "num_workers": 0}}))
    with pytest.raises(XtalkitError, match="a run is already there"):
        engine.open_run(out, resume=False, config={"epochs": 2})
    # free keys may change, the others may not
    assert engine.open_run(out, resume=True, config={"epochs": 2, "lr": 1e-3, "num_workers": 4}) == []
    with pytest.raises(XtalkitError, match=r"changed: epochs, lr \(why\)"):
        engine.open_run(out, resume=True, config={"epochs": 3, "lr": 1e-2, "num_workers": 0}, note=" (why)")
    assert (
        engine.open_run(out, resume=True, config={"epochs": 3, "lr": 1e-3}, free=("epochs", "num_workers"))
        == []
    )


def test_finite_metrics_are_numbers_or_none():
    assert engine.finite(0.5) == 0.5
    assert engine.finite(None) is None and engine.finite(math.nan) is None and engine.finite(math.inf) is None
    assert set(engine.versions()) == {"torch", "xtalkit"}


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "cartnet-adp", "--data", "nowhere", "-o", "run"],
        ["train", "property", "cartnet", "--data", "nowhere.csv", "--target", "y", "-o", "run"],
        ["train", "distmat", "--data", "nowhere.csv", "-o", "run"],
    ],
)
def test_every_trainer_reads_a_config_file_and_refuses_unknown_settings(argv, tmp_path, capsys, monkeypatch):
    from xtalkit.cli.main import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text("epochs: 3\nlearning_rate_typo: 0.1\n")
    assert main([*argv, "--config", "bad.yaml"]) == 1
    err = capsys.readouterr().err
    assert "unknown settings learning_rate_typo" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_config_file_values_and_flags_merge(tmp_path):
    from xtalkit.cli.train import merged

    (tmp_path / "c.yaml").write_text("epochs: 3\nlr: 0.01\n")
    (tmp_path / "run.json").write_text('{"config": {"epochs": 7}}')  # a run's own config.json
    assert merged(str(tmp_path / "c.yaml"), {"epochs": 5, "lr": None}) == {"epochs": 5, "lr": 0.01}
    assert merged(str(tmp_path / "run.json"), {}) == {"epochs": 7}
    assert merged(None, {"seed": 1, "lr": None}) == {"seed": 1}
