"""The seeded CIF mutation generator (xtalkit.testing.cif_fuzz): kinds, determinism, damage done."""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest

from xtalkit import examples
from xtalkit.testing.cif_fuzz import KINDS, FuzzCase, counts_by_kind, make_corpus, mutate, write_corpus

EXPECTED_KINDS = (
    "truncate",
    "drop_column",
    "duplicate_column",
    "swap_numbers",
    "cell_nan",
    "cell_inf",
    "cell_huge",
    "cell_negative",
    "cell_tiny",
    "angle_absurd",
    "u_nan",
    "u_huge",
    "u_negative",
    "symop_garbage",
    "symop_singular",
    "garbage_bytes",
    "non_utf8",
    "empty",
    "stacked_atoms",
    "unknown_element",
    "bad_block_among_good",
)
TOKEN = re.compile(r"""'.*?'(?=\s|$)|".*?"(?=\s|$)|\S+""")
RESERVED = ("loop_", "data_", "save_", "global_", "stop_")


# ---------------------------------------------------------------------------- helpers
@pytest.fixture(scope="module")
def sources() -> dict[str, str]:
    from xtalkit.crystal.cif import to_cif_string
    from xtalkit.crystal.core import Crystal

    urea = Crystal.from_cif(str(examples.path("urea")))
    urea_adp = urea.with_adps(np.tile(0.02 * np.eye(3), (len(urea), 1, 1)))
    written = to_cif_string(urea_adp, symmetry="original")
    assert "_atom_site_aniso_U_11" in written and "_space_group_symop_operation_xyz" in written
    return {
        "urea": examples.path("urea").read_text(),
        "rutile": examples.path("rutile").read_text(),
        "urea_adp": written,
    }


@pytest.fixture(scope="module")
def corpus(sources) -> list[FuzzCase]:
    return make_corpus(sources, n=210, seed=0)


def of_kind(corpus: list[FuzzCase], kind: str) -> list[FuzzCase]:
    cases = [c for c in corpus if c.kind == kind]
    assert len(cases) == 10
    return cases


def tokens(text: str) -> list[str]:
    out = []
    for line in text.split("\n"):
        for m in TOKEN.finditer(line):
            if m.group().startswith("#"):
                break
            out.append(m.group())
    return out


def loops(text: str) -> list[tuple[list[str], list[str]]]:
    """(lower-case tags, values) of every loop_."""
    toks, i, out = tokens(text), 0, []
    while i < len(toks):
        if toks[i].lower() == "loop_":
            i += 1
            tags, values = [], []
            while i < len(toks) and toks[i].startswith("_"):
                tags.append(toks[i].lower())
                i += 1
            while i < len(toks) and not (toks[i].startswith("_") or toks[i].lower().startswith(RESERVED)):
                values.append(toks[i])
                i += 1
            out.append((tags, values))
        else:
            i += 1
    return out


def items(text: str) -> dict[str, str]:
    toks, out = tokens(text), {}
    for a, b in itertools.pairwise(toks):
        if a.startswith("_") and not b.startswith("_"):
            out.setdefault(a.lower(), b)
    return out


def n_site_rows(text: str) -> int:
    for tags, values in loops(text):
        if "_atom_site_fract_x" in tags:
            return len(values) // len(tags)
    return 0


def cell(text: str) -> list[float]:
    it = items(text)
    names = ["length_a", "length_b", "length_c", "angle_alpha", "angle_beta", "angle_gamma"]
    return [float(it[f"_cell_{n}"].split("(")[0]) for n in names]


def u_values(text: str, pattern: str = r"_atom_site_(aniso_u_\d\d|u_iso_or_equiv)") -> list[str]:
    out = []
    for tags, values in loops(text):
        cols = [j for j, t in enumerate(tags) if re.fullmatch(pattern, t)]
        for r in range(len(values) // len(tags)):
            out += [values[r * len(tags) + j] for j in cols]
    return out


def as_float(token: str) -> float:
    try:
        return float(token.strip("'").split("(")[0])
    except ValueError:
        return math.nan


# ---------------------------------------------------------------------------- the API
def test_kinds():
    assert KINDS == EXPECTED_KINDS
    assert len(KINDS) == 21 and len(set(KINDS)) == 21


def test_unknown_kind():
    with pytest.raises(ValueError, match="unknown"):
        mutate("data_x\n", "flip_bits", np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"unknown mutation kinds \['nope'\]"):
        make_corpus({"x": "data_x\n"}, n=3, kinds=("truncate", "nope"))


def test_deterministic(sources):
    a = make_corpus(sources, n=63, seed=3)
    b = make_corpus(sources, n=63, seed=3)
    c = make_corpus(sources, n=63, seed=4)
    assert a == b
    assert [x.data for x in a] != [x.data for x in c]
    assert [x.name for x in a] == [x.name for x in c]


def test_names_kinds_and_counts(sources, corpus):
    assert len(corpus) == 210
    assert counts_by_kind(corpus) == dict.fromkeys(KINDS, 10)
    for i, case in enumerate(corpus):
        assert case.kind == KINDS[i % 21]
        assert case.name == f"{i:04d}_{case.kind}_{case.source}.cif"
        assert case.source in sources
    # every kind meets every source
    for kind in KINDS:
        assert {c.source for c in corpus if c.kind == kind} == set(sources)


def test_every_case_differs_from_its_source(sources, corpus):
    for case in corpus:
        assert case.data != sources[case.source].encode(), case.name


def test_write_corpus(tmp_path, sources):
    cases = make_corpus(sources, n=25, seed=1)
    paths = write_corpus(cases, tmp_path / "fuzz")
    assert [p.name for p in paths] == [c.name for c in cases]
    assert all(p.read_bytes() == c.data for p, c in zip(paths, cases, strict=True))
    assert sorted(p.name for p in (tmp_path / "fuzz").iterdir()) == sorted(c.name for c in cases)


def test_write_corpus_killed_midway_leaves_whole_cases_only(tmp_path, sources, monkeypatch):
    """A run killed while writing the third case leaves the first two whole and nothing else."""
    import os

    cases = make_corpus(sources, n=5, seed=1)
    real_fsync, calls = os.fsync, []

    def killed_on_the_third(fd):
        calls.append(fd)
        if len(calls) == 3:  # the third file's data are written but not yet renamed into place
            raise KeyboardInterrupt
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", killed_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        write_corpus(cases, tmp_path / "fuzz")
    left = sorted((tmp_path / "fuzz").iterdir())
    assert [p.name for p in left] == [c.name for c in cases[:2]]  # no partial third case, no temp file
    assert all(p.read_bytes() == c.data for p, c in zip(left, cases[:2], strict=True))


@pytest.mark.parametrize(
    "text", ["", "   \n", "garbage", "data_x\n", "data_x\n_cell_length_a 5\n", "loop_\n_a\n"]
)
def test_degenerate_inputs_still_change(text):
    rng = np.random.default_rng(7)
    for kind in KINDS:
        for _ in range(3):
            assert mutate(text, kind, rng) != text.encode(), kind


# ---------------------------------------------------------------------------- the damage
def test_truncate(sources, corpus):
    for case in of_kind(corpus, "truncate"):
        src = sources[case.source].encode()
        assert len(case.data) < len(src.rstrip()) and src.startswith(case.data)


def test_drop_column(sources, corpus):
    special = 0
    for case in of_kind(corpus, "drop_column"):
        src, out = sources[case.source], case.data.decode()
        gone = {t for tags, _ in loops(src) for t in tags} - {t for tags, _ in loops(out) for t in tags}
        assert len(gone) == 1 and next(iter(gone)).startswith("_atom_site_")
        special += bool(gone & {"_atom_site_aniso_label", "_atom_site_fract_x", "_atom_site_type_symbol"})
        for tags, values in loops(out):  # the values went with the header
            assert len(values) % len(tags) == 0
    assert special >= 1


def test_duplicate_column(corpus):
    for case in of_kind(corpus, "duplicate_column"):
        assert any(len(set(tags)) < len(tags) for tags, _ in loops(case.data.decode()))


def test_swap_numbers(sources, corpus):
    for case in of_kind(corpus, "swap_numbers"):
        src, out = tokens(sources[case.source]), tokens(case.data.decode())
        assert sorted(src) == sorted(out) and src != out


@pytest.mark.parametrize(
    ("kind", "bad"),
    [
        ("cell_nan", lambda c: any(math.isnan(x) for x in c)),
        ("cell_inf", lambda c: any(math.isinf(x) for x in c)),
        ("cell_huge", lambda c: max(c[:3]) >= 500),
        ("cell_negative", lambda c: min(c) <= 0),
        ("cell_tiny", lambda c: 0 < min(c[:3]) <= 0.3),
    ],
)
def test_cell_kinds(corpus, kind, bad):
    for case in of_kind(corpus, kind):
        assert bad(cell(case.data.decode())), case.name


def test_cell_huge_lines(corpus):
    for case in of_kind(corpus, "cell_huge"):
        lengths = re.findall(r"^_cell_length_[abc]\s+(\S+)", case.data.decode(), re.M)
        assert max(float(v) for v in lengths) >= 500


def test_angle_absurd(corpus):
    for case in of_kind(corpus, "angle_absurd"):
        angles = cell(case.data.decode())[3:]
        cosines = [math.cos(math.radians(a)) for a in angles]
        gram = 1 - sum(c * c for c in cosines) + 2 * math.prod(cosines)
        assert any(not 0 < a < 180 for a in angles) or gram < 1e-9, angles


def test_u_kinds(sources, corpus):
    for case in of_kind(corpus, "u_nan"):
        src, out = u_values(sources[case.source]), u_values(case.data.decode())
        assert len(src) == len(out)
        changed = [b for a, b in zip(src, out, strict=True) if a != b]
        assert changed and all(b in ("nan", "NaN", "inf", "-inf", "?") for b in changed)
        assert len(changed) < len(out)  # some but not all
    for case in of_kind(corpus, "u_huge"):
        assert max(as_float(u) for u in u_values(case.data.decode()) if u != "?") >= 100
    diagonal = r"_atom_site_(aniso_u_(11|22|33)|u_iso_or_equiv)"
    for case in of_kind(corpus, "u_negative"):
        assert min(as_float(u) for u in u_values(case.data.decode(), diagonal) if u != "?") < 0


def test_symop_kinds(sources, corpus):
    garbage = {"'q,r,s'", "'x,y'", "'x,y,z,w'", "'x+,y,z'", "'1/0+x,y,z'", "''"}
    singular = {"'x,x,x'", "'0,0,0'", "'x,y,0'", "'2x,y,z'", "'x+y,y,z'", "'x,y,z+0.3333333'", "'-x,-x,z'"}
    for kind, expected in (("symop_garbage", garbage), ("symop_singular", singular)):
        for case in of_kind(corpus, kind):
            (tags, values), *_ = (lp for lp in loops(case.data.decode()) if lp[0][-1].endswith("_xyz"))
            ops = values[len(tags) - 1 :: len(tags)]
            assert set(ops) & expected, ops


def test_garbage_bytes(sources, corpus):
    for case in of_kind(corpus, "garbage_bytes"):
        assert b"\x00" in case.data


def test_non_utf8(sources, corpus):
    for case in of_kind(corpus, "non_utf8"):
        with pytest.raises(UnicodeDecodeError):
            case.data.decode("utf-8")
        assert len(case.data) == len(sources[case.source].encode()) + 1


def test_empty(corpus):
    for case in of_kind(corpus, "empty"):
        text = case.data.decode()
        assert "loop_" not in text and "_atom_site" not in text and "_cell_" not in text


def test_stacked_atoms(sources, corpus):
    for case in of_kind(corpus, "stacked_atoms"):
        out = case.data.decode()
        assert n_site_rows(out) > n_site_rows(sources[case.source])
        for tags, values in loops(out):
            if "_atom_site_label" in tags or "_atom_site_aniso_label" in tags:
                labels = values[0 :: len(tags)]
                assert len(labels) == len(set(labels))
    big = make_corpus({"urea": sources["urea"]}, n=40, seed=5, kinds=["stacked_atoms"])
    assert max(n_site_rows(c.data.decode()) for c in big) >= 5 + 10  # 10-50 copies of one atom


def test_unknown_element(corpus):
    bad = {"Xx", "Q1", "Zz", "Uuo", "E", "123", "??"}
    for case in of_kind(corpus, "unknown_element"):
        (tags, values), *_ = (lp for lp in loops(case.data.decode()) if "_atom_site_fract_x" in lp[0])
        assert bad & set(values[0 :: len(tags)] + values[1 :: len(tags)])


def test_bad_block_among_good(sources, corpus):
    for case in of_kind(corpus, "bad_block_among_good"):
        text = case.data.decode()
        names = re.findall(r"^data_(\S*)", text, re.M)
        assert 2 <= len(names) <= 4 and len(set(names)) == len(names)
        lines = sources[case.source].split("\n")
        src_body = "\n".join(ln for ln in lines if not ln.startswith(("data_", "#"))).strip()
        blocks = [b.split("\n", 1)[1].strip() for b in re.split(r"^(?=data_)", text, flags=re.M)[1:]]
        assert sum(b == src_body for b in blocks) == len(blocks) - 1
