"""Batch prediction at scale (training/sharded.py): shards, merge order, and two CPU processes."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from xtalkit import examples
from xtalkit.crystal.cif import read_crystal
from xtalkit.errors import XtalkitError
from xtalkit.training.sharded import SHARD_NAME, _Chunks, merge_shards


def _record(indices, rows=(), failures=(), stdout=""):
    return {"indices": list(indices), "stdout": stdout, "stderr": "", "failures": list(failures),
            "outputs": len(rows), "rows": list(rows)}  # fmt: skip


def _write(shards, rank, records):
    shards.mkdir(exist_ok=True)
    text = "".join(json.dumps(r) + "\n" for r in records)
    (shards / SHARD_NAME.format(rank=rank)).write_text(text)


def test_chunks_are_contiguous_and_cover_every_file():
    chunks = [_Chunks(7, 3)[i] for i in range(len(_Chunks(7, 3)))]
    assert chunks == [[0, 1, 2], [3, 4, 5], [6]]
    assert len(_Chunks(0, 3)) == 0 and len(_Chunks(6, 3)) == 2


def test_merge_puts_rows_failures_and_output_in_input_order(tmp_path, capsys):
    # two ranks took every other chunk of two files: rank 0 has chunks 0 and 2, rank 1 chunk 1
    _write(tmp_path, 0, [_record([0, 1], rows=[["a"], ["b"]], stdout="a\nb\n"),
                         _record([4], failures=["e.cif: bad"])])  # fmt: skip
    _write(tmp_path, 1, [_record([2, 3], rows=[["c"]], failures=["d.cif: bad"], stdout="c\n")])
    run = merge_shards(tmp_path, 5, 2)
    assert run.rank_zero and run.world_size == 2
    assert run.rows == [["a"], ["b"], ["c"]]
    assert run.failures == ["d.cif: bad", "e.cif: bad"]
    assert run.outputs == 3
    assert capsys.readouterr().out == "a\nb\nc\n"


def test_merge_refuses_missing_or_repeated_files(tmp_path):
    _write(tmp_path, 0, [_record([0, 1])])
    _write(tmp_path, 1, [_record([3])])
    with pytest.raises(XtalkitError, match="1 of 4 files are missing"):
        merge_shards(tmp_path, 4, 2, replay=False)
    _write(tmp_path, 1, [_record([1, 2])])
    with pytest.raises(XtalkitError, match="there twice"):
        merge_shards(tmp_path, 3, 2, replay=False)
    with pytest.raises(XtalkitError, match="shard of rank 2 is missing"):
        merge_shards(tmp_path, 3, 3, replay=False)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Five structures (the examples, and copies at other temperatures) and one broken file."""
    root = tmp_path_factory.mktemp("sharded") / "in"
    root.mkdir()
    for name in ("urea", "rutile"):
        text = examples.path(name).read_text()
        (root / f"{name}.cif").write_text(text)
        for t in (150, 250):
            (root / f"{name}_{t}K.cif").write_text(
                "\n".join(line for line in text.splitlines() if "_diffrn_ambient_temperature" not in line)
                .replace("_cell_length_a", f"_diffrn_ambient_temperature {t}\n_cell_length_a", 1)
            )  # fmt: skip
    (root / "broken.cif").write_text("data_broken\n_cell_length_a 5\n")
    return root


def _xtalkit(*args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PL_DISABLE_FORK": "1"}
    return subprocess.run([sys.executable, "-m", "xtalkit.cli.main", *map(str, args)], capture_output=True,
                          text=True, timeout=600, env=env, cwd=cwd)  # fmt: skip


@pytest.mark.parametrize("task", ["adp", "property"])
def test_two_processes_give_the_single_process_outputs(inputs, tmp_path, task):
    if task == "adp":
        one = _xtalkit("adp", "predict", inputs, "-o", tmp_path / "one", cwd=tmp_path)
        two = _xtalkit("adp", "predict", inputs, "-o", tmp_path / "two", "--devices", "2", "--strategy", "ddp",
                       cwd=tmp_path)  # fmt: skip
    else:
        one = _xtalkit("property", "predict", inputs, "--model", "band-gap", "-o", tmp_path / "one.csv",
                       "--batch-size", "2", cwd=tmp_path)  # fmt: skip
        two = _xtalkit("property", "predict", inputs, "--model", "band-gap", "-o", tmp_path / "two.csv",
                       "--batch-size", "2", "--devices", "2", "--strategy", "ddp", cwd=tmp_path)  # fmt: skip
    # the broken file fails once, in both runs, and the others are written
    for r in (one, two):
        assert r.returncode == 1, r.stderr[-3000:]
        assert r.stderr.count("broken.cif") == 1 and "1 of 7 inputs failed" in r.stderr
    assert "7 files shared among 2 processes" in two.stderr
    if task == "adp":
        # one line per output, in input order, and the same files with the same tensors
        assert two.stdout.replace("/two/", "/one/") == one.stdout
        names = sorted(p.name for p in (tmp_path / "one").iterdir())
        assert names == sorted(p.name for p in (tmp_path / "two").iterdir()) and len(names) == 6
        for name in names:
            a, b = read_crystal(tmp_path / "one" / name), read_crystal(tmp_path / "two" / name)
            np.testing.assert_allclose(a.U_cart, b.U_cart, atol=1e-8)  # rounding of other thread counts
        assert not (tmp_path / "two" / ".xtalkit-shards").exists()
    else:
        rows = [list(csv.reader((tmp_path / n).open())) for n in ("one.csv", "two.csv")]
        assert rows[0] == rows[1] and len(rows[0]) == 1 + 6
        assert [r[0] for r in rows[0][1:]] == sorted(r[0] for r in rows[0][1:])  # input order
        assert not (tmp_path / ".two.csv.shards").exists()
