"""CartNet ADP training: overfit check, resume, DDP, evaluation, baseline."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from xtalkit.adp.baselines import IsotropicElementBaseline, scored_atoms
from xtalkit.adp.evaluate import evaluate, rotation_check
from xtalkit.data.adp_build import build
from xtalkit.data.graphs import ADPGraphDataset
from xtalkit.data.store import ADPStore
from xtalkit.errors import XtalkitError
from xtalkit.models.checkpoint import load_model
from xtalkit.training.cartnet_adp import leaking_training_ids, make_config, train

from conftest import write_amcsd_cifs


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    """16 AMCSD structures that pass the filters, as a dataset (8 train / 4 val / 4 test)."""
    root = tmp_path_factory.mktemp("adp")
    cifs = root / "cifs"
    write_amcsd_cifs(cifs, 16, max_atoms=40)
    build([str(cifs)], root / "ds", fractions=(0.5, 0.25, 0.25), group_tolerance=0.0)
    return root / "ds"


def test_overfit_five_structures(small_dataset, tmp_path):
    cfg = make_config(
        "cpu", dim=32, augment=False, batch_size=5, accumulate=1, epochs=150, lr=5e-3, pct_start=0.1
    )
    summary = train(
        cfg,
        [small_dataset],
        tmp_path / "run",
        progress=False,
        limit_train_structures=5,
        validate_on_train=True,
    ).summary
    assert summary["train_structures"] == 5
    assert summary["best_val_mae"] < 1e-3, summary["best_val_mae"]
    model, meta = load_model(tmp_path / "run" / "model.pt")
    assert meta["task"] == "adp" and model.init_args["dim"] == 32
    # the model file reproduces the best validation MAE
    # the same five structures as training (training leaves out repeats of held-out structures)
    ds = ADPGraphDataset([ADPStore(small_dataset, "train")], exclude=leaking_training_ids([small_dataset]))
    ds.index = ds.index[:5]
    assert evaluate(model, ds)["mae"] == pytest.approx(summary["best_val_mae"], rel=1e-3)


def test_harmonic_head_trains_from_the_command_line(small_dataset, tmp_path, capsys):
    from xtalkit.cli.main import main
    from xtalkit.data.graphs import collate
    from xtalkit.geometry.rotations import random_rotations

    run = tmp_path / "harmonic"
    argv = ["train", "cartnet-adp", "--data", str(small_dataset), "-o", str(run), "--preset", "harmonic",
            "--dim", "16", "--num-layers", "1", "--epochs", "3", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["best_val_mae"] > 0 and summary["epochs_run"] == 3  # the preset selects on val MAE
    model, meta = load_model(run / "model.pt")
    assert model.head_kind == "harmonic" and model.equivariant and meta["config"]["loss"] == "l1"
    ds = ADPGraphDataset([ADPStore(small_dataset, "test")])
    res = evaluate(model, ds)
    assert 0 < res["median_ueq_ratio"] < 10 and res["rigid_bond_delta"] >= 0
    # a trained harmonic model is exactly equivariant: no averaging, no frame
    batch = collate([ds[i] for i in range(len(ds))])
    R = random_rotations(batch.n_graphs, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b = model(batch), model(batch.rotated(R))
    Ra = R[batch.batch[batch.scored]]
    assert float((b - Ra @ a @ Ra.transpose(1, 2)).abs().max()) < 1e-5
    assert (torch.linalg.eigvalsh(a.double()) > 0).all()
    # direction inputs would break the exact equivariance: refused with one line
    bad = ["train", "cartnet-adp", "--data", str(small_dataset), "-o", str(tmp_path / "bad"), "--preset",
           "cpu", "--head", "harmonic", "--quiet"]  # fmt: skip
    assert main(bad) == 1
    assert "needs an invariant backbone" in capsys.readouterr().err


def test_resume_continues_a_run(small_dataset, tmp_path):
    run = tmp_path / "run"
    config = make_config("cpu", dim=16, num_layers=1, epochs=3)
    first = train(config, [small_dataset], run, progress=False, stop_after_epochs=1).summary  # interrupted
    assert first["epochs_run"] == 1
    with pytest.raises(XtalkitError, match="already there"):
        train(config, [small_dataset], run, progress=False)
    with pytest.raises(XtalkitError, match="changed: epochs"):
        train(
            make_config("cpu", dim=16, num_layers=1, epochs=5),
            [small_dataset],
            run,
            progress=False,
            resume=True,
        )
    summary = train(config, [small_dataset], run, progress=False, resume=True).summary
    assert summary["epochs_run"] == 3
    rows = (run / "metrics.csv").read_text().splitlines()
    epochs = [line.split(",")[0] for line in rows[1:]]
    # the first call's epoch 0 is kept and the resumed call adds epochs 1 and 2 (not 0 again)
    assert sorted(set(epochs)) == ["0", "1", "2"]
    assert epochs.count("0") == epochs.count("1") == epochs.count("2")


def test_ddp_two_cpu_processes(small_dataset, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PL_DISABLE_FORK": "1"}
    cmd = [sys.executable, "-m", "xtalkit.cli.main", "train", "cartnet-adp", "--data", str(small_dataset),
           "-o", str(tmp_path / "ddp"), "--preset", "cpu", "--dim", "16", "--num-layers", "1", "--epochs", "2",
           "--batch-size", "2", "--devices", "2", "--strategy", "ddp", "--quiet"]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout[r.stdout.index("{") :])
    assert summary["devices"] == 2 and summary["epochs_run"] == 2
    _, meta = load_model(tmp_path / "ddp" / "model.pt")
    assert meta["devices"] == 2 and meta["strategy"] == "ddp"


class _Oracle(torch.nn.Module):
    """Returns the targets: an exactly equivariant "model"."""

    hydrogens = True
    cutoff = 5.0

    def forward(self, batch):
        return batch.target[batch.scored]


def test_evaluation_of_a_perfect_equivariant_predictor(small_dataset):
    ds = ADPGraphDataset([ADPStore(small_dataset, "test")])
    res = evaluate(_Oracle(), ds)
    assert res["mae"] == 0 and abs(res["s12"]) < 1e-8 and res["iou"] == pytest.approx(100)
    rc = rotation_check(_Oracle(), ds, rotations=3)
    assert rc["mae"] < 1e-7 and rc["iou"] == pytest.approx(100, abs=1e-3)
    avg = evaluate(_Oracle(), ds, average_rotations=4)
    assert avg["mae"] < 1e-7


def test_isotropic_baseline_by_hand():
    z = np.array([6, 6, 8, 8, 6])
    T = np.array([100.0, 100.0, 100.0, 300.0, 300.0])
    U = np.stack([u * np.eye(3) for u in (0.01, 0.03, 0.02, 0.04, 0.05)])
    b = IsotropicElementBaseline(edges=(200.0,)).fit(z, T, U)
    pred = b.predict(np.array([6, 6, 8, 7]), np.array([150.0, 250.0, 250.0, 250.0]))
    np.testing.assert_allclose(np.trace(pred, axis1=1, axis2=2) / 3, [0.02, 0.05, 0.04, 0.045])
    again = IsotropicElementBaseline.from_json(b.to_json())
    np.testing.assert_allclose(again.predict(z, T), b.predict(z, T))


def test_baseline_on_dataset(small_dataset):
    train_set = ADPGraphDataset([ADPStore(small_dataset, "train")])
    z, T, U = scored_atoms(train_set)
    assert len(z) == len(T) == len(U) > 0 and (z != 1).all()


@pytest.mark.parametrize("name", ["harmonic-adp", "cartnet-adp"])
def test_evaluate_takes_a_shipped_name_and_plots_parity(name, small_dataset, tmp_path, capsys):
    """`xtalkit evaluate --model NAME` for both shipped ADP models (the front door of training is
    tested for every task in test_train_front_door.py)."""
    from xtalkit.cli.main import main

    fig = tmp_path / "parity.png"
    argv = ["evaluate", "--model", name, "--data", str(small_dataset), "--plot", str(fig), "--json"]
    assert main(argv) == 0
    res = json.loads(capsys.readouterr().out)[str(small_dataset)]
    assert res["atoms"] > 0 and res["plot"] == str(fig)
    assert fig.read_bytes()[:4] == b"\x89PNG"
