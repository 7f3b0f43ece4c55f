"""One front door for every trainer: `xtalkit train TASK` stops after one epoch, resumes, and the
result loads through `pretrained.load` with the one metadata schema of the engine."""

import csv
import json

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from xtalkit import pretrained
from xtalkit.cli.main import main as cli
from xtalkit.errors import XtalkitError

from conftest import write_amcsd_cifs

#: metadata every model file records (training/engine.py)
SCHEMA = {"task", "model_class", "config", "monitor", "best", "epochs_run", "train_seconds",
          "train_element_counts", "devices", "strategy", "torch", "xtalkit"}  # fmt: skip


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """18 rock-salt and CsCl binaries in the columns of mp.csv.gz, two per formula fold 0-8."""
    rows = []
    pairs = [("Li", "F"), ("Na", "Cl"), ("K", "Cl"), ("Mg", "O"), ("Ca", "O"), ("Na", "F"), ("K", "F"),
             ("Li", "Cl"), ("Ca", "S")]  # fmt: skip
    for fold, (a, b) in enumerate(pairs):
        for kind in ("rocksalt", "cscl"):
            if kind == "rocksalt":
                s = Structure(Lattice.cubic(5.0), [a] * 4 + [b] * 4,
                              [[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0],
                               [.5, .5, .5], [.5, 0, 0], [0, .5, 0], [0, 0, .5]])  # fmt: skip
            else:
                s = Structure(Lattice.cubic(3.2), [a, b], [[0, 0, 0], [0.5, 0.5, 0.5]])
            rows.append([f"{kind}-{a}{b}", s.composition.reduced_formula, len(s), -1.0 - 0.1 * fold,
                         0.5 * fold, fold, s.to(fmt="cif")])  # fmt: skip
    path = tmp_path_factory.mktemp("table") / "tiny.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["material_id", "reduced_formula", "nsites", "formation_energy_per_atom", "band_gap",
                    "formula_fold", "cif"])  # fmt: skip
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def adp_dataset(tmp_path_factory):
    """12 AMCSD minerals that pass the filters, built with `xtalkit dataset adp build` (6/3/3)."""
    root = tmp_path_factory.mktemp("adp")
    write_amcsd_cifs(root / "cifs", 12, max_atoms=30)
    argv = ["dataset", "adp", "build", str(root / "cifs"), "-o", str(root / "ds"), "--split", "0.5", "0.25",
            "0.25"]  # fmt: skip
    assert cli(argv) == 0
    return root / "ds"


def _arguments(task, table, adp_dataset, cache):
    if task == "cartnet-adp":
        return ["cartnet-adp", "--data", str(adp_dataset), "--preset", "cpu", "--dim", "16", "--num-layers", "1",
                "--batch-size", "3"], "adp"  # fmt: skip
    if task == "property-cartnet":
        return ["property", "cartnet", "--data", str(table), "--target", "formation_energy_per_atom",
                "--preset", "cpu", "--dim", "16", "--num-layers", "1", "--batch-size", "4",
                "--cache", cache], "property"  # fmt: skip
    if task == "property-sitenet":
        return ["property", "sitenet", "--data", str(table), "--target", "band_gap", "--preset", "cpu",
                "--max-atoms", "16", "--cache", cache], "property"  # fmt: skip
    return ["distmat", "--data", str(table), "--preset", "cpu", "--batch-size", "4", "--groups", "5",
            "--cache", cache, "--no-lattice"], "distmat"  # fmt: skip


@pytest.mark.parametrize("task", ["cartnet-adp", "property-cartnet", "property-sitenet", "distmat"])
def test_each_task_stops_resumes_and_loads(task, table, adp_dataset, tmp_path, capsys):
    args, kind = _arguments(task, table, adp_dataset, str(tmp_path / "cache"))
    run = tmp_path / "run"
    base = ["train", *args, "-o", str(run), "--epochs", "2", "--quiet"]
    assert cli([*base, "--stop-after", "1"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["epochs_run"] == 1 and first["started_at_epoch"] == 0
    last = (run / "checkpoints" / "last.ckpt").stat().st_mtime_ns
    assert cli([*base, "--resume"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert (
        second["epochs_run"] == 2
        and second["started_at_epoch"] == 1
        and (run / "checkpoints" / "last.ckpt").stat().st_mtime_ns != last
    )
    rows = (run / "metrics.csv").read_text().splitlines()
    epochs = [line.split(",")[0] for line in rows[1:]]
    # epoch 0 of the first call is kept and the resumed call adds epoch 1, not epoch 0 again
    assert sorted(set(epochs)) == ["0", "1"] and epochs.count("0") == epochs.count("1")
    loaded = pretrained.load(run, task=kind)
    assert loaded.task == kind and loaded.path == run / "model.pt"
    meta = loaded.metadata
    assert set(meta) >= SCHEMA, SCHEMA - set(meta)
    assert meta["epochs_run"] == 2 and meta["task"] == kind
    assert np.isfinite(meta["best"]) and meta["best"] == meta[f"best_{meta['monitor']}"]
    # structures per element: every training structure of the table holds its two elements
    counts = meta["train_element_counts"]
    assert counts and all(isinstance(n, int) and n > 0 for n in counts.values())
    # the same settings again without --resume would overwrite the run: refused
    assert cli(base) == 1
    assert "a run is already there" in capsys.readouterr().err
    other = {"adp": "property", "property": "distmat", "distmat": "adp"}[kind]
    with pytest.raises(XtalkitError, match=f"a model of task {kind!r}, not {other!r}"):
        pretrained.load(run, task=other)
