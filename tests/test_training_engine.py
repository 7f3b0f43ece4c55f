"""The training engine's own rules: run-directory guard, resume check, element counts, finite metrics."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from xtalkit.elements import structures_per_element
from xtalkit.errors import XtalkitError
from xtalkit.training import engine


def test_element_counts_count_structures_not_atoms():
    counts = structures_per_element([np.array([6, 6, 1, 1, 1]), np.array([8, 1]), [6]])
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
    from xtalkit.cli.train_options import merged

    (tmp_path / "c.yaml").write_text("epochs: 3\nlr: 0.01\n")
    (tmp_path / "run.json").write_text('{"config": {"epochs": 7}}')  # a run's own config.json
    assert merged(str(tmp_path / "c.yaml"), {"epochs": 5, "lr": None}) == {"epochs": 5, "lr": 0.01}
    assert merged(str(tmp_path / "run.json"), {}) == {"epochs": 7}
    assert merged(None, {"seed": 1, "lr": None}) == {"seed": 1}


TRAINERS = [
    ["train", "cartnet-adp", "--data", "nowhere", "-o", "run"],
    ["train", "property", "cartnet", "--data", "nowhere.csv", "--target", "y", "-o", "run"],
    ["train", "property", "sitenet", "--data", "nowhere.csv", "--target", "y", "-o", "run"],
    ["train", "distmat", "--data", "nowhere.csv", "-o", "run"],
]


@pytest.mark.parametrize("argv", TRAINERS)
@pytest.mark.parametrize(
    "text, problem",
    [
        ("epochs: 0", "setting epochs: 0 is not positive"),
        ("lr: -0.001", "setting lr: -0.001 is not positive"),
        ("epochs: '64'", "setting epochs: '64' is not an integer"),
        ("lr: .nan", "setting lr: nan is not a finite number"),
        ("seed: -1", "setting seed: -1 is not ≥ 0"),
    ],
)
def test_settings_of_a_file_meet_the_rules_of_the_flags(argv, text, problem, tmp_path, capsys, monkeypatch):
    """What argparse refuses in a flag is refused in --config too, with the file named."""
    from xtalkit.cli.main import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(text + "\n")
    assert main([*argv, "--config", "s.yaml"]) == 1
    err = capsys.readouterr().err.strip()
    assert "s.yaml: " in err and problem in err and len(err.splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_make_config_checks_kinds_of_settings():
    from xtalkit.training.cartnet_adp import make_config as adp_config
    from xtalkit.training.property import make_config as property_config

    with pytest.raises(XtalkitError, match="setting augment: 1 is not true or false"):
        adp_config("cpu", augment=1)
    with pytest.raises(XtalkitError, match=r"setting pct_start: 1\.0 is not a fraction"):
        adp_config("cpu", pct_start=1.0)
    with pytest.raises(
        XtalkitError, match="sitenet: setting post_pool: \\[64, 0\\] is not a list of positive"
    ):
        property_config("sitenet", "cpu", post_pool=[64, 0])
    cfg = property_config("sitenet", "cpu", post_pool=[32, 16], lr=1)  # lists become tuples, ints floats
    assert cfg.post_pool == (32, 16) and cfg.lr == 1.0 and isinstance(cfg.lr, float)
