"""One loader for every model: shipped names, files and run directories, with a task check."""

from __future__ import annotations

import pytest

from xtalkit import pretrained
from xtalkit.errors import XtalkitError


def test_every_shipped_model_loads_through_one_loader():
    expected = {"harmonic-adp": "adp", "cartnet-adp": "adp", "band-gap": "property",
                "formation-energy": "property", "alphacrystal-distmat": "distmat",
                "alphacrystal-lattice": "lattice"}  # fmt: skip
    assert set(expected) <= set(pretrained.names())
    for name in pretrained.names():
        loaded = pretrained.load(name, task=expected[name])
        assert loaded.name == name and loaded.path == pretrained.path(name)
        record = pretrained.REGISTRY[name]  # the registry names the task the file records
        assert record.name == name and record.description and record.task == loaded.task == expected[name]


def test_files_and_run_directories_load_and_tasks_are_checked(tmp_path):
    src = pretrained.path("band-gap")
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.pt").write_bytes(src.read_bytes())
    for ref in (src, str(src), run):
        assert pretrained.load(ref, task="property").task == "property"
    with pytest.raises(XtalkitError, match="band-gap: a model of task 'property', not 'adp'"):
        pretrained.load("band-gap", task="adp")
    with pytest.raises(XtalkitError, match="neither a shipped model"):
        pretrained.load("no-such-model")


def test_predictors_refuse_a_model_of_another_task():
    from xtalkit.adp.predict import ADPPredictor
    from xtalkit.property.predict import PropertyPredictor

    with pytest.raises(XtalkitError, match="formation-energy: a model of task 'property', not 'adp'"):
        ADPPredictor("formation-energy")
    with pytest.raises(XtalkitError, match="harmonic-adp: a model of task 'adp', not 'property'"):
        PropertyPredictor("harmonic-adp")


def test_init_args_are_the_constructor_parameters():
    """Models record every constructor parameter themselves; the file rebuilds an equal model."""
    import inspect

    import torch

    from xtalkit.models.cartnet import CartNet
    from xtalkit.models.checkpoint import load_model, save_model

    m = CartNet(dim=16, num_layers=1, num_rbf=8, head="harmonic", direction=False, temperature_mean=300)
    params = [p for p in inspect.signature(CartNet.__init__).parameters if p != "self"]
    assert list(m.init_args) == params
    assert m.init_args["temperature_mean"] == 300.0 and isinstance(m.init_args["temperature_mean"], float)
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = save_model(Path(tmp) / "m.pt", m)
        back, _ = load_model(path)
    assert back.init_args == m.init_args
    for a, b in zip(back.state_dict().values(), m.state_dict().values(), strict=True):
        assert torch.equal(a, b)
