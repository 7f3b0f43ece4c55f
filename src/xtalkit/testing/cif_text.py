"""CIF text without a parser: tokens, loops and blocks, for damaging files on purpose.

:mod:`xtalkit.testing.cif_fuzz` edits CIF text at the level of tokens (so that it
can produce files no parser would write); this module finds the tokens: data
blocks, ``loop_`` sections with their tags and rows, cell values, symmetry
operations and displacement parameters, and adds missing pieces (a cell, an
atom loop, operations, U values) so that every kind of damage has something to act on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

_CELL_TAGS = (
    "_cell_length_a",
    "_cell_length_b",
    "_cell_length_c",
    "_cell_angle_alpha",
    "_cell_angle_beta",
    "_cell_angle_gamma",
)
_DEFAULT_CELL = ("10.0", "10.0", "10.0", "90.0", "90.0", "90.0")
_SYMOP_TAGS = ("_space_group_symop_operation_xyz", "_symmetry_equiv_pos_as_xyz")
_ISO_TAGS = ("_atom_site_u_iso_or_equiv", "_atom_site_b_iso_or_equiv")
_ANISO_RE = re.compile(r"_atom_site_aniso_[ub]_([123])([123])")
_NUMBER_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?:\(\d+\))?")
_TOKEN_RE = re.compile(r"""'.*?'(?=\s|$)|".*?"(?=\s|$)|\S+""")
_RESERVED = ("loop_", "data_", "save_", "global_", "stop_")


# ---------------------------------------------------------------------------- text model
@dataclass
class _Tok:
    """One token of the text: its line, column span and text."""

    line: int
    start: int
    end: int
    text: str
    end_line: int = -1

    def __post_init__(self) -> None:
        if self.end_line < 0:
            self.end_line = self.line

    @property
    def bare(self) -> str:
        """The text without enclosing quotes."""
        t = self.text
        if len(t) >= 2 and t[0] == t[-1] and t[0] in "'\"":
            return t[1:-1]
        return t


@dataclass
class _Loop:
    """A ``loop_`` section: header tags and the value tokens after them."""

    tags: list[_Tok]
    values: list[_Tok] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [t.text.lower() for t in self.tags]

    def col(self, *names: str) -> int | None:
        """Index of the first of ``names`` among the (lower-case) tags, or None."""
        low = self.names
        for name in names:
            if name in low:
                return low.index(name)
        return None

    def rows(self, full: bool = False) -> list[list[_Tok]]:
        """Values split into rows of ``len(tags)`` tokens (the last may be partial)."""
        k = len(self.tags)
        if k == 0:
            return []
        rows = [self.values[i : i + k] for i in range(0, len(self.values), k)]
        return [r for r in rows if len(r) == k] if full else rows

    def column(self, j: int) -> list[_Tok]:
        """Every value of column ``j``."""
        return self.values[j :: len(self.tags)] if self.tags else []

    @property
    def last_line(self) -> int:
        toks = self.values or self.tags
        return max(t.end_line for t in toks)

    def is_atom_loop(self) -> bool:
        return any(n.startswith("_atom_site_") for n in self.names)


def _is_reserved(text: str) -> bool:
    return text.startswith("_") or text.lower().startswith(_RESERVED)


class _Doc:
    """CIF text as lines, its tokens, items and loops, with deferred edits."""

    def __init__(self, text: str) -> None:
        self.lines = text.split("\n")
        self._edits: dict[int, list[tuple[int, int, str]]] = {}
        self._after: dict[int, list[str]] = {}
        self._shrunk: set[int] = set()
        self.tokens = self._tokenize()
        self.items: dict[str, tuple[_Tok, _Tok | None]] = {}
        self.loops: list[_Loop] = []
        self.headers: list[_Tok] = []
        self._parse()

    def _tokenize(self) -> list[_Tok]:
        toks: list[_Tok] = []
        lines, i = self.lines, 0
        while i < len(lines):
            line = lines[i]
            if line.startswith(";"):  # text field: one token up to the closing ';' line
                j = i + 1
                while j < len(lines) and not lines[j].startswith(";"):
                    j += 1
                toks.append(_Tok(i, 0, len(line), line, end_line=min(j, len(lines) - 1)))
                i = j + 1
                continue
            for m in _TOKEN_RE.finditer(line):
                if m.group().startswith("#"):
                    break
                toks.append(_Tok(i, m.start(), m.end(), m.group()))
            i += 1
        return toks

    def _parse(self) -> None:
        toks, i = self.tokens, 0
        while i < len(toks):
            low = toks[i].text.lower()
            if low == "loop_":
                loop = _Loop(tags=[])
                i += 1
                while i < len(toks) and toks[i].text.startswith("_"):
                    loop.tags.append(toks[i])
                    i += 1
                while i < len(toks) and not _is_reserved(toks[i].text):
                    loop.values.append(toks[i])
                    i += 1
                if loop.tags:
                    self.loops.append(loop)
            elif low.startswith("_"):
                value = toks[i + 1] if i + 1 < len(toks) and not _is_reserved(toks[i + 1].text) else None
                self.items.setdefault(low, (toks[i], value))
                i += 2 if value is not None else 1
            else:
                if low.startswith("data_"):
                    self.headers.append(toks[i])
                i += 1

    # -- queries
    def loop_with(self, *names: str) -> _Loop | None:
        """The first loop holding one of the tags ``names`` (lower case)."""
        for loop in self.loops:
            if loop.col(*names) is not None:
                return loop
        return None

    def end_index(self) -> int:
        """Index of the line after which appended lines go."""
        if len(self.lines) > 1 and self.lines[-1] == "":
            return len(self.lines) - 2
        return len(self.lines) - 1

    def offset(self, line: int, col: int) -> int:
        """Character offset in the original text of a (line, column) position."""
        return sum(len(x) + 1 for x in self.lines[:line]) + col

    # -- edits
    def replace(self, tok: _Tok, new: str) -> None:
        self._edits.setdefault(tok.line, []).append((tok.start, tok.end, new))

    def delete(self, tok: _Tok) -> None:
        line, s = self.lines[tok.line], tok.start
        while s > 0 and line[s - 1] in " \t":
            s -= 1
        self._edits.setdefault(tok.line, []).append((s, tok.end, ""))
        self._shrunk.add(tok.line)

    def insert_after(self, line: int, new_lines: Iterable[str]) -> None:
        self._after.setdefault(line, []).extend(new_lines)

    def append(self, new_lines: Iterable[str]) -> None:
        self.insert_after(self.end_index(), new_lines)

    def render(self) -> str:
        out = list(self._after.get(-1, []))
        for i, line in enumerate(self.lines):
            new = line
            for s, e, text in sorted(self._edits.get(i, []), reverse=True):
                new = new[:s] + text + new[e:]
            if not (i in self._shrunk and not new.strip() and line.strip()):
                out.append(new)
            out.extend(self._after.get(i, []))
        return "\n".join(out)


# ---------------------------------------------------------------------------- small helpers
def _choice(rng: np.random.Generator, seq: Sequence):
    return seq[int(rng.integers(len(seq)))]


def _pick(rng: np.random.Generator, n: int, lo: int, hi: int) -> list[int]:
    """``k`` distinct sorted indices below ``n``, ``lo <= k <= min(hi, n)``."""
    hi = min(hi, n)
    if n <= 0 or hi <= 0:
        return []
    k = int(rng.integers(min(lo, hi), hi + 1))
    return sorted(int(i) for i in rng.choice(n, size=k, replace=False))


def _num(text: str) -> float | None:
    """The float of a CIF number (standard uncertainty dropped), or None."""
    if not _NUMBER_RE.fullmatch(text):
        return None
    return float(text.split("(")[0])


def _quote(s: str) -> str:
    if s and not re.search(r"\s|^['\"_#$;\[\]]", s):
        return s
    return f"'{s}'"


def _encode(text: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace")


def _block_name(doc: _Doc) -> str:
    if doc.headers:
        name = doc.headers[0].text[5:]
        if name:
            return name
    return "fuzz"


def _with_cell(text: str) -> str:
    """The text with all six cell items present (defaults added where missing)."""
    doc = _Doc(text)
    added = []
    for tag, value in zip(_CELL_TAGS, _DEFAULT_CELL, strict=True):
        item = doc.items.get(tag)
        if item is None:
            added.append(f"{tag} {value}")
        elif item[1] is None:
            doc.replace(item[0], f"{item[0].text} {value}")
    if not added and not doc._edits:
        return text
    if doc.headers:
        doc.insert_after(doc.headers[0].line, added)
    else:
        doc.insert_after(-1, ["data_fuzz", *added])
    return doc.render()


def _cell_tokens(doc: _Doc) -> list[_Tok | None]:
    return [doc.items.get(t, (None, None))[1] for t in _CELL_TAGS]


def _with_atom_loop(text: str) -> str:
    """The text with a small ``_atom_site_`` loop (two atoms, fractional coordinates) appended."""
    doc = _Doc(text)
    doc.append(
        [
            "",
            "loop_",
            "_atom_site_label",
            "_atom_site_type_symbol",
            "_atom_site_fract_x",
            "_atom_site_fract_y",
            "_atom_site_fract_z",
            "_atom_site_U_iso_or_equiv",
            "_atom_site_occupancy",
            "C1 C 0.1000 0.2000 0.3000 0.0200 1",
            "O1 O 0.2500 0.2000 0.3000 0.0200 1",
        ]
    )
    return doc.render()


def _with_symops(text: str) -> str:
    """The text with a symmetry-operation loop (or item)."""
    doc = _Doc(text)
    if _symop_tokens(doc):
        return text
    doc.append(["", "loop_", "_space_group_symop_operation_xyz", "'x,y,z'", "'-x,-y,-z'"])
    return doc.render()


def _symop_tokens(doc: _Doc) -> list[_Tok]:
    toks: list[_Tok] = []
    for loop in doc.loops:
        j = loop.col(*_SYMOP_TAGS)
        if j is not None:
            toks += loop.column(j)
    for tag in _SYMOP_TAGS:
        item = doc.items.get(tag)
        if item is not None and item[1] is not None:
            toks.append(item[1])
    return toks


def _aniso_rows(doc: _Doc) -> list[dict[str, _Tok]]:
    """Per anisotropic row, the U_ij (or B_ij) tokens keyed ``"11"`` … ``"23"``."""
    out = []
    for loop in doc.loops:
        cols = {}
        for j, name in enumerate(loop.names):
            m = _ANISO_RE.fullmatch(name)
            if m:
                cols["".join(sorted(m.groups()))] = j
        if not cols:
            continue
        for row in loop.rows():
            comps = {ij: row[j] for ij, j in cols.items() if j < len(row)}
            if comps:
                out.append(comps)
    return out


def _iso_tokens(doc: _Doc) -> list[_Tok]:
    toks: list[_Tok] = []
    for loop in doc.loops:
        j = loop.col(*_ISO_TAGS)
        if j is not None:
            toks += loop.column(j)
    return toks


def _with_u(text: str) -> str:
    """The text with some U values to damage (an aniso loop added if there are none)."""
    doc = _Doc(text)
    if _aniso_rows(doc) or _iso_tokens(doc):
        return text
    loop = doc.loop_with("_atom_site_label")
    if loop is None:
        return _with_atom_loop(text)
    labels = [t.text for t in loop.column(loop.col("_atom_site_label"))[:3]] or ["C1"]  # type: ignore[arg-type]
    doc.append(
        ["", "loop_", "_atom_site_aniso_label"]
        + [f"_atom_site_aniso_U_{ij}" for ij in ("11", "22", "33", "12", "13", "23")]
        + [f"{lab} 0.0200 0.0200 0.0200 0.0000 0.0000 0.0000" for lab in labels]
    )
    return doc.render()


# ---------------------------------------------------------------------------- the kinds
