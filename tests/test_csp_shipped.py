"""The CSP models shipped inside xtalkit: loading, cards, and predictions out of the box."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from pymatgen.core import Structure

from xtalkit import pretrained
from xtalkit.cli.main import main as cli
from xtalkit.csp.encoding import predict_distances
from xtalkit.csp.lattice import LatticeModel, holds_composition
from xtalkit.csp.pipeline import CSPConfig, predict
from xtalkit.models.distmat import DistMatNet

torch.set_num_threads(1)

SMALL = {"n_candidates": 4, "n_relax": 2, "n_space_groups": 2, "relax_steps": 10, "population": 8,
         "generations": 3, "top_k": 2}  # fmt: skip


def test_shipped_csp_models_load_without_pickle_and_are_small():
    assert {"alphacrystal-distmat", "alphacrystal-lattice"} <= set(pretrained.names())
    path = pretrained.path("alphacrystal-distmat")
    blob = torch.load(path, map_location="cpu", weights_only=True)  # refuses pickled objects
    assert isinstance(blob, dict)
    from xtalkit.models.checkpoint import load_model

    net, meta = load_model(path)
    assert isinstance(net, DistMatNet) and meta["cell"] == "conventional" and net.max_atoms == 12
    assert meta["test"]["n"] > 500 and 0 < meta["test"]["mse"] < 2.0  # fold-8 scores in the metadata
    lat = LatticeModel.load(pretrained.path("alphacrystal-lattice"))
    assert lat.meta["n_train"] > 10_000
    total = sum(pretrained.path(n).stat().st_size for n in ("alphacrystal-distmat", "alphacrystal-lattice"))
    assert total < 30e6
    for name in ("alphacrystal-distmat", "alphacrystal-lattice"):
        card = pretrained.card(name)
        assert re.search(r"fold[- ]8", card, re.IGNORECASE) and "12 atoms" in card


def test_shipped_models_give_physical_distances_and_groups():
    net, _ = pretrained_net()
    d, m = predict_distances(net, "Na4Cl4")
    off = d[:8, :8][~np.eye(8, dtype=bool)]
    assert m.sum() == 8 and off.min() > 1.5 and off.max() < 12.0  # Å: no overlapping atoms, within a cell
    lat = LatticeModel.load(pretrained.path("alphacrystal-lattice"))
    groups = lat.top_space_groups("Na4Cl4", 5)
    assert all(holds_composition(g.number, [4, 4]) for g in groups)
    assert 20 < lat.volume_per_atom("NaCl") < 35  # Å³/atom; rock salt 22.4


def pretrained_net():
    from xtalkit.models.checkpoint import load_model

    return load_model(pretrained.path("alphacrystal-distmat"))


def test_two_atom_formula_end_to_end_with_the_shipped_models(tmp_path):
    cfg = CSPConfig(search_z=False, **SMALL)
    (out,) = predict(["CsCl"], tmp_path, config=cfg)  # no models given: the shipped ones
    assert out.status == "done", out.message
    s = out.summary
    assert s["model"].endswith("alphacrystal_distmat.pt") and s["cells"] == ["CsCl"]
    assert s["n_relaxations"] <= 2 and s["n_generated"] == 4
    best = Structure.from_file(tmp_path / "CsCl" / "rank_01.cif")
    assert best.composition.reduced_formula == "CsCl" and len(best) == 2
    dist = best.distance_matrix[~np.eye(2, dtype=bool)]
    assert dist.min() > 2.0  # Å; Cs-Cl in CsCl is 3.57
    assert -6.0 < s["top"][0]["energy_per_atom"] < -1.0


def test_cli_reduced_formula_tries_every_cell(tmp_path, capsys):
    args = ["csp", "predict", "NaCl", "-o", str(tmp_path), "--candidates", "3", "--relax", "2",
            "--space-groups", "2", "--relax-steps", "5", "--population", "6", "--generations", "2"]  # fmt: skip
    assert cli(args) == 0
    s = json.loads((tmp_path / "NaCl" / "summary.json").read_text())
    assert s["reduced"] and s["cells"] == ["NaCl", "Na2Cl2", "Na3Cl3", "Na4Cl4", "Na5Cl5", "Na6Cl6"]
    assert all(g["cell"] in s["cells"] for g in s["space_groups"]) and len(s["space_groups"]) == 2
    out = capsys.readouterr().out
    assert "NaCl: reduced formula; cells tried: NaCl, Na2Cl2," in out and "NaCl: 3 candidates, " in out


@pytest.mark.parametrize("formula", ["Na0.5Cl", "NaXx", "Na7Cl7"])
def test_cli_bad_formulas_still_one_line(formula, tmp_path, capsys):
    assert cli(["csp", "predict", formula, "-o", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("xtalkit csp predict:") and formula in err[0]
