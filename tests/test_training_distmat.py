"""training/distmat.py: the distance-matrix network learns, saves, resumes, and trains on two processes."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from xtalkit.cli.main import main as cli
from xtalkit.errors import XtalkitError
from xtalkit.models.checkpoint import load_model
from xtalkit.models.distmat import DistMatNet
from xtalkit.training.distmat import evaluate_distmat, make_config, train_distmat
from xtalkit.training.runs import read_metrics


def test_training_lowers_loss_and_saves(csp_trained, csp_dataset):
    rows = [r for r in read_metrics(csp_trained.run_dir / "metrics.csv") if r.get("train_loss")]
    losses = [float(r["train_loss"]) for r in rows]
    assert len(losses) == 8
    assert losses[-1] < 0.8 * losses[0]
    model, meta = load_model(csp_trained.run_dir / "model.pt")
    assert isinstance(model, DistMatNet) and meta["cell"] == "conventional"
    tr = csp_dataset.indices("train")
    # eq. 5 over the training pairs: the longest is K-Cl along the body diagonal of the 8-atom KCl cell
    shortest = csp_dataset.distances[tr][csp_dataset.pair_mask[tr]].min()
    assert meta["bins"]["d_min"] == pytest.approx(shortest) and meta["bins"]["n_groups"] == 10
    assert meta["bins"]["d_max"] == pytest.approx(6.29 * math.sqrt(3) / 2)
    assert meta["data"]["sizes"] == {"train": 6, "val": 2, "test": 2}
    f = torch.as_tensor(csp_dataset.features[tr])
    m = torch.as_tensor(csp_dataset.mask[tr])
    assert torch.equal(model(f, m), csp_trained.model(f, m))
    # Table 5 metrics: per-structure RMSE averaged, computed by hand here
    te = csp_dataset.indices("test")
    res = evaluate_distmat(model, csp_dataset.features[te], csp_dataset.mask[te], csp_dataset.distances[te])
    _, pred = model.predict(torch.as_tensor(csp_dataset.features[te]), torch.as_tensor(csp_dataset.mask[te]))
    per = [
        np.sqrt(np.mean((pred[k].numpy()[pm] - csp_dataset.distances[i][pm]) ** 2))
        for k, (i, pm) in enumerate(zip(te, csp_dataset.pair_mask[te], strict=True))
    ]
    assert res["n"] == 2 and res["rmse"] == pytest.approx(np.mean(per), rel=1e-5)
    assert res["mse"] >= res["rmse"] ** 2 - 1e-9  # mean of squares ≥ square of means
    assert meta["test"]["rmse"] == pytest.approx(res["rmse"], rel=1e-5)


def test_training_refuses_overwrite_and_resumes(csp_trained, csp_dataset, tmp_path):
    import shutil

    cfg = make_config("cpu", epochs=8, batch_size=2, seed=0)
    with pytest.raises(XtalkitError, match="already there"):
        train_distmat(cfg, csp_dataset, csp_trained.run_dir, progress=False)
    with pytest.raises(XtalkitError, match="changed: lr"):
        train_distmat(
            make_config("cpu", epochs=9, batch_size=2, lr=0.01), csp_dataset, csp_trained.run_dir, resume=True
        )
    run = shutil.copytree(csp_trained.run_dir, tmp_path / "copy")
    more = train_distmat(
        make_config("cpu", epochs=10, batch_size=2), csp_dataset, run, resume=True, progress=False
    )
    assert more.summary["epochs_run"] == 10
    epochs = [int(r["epoch"]) for r in read_metrics(run / "metrics.csv") if r.get("train_loss")]
    assert epochs == list(range(10))  # the first 8 epochs' rows are kept


def test_distmat_stops_resumes_and_trains_on_two_processes(csp_table, csp_cache, tmp_path, capsys):
    """The engine's stop-after and DDP reach the distance-matrix trainer through `xtalkit train`."""
    import os
    import subprocess
    import sys

    common = ["train", "distmat", "--data", str(csp_table), "--preset", "cpu", "--epochs", "2", "--batch-size", "2",
              "--groups", "5", "--cache", str(csp_cache), "--quiet", "--no-lattice"]  # fmt: skip
    base = [*common, "-o", str(tmp_path / "run")]
    assert cli([*base, "--stop-after", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["epochs_run"] == 1
    assert cli([*base, "--resume"]) == 0
    assert json.loads(capsys.readouterr().out)["epochs_run"] == 2
    ddp = [sys.executable, "-m", "xtalkit.cli.main", *common, "-o", str(tmp_path / "ddp"), "--devices", "2",
           "--strategy", "ddp"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PL_DISABLE_FORK": "1"}
    r = subprocess.run(ddp, capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    meta = load_model(tmp_path / "ddp" / "model.pt")[1]
    assert meta["devices"] == 2 and meta["strategy"] == "ddp" and meta["epochs_run"] == 2
