"""csp/pipeline.py and csp/stages.py: prediction end to end, the random baseline, the command line, scoring of predictions."""

from __future__ import annotations

import csv
import json
import time

import numpy as np
import pytest
from pymatgen.core import Structure

from csp_rows import A_NACL, rocksalt
from xtalkit.cli.main import main as cli
from xtalkit.csp.baseline import random_structures
from xtalkit.csp.encoding import predict_distances
from xtalkit.csp.lattice import (
    LatticeModel,
    holds_composition,
)
from xtalkit.csp.pipeline import (
    CSPConfig,
    evaluate_prediction,
    generate_candidates,
    plan_space_groups,
    predict,
    split_quota,
)
from xtalkit.errors import XtalkitError
from xtalkit.models.distmat import DistMatNet

FAST = {"population": 12, "generations": 5, "relax_steps": 10, "n_space_groups": 2}


def test_split_quota():
    assert split_quota(50, 3) == [17, 17, 16] and split_quota(4, 2) == [2, 2] and sum(split_quota(7, 5)) == 7


def test_pipeline_end_to_end_and_resume(csp_trained, csp_lattice, tmp_path):
    cfg = CSPConfig(top_k=3, n_candidates=4, **FAST)
    out = predict(
        ["Na4Cl4"], tmp_path, model=csp_trained.run_dir / "model.pt", lattice_model=csp_lattice, config=cfg
    )
    assert [o.status for o in out] == ["done"]
    d = tmp_path / "Na4Cl4"
    s = json.loads((d / "summary.json").read_text())
    assert s["n_generated"] == 4 and sum(g["quota"] for g in s["space_groups"]) == 4
    assert len(s["space_groups"]) == 2 and all(
        holds_composition(g["space_group"], [4, 4]) for g in s["space_groups"]
    )
    assert s["model"].endswith("model.pt") and s["model_cell"] == "conventional" and s["charge_balanced"]
    assert np.array(s["predicted_distances"]["Na4Cl4"]).shape == (8, 8)
    assert s["cells"] == ["Na4Cl4"] and not s["reduced"]
    energies = [t["energy_per_atom"] for t in s["top"]]
    assert 1 <= len(energies) <= 3 and energies == sorted(energies)
    assert all(-5.0 < e < -2.0 for e in energies)  # CHGNet: rock salt ≈ -3.4 eV/atom
    for t in s["top"]:
        st = Structure.from_file(d / t["file"])
        assert st.composition.reduced_formula == "NaCl" and len(st) == 8
    with open(d / "candidates.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4 and sorted(int(r["rank"]) for r in rows if r["rank"]) == list(
        range(1, len(energies) + 1)
    )
    assert (tmp_path / "summary.csv").read_text().splitlines()[1].startswith("Na4Cl4,alphacrystal,8,True,4,")
    mtime = (d / "summary.json").stat().st_mtime_ns
    again = predict(["Na4Cl4"], tmp_path, config=cfg)  # resumed: nothing to do, so no model is needed
    assert again[0].status == "skipped" and (d / "summary.json").stat().st_mtime_ns == mtime
    assert again[0].summary["n_generated"] == 4
    # evaluation against the rank-1 structure itself: a match at rank 1 with RMS 0
    ev = evaluate_prediction(d, d / "rank_01.cif", energy=False)
    assert ev["match_rank"] == 1 and ev["best_rms"] == pytest.approx(0.0, abs=1e-6)
    assert ev["candidates"][0]["distance_map_overlap"] == 1.0


def test_baseline_same_number_of_candidates(csp_lattice):
    cfg = CSPConfig(n_candidates=5, n_space_groups=2, population=8, generations=2)
    plan = plan_space_groups("Na4Cl4", csp_lattice, cfg)
    net = DistMatNet(num_groups=5, filters_1d=4, blocks_1d=1, filters_2d=4, blocks_2d=1)
    dist, mask = predict_distances(net.eval(), "Na4Cl4")
    ga, _ = generate_candidates("Na4Cl4", plan, cfg, "alphacrystal", dist, mask)
    rnd, notes = generate_candidates("Na4Cl4", plan, cfg, "random")
    assert len(ga) == len(rnd) == 5 and notes == []
    assert [r.space_group for r in ga] == [r.space_group for r in rnd]
    for r in rnd:
        assert r.structure.composition.formula.replace(" ", "") == "Na4Cl4"
        lat = next(g["lattice"] for g in plan if g["space_group"] == r.space_group)
        np.testing.assert_allclose(r.structure.lattice.parameters, lat, rtol=1e-6)
    a, _ = random_structures("Ti2O4", 136, (4.6, 4.6, 2.96, 90, 90, 90), 3, seed=5)
    b, used = random_structures("Ti2O4", 136, (4.6, 4.6, 2.96, 90, 90, 90), 3, seed=5)
    assert len(a) == 3 and used >= 3
    np.testing.assert_allclose(a[2][0].frac_coords, b[2][0].frac_coords)  # seeded


def test_generation_time_limit_is_reported_and_quota_carried(csp_lattice):
    # past deadline: one pyxtal draw per call, so the first group yields 1 of its 3 and
    # the rest moves on (here to the second group, which also stops after one draw)
    past = time.monotonic() - 1.0
    got, used = random_structures("Ti2O4", 136, (4.6, 4.6, 2.96, 90, 90, 90), 3, seed=5, deadline=past)
    assert len(got) == 1 and used == 1
    cfg = CSPConfig(n_candidates=6, n_space_groups=2, group_seconds=1e-9)
    plan = plan_space_groups("Na4Cl4", csp_lattice, cfg)
    records, notes = generate_candidates("Na4Cl4", plan, cfg, "random")
    first, second = (g["space_group"] for g in plan)
    assert [r.space_group for r in records] == [first, second, first, second]  # 2 passes × 1 draw
    assert sum("time limit (1e-09 s) reached" in n for n in notes) == 4
    assert notes[-1] == "2 of 6 candidates could not be generated"
    with pytest.raises(XtalkitError, match="time per space group"):
        CSPConfig(group_seconds=-1).check()


# ---------------------------------------------------------------- command line


@pytest.mark.parametrize(
    ("formula", "message"),
    [("Na13Cl13", "'Na13Cl13' has 26 atoms per cell; AlphaCrystal-II handles at most 12"),
     ("XxO", "unknown element 'Xx'")],
)  # fmt: skip
def test_cli_bad_formula_one_line(formula, message, tmp_path, capsys):
    assert cli(["csp", "predict", formula, "-o", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and err[0].startswith("xtalkit csp predict:")
    assert not any(tmp_path.iterdir())


def test_cli_unbalanced_formula(csp_trained, csp_lattice, tmp_path, capsys):
    assert cli(["csp", "predict", "TiIn", "--require-balanced", "-o", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "TiIn: no charge-balanced assignment" in err[0]
    csp_lattice.save(tmp_path / "lattice.npz")
    args = ["csp", "predict", "TiIn", "XxO", "--model", str(csp_trained.run_dir / "model.pt"), "--lattice-model",
            str(tmp_path / "lattice.npz"), "--candidates", "1", "--space-groups", "1", "--relax-steps", "3",
            "--population", "4", "--generations", "1", "-o", str(tmp_path / "out")]  # fmt: skip
    assert cli(args) == 1  # XxO failed, TiIn was predicted with a warning
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert any("warning: TiIn: no charge-balanced" in e and "predicting anyway" in e for e in err)
    assert any("unknown element 'Xx'" in e for e in err)
    s = json.loads((tmp_path / "out" / "TiIn" / "summary.json").read_text())
    assert s["charge_balanced"] is False and s["n_generated"] == 1
    assert "TiIn: reduced formula; cells tried: TiIn, Ti2In2, Ti3In3, Ti4In4, Ti5In5, Ti6In6" in captured.out
    assert "TiIn: 1 candidates, 1 relaxed in" in captured.out and ", 1 written; best" in captured.out
    # evaluate through the command line: the prediction against its own rank-1 file
    assert cli(["csp", "evaluate", str(tmp_path / "out" / "TiIn"), str(tmp_path / "out" / "TiIn" / "rank_01.cif"),
                "--no-energy"]) == 0  # fmt: skip
    assert "matched at rank 1 of 1" in capsys.readouterr().out
    assert cli(["csp", "evaluate", str(tmp_path / "out"), str(tmp_path / "missing.cif")]) == 1
    assert "missing.cif: no such file" in capsys.readouterr().err


def test_cli_train_and_train_lattice(csp_table, csp_cache, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "distmat", "--data", str(csp_table), "--preset", "cpu", "--epochs", "2", "--batch-size", "4",
            "--groups", "5", "--cache", str(csp_cache), "-o", str(run), "--quiet"]  # fmt: skip
    assert cli(args) == 0  # the one front door, `xtalkit train`
    shown = json.loads(capsys.readouterr().out)
    assert shown["data"]["sizes"] == {"train": 6, "val": 2, "test": 2} and shown["bins"]["n_groups"] == 5
    assert shown["epochs_run"] == 2 and shown["cell"] == "conventional"
    from xtalkit.pretrained import load

    loaded = load(run, task="distmat")  # a run directory loads through the one loader
    model, meta = loaded.model, loaded.metadata
    assert meta["xtalkit"] and meta["torch"]
    assert model.num_groups == 5 and meta["config"]["architecture"] == "cpu"
    assert LatticeModel.load(run / "lattice.npz").meta["n_train"] == 9  # folds 0-7 incl. the Heusler row
    assert (  # the task's own spelling stays an alias
        cli(["csp", "train", "--data", str(csp_table), "--cache", str(csp_cache), "-o", str(run), "--quiet"])
        == 1
    )
    assert "a run is already there" in capsys.readouterr().err
    resumed = ["train", "distmat", "--data", str(csp_table), "--preset", "cpu", "--epochs", "3", "--batch-size", "4",
               "--groups", "5", "--cache", str(csp_cache), "-o", str(run), "--quiet", "--resume", "--no-lattice"]  # fmt: skip
    assert cli(resumed) == 0
    assert json.loads(capsys.readouterr().out)["epochs_run"] == 3
    assert cli(["train", "lattice", "--data", str(csp_table), "--trees", "5", "--cache", str(csp_cache),
                "-o", str(tmp_path / "lat.npz")]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["n_train"] == 9
    assert load(tmp_path / "lat.npz", task="lattice").model.meta["n_train"] == 9
    # scored by the library function the benchmark uses, through the CLI
    argv = ["csp", "evaluate-lattice", "--data", str(csp_table), "--model", str(tmp_path / "lat.npz"),
            "--cache", str(csp_cache)]  # fmt: skip
    assert cli([*argv, "--json"]) == 0
    res = json.loads(capsys.readouterr().out)["results"]
    assert res["n_test"] == 2 and res["n_train"] == 9 and 0 <= res["model"]["space_group_top10"] <= 1
    assert cli(argv) == 0
    assert "| space group within the first 5 |" in capsys.readouterr().out


def test_plan_over_several_cells_uses_each_group_once_in_its_smallest_cell(csp_lattice):
    cells = ["NaCl", "Na2Cl2", "Na3Cl3", "Na4Cl4"]
    cfg = CSPConfig(n_candidates=10, n_space_groups=4)
    plan = plan_space_groups(cells, csp_lattice, cfg)
    groups = [g["space_group"] for g in plan]
    assert len(groups) == len(set(groups)) and sum(g["quota"] for g in plan) == 10
    for g in plan:
        k = cells.index(g["cell"])
        assert holds_composition(g["space_group"], [k + 1, k + 1])
        assert not any(holds_composition(g["space_group"], [j + 1, j + 1]) for j in range(k))
        assert g["n_atoms"] == 2 * (k + 1)
    fixed = plan_space_groups(cells, csp_lattice, cfg, space_groups=[225])
    assert [(g["space_group"], g["cell"]) for g in fixed] == [(225, "Na4Cl4")]
    with pytest.raises(XtalkitError, match="space group 229"):
        plan_space_groups(["NaCl"], csp_lattice, cfg, space_groups=[229])


THIN_NACL = """data_thin
_cell_length_a 5.64
_cell_length_b 5.64
_cell_length_c 0.1
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
Na1 Na 0 0 0
Cl1 Cl 0.5 0.5 0.5
"""


def test_evaluate_prediction_gives_the_readers_reason_and_lets_bugs_through(tmp_path, monkeypatch):
    from xtalkit.csp import evaluate as csp_evaluate
    from xtalkit.errors import CrystalError

    d = tmp_path / "NaCl"
    d.mkdir()
    (d / "summary.json").write_text(json.dumps({"top": [{"rank": 1, "file": "rank_01.cif"}]}))
    (d / "rank_01.cif").write_text(THIN_NACL)  # a 0.1 Å thick cell: refused by the reader
    true = rocksalt(A_NACL, "Na", "Cl")
    with pytest.raises(CrystalError) as err:
        evaluate_prediction(d, true, energy=False)
    message = str(err.value)
    assert message.startswith(str(d / "rank_01.cif")) and "\n" not in message
    assert "cell is too thin: the distance between opposite faces is 0.1 Å" in message
    assert "unreadable" not in message

    def bug(path):
        raise KeyError("a bug in xtalkit, not in the file")

    monkeypatch.setattr(csp_evaluate, "read_structure", bug)
    with pytest.raises(KeyError, match="a bug in xtalkit"):  # not disguised as an unreadable file
        evaluate_prediction(d, true, energy=False)
