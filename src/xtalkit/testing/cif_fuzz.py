"""Seeded CIF mutations ("fuzzing") to check that CIF readers never crash on bad input.

:func:`mutate` applies one mutation of a named kind to the text of a CIF and returns
the damaged file as bytes; :func:`make_corpus` makes a reproducible corpus of such
files from a few good sources, cycling the kinds evenly, and :func:`write_corpus`
writes it to a folder. Everything works on the text (tokens, lines and ``loop_``
sections found with regular expressions), so no CIF parser is needed and any
damage can be produced, including damage no parser would accept.

The kinds, in the order of :data:`KINDS`:

1. ``truncate`` — cut the text at a random point: anywhere (often mid-line), right
   after a value inside a loop (mid-row), or right after a loop's header tags.
2. ``drop_column`` — delete one loop column, its ``_tag`` header line and the
   matching value in every row, in an ``_atom_site_`` or ``_atom_site_aniso_`` loop;
   with probability 0.3 specifically ``_atom_site_aniso_label``,
   ``_atom_site_fract_x`` or ``_atom_site_type_symbol``.
3. ``duplicate_column`` — repeat a header tag of a loop, so that the rows have one
   value fewer than the headers, or repeat the tag and its value in every row.
4. ``swap_numbers`` — swap numeric tokens between places: a cell length with a
   coordinate or a U value, an occupancy with a U value, an angle with a coordinate,
   or any two.
5. ``cell_nan`` — one or two cell lengths or angles become ``nan``/``NaN``/``NAN``.
6. ``cell_inf`` — one or two cell lengths or angles become ``inf``, ``-inf`` or
   ``1e400``.
7. ``cell_huge`` — one or more lengths in 500–25000 Å (e.g. a=1000, c=22827) or
   ``1e30``.
8. ``cell_negative`` — a negative or zero length or angle.
9. ``cell_tiny`` — lengths like ``1e-300``, ``1e-12``, ``1e-4``, ``0.01`` or ``0.3``.
10. ``angle_absurd`` — an angle of 0, 180, 200, 359 or 360, or three angles that
    cannot form a cell (120,120,120; 10,10,170; 170,170,170; 60,60,150).
11. ``u_nan`` — some but not all U_ij of an anisotropic row (or some U_iso values)
    become ``nan``, ``inf``, ``-inf`` or ``?``.
12. ``u_huge`` — U values of 1e2–1e6 Å², or ``1e300``.
13. ``u_negative`` — negative diagonal U_ii (non-positive-definite tensors), or
    negative U_iso.
14. ``symop_garbage`` — symmetry operations replaced by unparseable text (``'q,r,s'``,
    ``'x,y'``, ``'x,y,z,w'``, ``'x+,y,z'``, ``'1/0+x,y,z'``, ``''``).
15. ``symop_singular`` — operations that parse but are not valid (``'x,x,x'``,
    ``'0,0,0'``, ``'x,y,0'``, ``'2x,y,z'``, ``'x+y,y,z'``, ``'x,y,z+0.3333333'``,
    ``'-x,-x,z'``).
16. ``garbage_bytes`` — 1–64 random bytes, always with a NUL and another control
    byte, inserted or overwriting a stretch.
17. ``non_utf8`` — one byte that cannot start or continue valid UTF-8 here (0x93,
    0xff, 0xc3 alone, …) inserted inside a label, a value or a comment; the rest of
    the text stays valid.
18. ``empty`` — an empty file, whitespace only, only comments, only ``data_x``, a
    ``data_`` header with no name, or a block with only a title.
19. ``stacked_atoms`` — atom-site rows duplicated with new unique labels at the same
    or nearly the same coordinates (±1e-4), or 10–50 copies of one atom; the
    matching aniso rows are duplicated too.
20. ``unknown_element`` — type symbols and/or labels become ``Xx``, ``Q1``, ``Zz``,
    ``Uuo``, ``E``, ``123`` or ``??`` (aniso labels are renamed to match).
21. ``bad_block_among_good`` — 2–4 data blocks with unique names: copies of the
    (first) block of the source and one block damaged by another kind that keeps
    the file tokenizable (a cell, U, symmetry, atom or column kind; not ``empty``,
    ``non_utf8``, ``garbage_bytes``, ``truncate`` or ``duplicate_column``), so a
    reader should read the good blocks and report the bad one.

Where a kind finds nothing to act on (no aniso loop, no symmetry loop, no cell, no
atom loop) it adds the missing part first or falls back to a variant that applies
(e.g. ``u_nan`` on ``_atom_site_U_iso_or_equiv``), so the output always differs
from the input.

Example:
    >>> import numpy as np
    >>> from xtalkit import examples
    >>> from xtalkit.testing.cif_fuzz import make_corpus
    >>> text = examples.path("urea").read_text()
    >>> cases = make_corpus({"urea": text}, n=42, seed=1)
    >>> cases[6].name
    '0006_cell_huge_urea.cif'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xtalkit.testing.cif_text import (
    _ANISO_RE,
    _DEFAULT_CELL,
    _ISO_TAGS,
    _TOKEN_RE,
    _aniso_rows,
    _block_name,
    _cell_tokens,
    _choice,
    _Doc,
    _encode,
    _iso_tokens,
    _Loop,
    _num,
    _pick,
    _quote,
    _symop_tokens,
    _Tok,
    _with_atom_loop,
    _with_cell,
    _with_symops,
    _with_u,
)

__all__ = ["KINDS", "FuzzCase", "counts_by_kind", "make_corpus", "mutate", "write_corpus"]

KINDS: tuple[str, ...] = (
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

# Kinds used to damage the bad block of ``bad_block_among_good``: they keep the file
# tokenizable, so the damage stays local to one block.
_BLOCK_LOCAL_KINDS: tuple[str, ...] = tuple(
    k
    for k in KINDS
    if k not in ("truncate", "duplicate_column", "garbage_bytes", "non_utf8", "empty", "bad_block_among_good")
)

_BAD_ELEMENTS = ("Xx", "Q1", "Zz", "Uuo", "E", "123", "??")
_GARBAGE_OPS = ("q,r,s", "x,y", "x,y,z,w", "x+,y,z", "1/0+x,y,z", "")
_SINGULAR_OPS = ("x,x,x", "0,0,0", "x,y,0", "2x,y,z", "x+y,y,z", "x,y,z+0.3333333", "-x,-x,z")
_BAD_BYTES = (0x93, 0xFF, 0xC3, 0xFE, 0x80, 0xE2, 0xC0)


def _truncate(text: str, rng: np.random.Generator) -> str:
    doc = _Doc(text)
    limit = len(text.rstrip())
    if limit == 0:
        return ""
    variant = rng.random()
    loops = [lp for lp in doc.loops if lp.values]
    if variant < 0.4 and loops:  # mid-loop: right after a value, often mid-row
        loop = _choice(rng, loops)
        tok = _choice(rng, loop.values[:-1] or loop.values)
        cut = doc.offset(tok.line, tok.end)
    elif variant < 0.55 and doc.loops:  # right after the header tags: a loop with no data
        tok = _choice(rng, doc.loops).tags[-1]
        cut = doc.offset(tok.line, tok.end) + 1
    else:  # anywhere, mostly mid-line
        cut = int(rng.integers(0, limit))
    return text[: min(cut, limit - 1)]


def _drop_column(text: str, rng: np.random.Generator, fallback: bool = True) -> str:
    doc = _Doc(text)
    loops = [lp for lp in doc.loops if lp.is_atom_loop()] or doc.loops
    if not loops:
        items = [it for it in doc.items.values()]
        if not items:
            text = _with_atom_loop(text)
            return _drop_column(text, rng, fallback=False) if fallback else text
        tag, value = _choice(rng, items)
        doc.delete(tag)
        if value is not None:
            doc.delete(value)
        return doc.render()
    special = [
        (lp, j)
        for lp in loops
        for j, name in enumerate(lp.names)
        if name in ("_atom_site_aniso_label", "_atom_site_fract_x", "_atom_site_type_symbol")
    ]
    if special and rng.random() < 0.3:
        loop, j = _choice(rng, special)
    else:
        loop = _choice(rng, loops)
        j = int(rng.integers(len(loop.tags)))
    doc.delete(loop.tags[j])
    for tok in loop.column(j):
        doc.delete(tok)
    return doc.render()


def _duplicate_column(text: str, rng: np.random.Generator, fallback: bool = True) -> str:
    doc = _Doc(text)
    loops = [lp for lp in doc.loops if lp.is_atom_loop() and lp.values] or doc.loops
    if not loops:
        items = [it for it in doc.items.values()]
        if not items:
            text = _with_atom_loop(text)
            return _duplicate_column(text, rng, fallback=False) if fallback else text
        tag, value = _choice(rng, items)
        new_value = "?" if value is None else value.text
        doc.insert_after(max(tag.line, value.line if value else tag.line), [f"{tag.text} {new_value}"])
        return doc.render()
    loop = _choice(rng, loops)
    j = int(rng.integers(len(loop.tags)))
    tag = loop.tags[j]
    doc.insert_after(tag.line, [tag.text])
    if rng.random() < 0.5:  # the tag and its values: a consistent loop with a repeated tag
        for tok in loop.column(j):
            doc.replace(tok, f"{tok.text} {tok.text}")
    return doc.render()


def _category(tag: str) -> str:
    if tag.startswith("_cell_length_"):
        return "length"
    if tag.startswith("_cell_angle_"):
        return "angle"
    if tag.startswith(("_atom_site_fract_", "_atom_site_cartn_")):
        return "coordinate"
    if tag in _ISO_TAGS or _ANISO_RE.fullmatch(tag):
        return "u"
    if tag == "_atom_site_occupancy":
        return "occupancy"
    return "other"


def _swap_numbers(text: str, rng: np.random.Generator) -> str:
    doc = _Doc(_with_cell(text))
    numbers: dict[str, list[_Tok]] = {}
    for tag, value in doc.items.values():
        if value is not None and _num(value.text) is not None:
            numbers.setdefault(_category(tag.text.lower()), []).append(value)
    for loop in doc.loops:
        for row in loop.rows():
            for name, tok in zip(loop.names, row, strict=False):
                if _num(tok.text) is not None:
                    numbers.setdefault(_category(name), []).append(tok)
    everything = [t for toks in numbers.values() for t in toks]
    pairs = [("length", "coordinate"), ("occupancy", "u"), ("angle", "coordinate"), ("length", "u")]
    pairs = [p for p in pairs if any(numbers.get(p[0], [])) and any(numbers.get(p[1], []))]
    used: set[tuple[int, int]] = set()
    n_swaps = 1 + int(rng.random() < 0.3) + int(rng.random() < 0.1)
    for k in range(n_swaps):
        if k == 0 and pairs:
            a_cat, b_cat = _choice(rng, pairs)
            a_pool, b_pool = numbers[a_cat], numbers[b_cat]
        else:
            a_pool = b_pool = everything
        for _ in range(20):
            a, b = _choice(rng, a_pool), _choice(rng, b_pool)
            keys = {(a.line, a.start), (b.line, b.start)}
            if a.text != b.text and len(keys) == 2 and not keys & used:
                doc.replace(a, b.text)
                doc.replace(b, a.text)
                used |= keys
                break
    return doc.render()


def _set_cell(text: str, pick: Callable[[list[float]], dict[int, str]]) -> str:
    doc = _Doc(_with_cell(text))
    toks = _cell_tokens(doc)
    values = []
    for j, tok in enumerate(toks):
        v = _num(tok.text) if tok is not None else None
        values.append(float(_DEFAULT_CELL[j]) if v is None or not np.isfinite(v) else v)
    for j, new in pick(values).items():
        tok = toks[j]
        if tok is not None:
            doc.replace(tok, new)
    return doc.render()


def _cell_nan(text: str, rng: np.random.Generator) -> str:
    return _set_cell(text, lambda v: {j: _choice(rng, ("nan", "NaN", "NAN")) for j in _pick(rng, 6, 1, 2)})


def _cell_inf(text: str, rng: np.random.Generator) -> str:
    return _set_cell(text, lambda v: {j: _choice(rng, ("inf", "-inf", "1e400")) for j in _pick(rng, 6, 1, 2)})


def _cell_huge(text: str, rng: np.random.Generator) -> str:
    def pick(values: list[float]) -> dict[int, str]:
        variant = rng.random()
        if variant < 0.15:
            return {0: "1000", 2: "22827"}
        if variant < 0.3:
            return {int(rng.integers(3)): "1e30"}
        return {j: f"{rng.uniform(500.0, 25000.0):.4f}" for j in _pick(rng, 3, 1, 3)}

    return _set_cell(text, pick)


def _cell_negative(text: str, rng: np.random.Generator) -> str:
    def pick(values: list[float]) -> dict[int, str]:
        out = {}
        for j in _pick(rng, 6, 1, 2):
            variant = rng.random()
            if variant < 0.5:
                out[j] = f"{-abs(values[j]) or -1.0:.5f}"
            elif variant < 0.8:
                out[j] = _choice(rng, ("0", "0.0", "-0.0"))
            else:
                out[j] = _choice(rng, ("-1e-3", "-90", "-5.0"))
        return out

    return _set_cell(text, pick)


def _cell_tiny(text: str, rng: np.random.Generator) -> str:
    tiny = ("1e-300", "1e-12", "1e-4", "0.01", "0.3")
    return _set_cell(text, lambda v: {j: _choice(rng, tiny) for j in _pick(rng, 3, 1, 3)})


def _angle_absurd(text: str, rng: np.random.Generator) -> str:
    def pick(values: list[float]) -> dict[int, str]:
        if rng.random() < 0.5:
            return {3 + int(rng.integers(3)): _choice(rng, ("0", "180", "200", "359", "360", "180.0"))}
        triples = (("120", "120", "120"), ("10", "10", "170"), ("170", "170", "170"), ("60", "60", "150"))
        triple = _choice(rng, triples)
        order = rng.permutation(3)
        return {3 + int(k): triple[i] for i, k in enumerate(order)}

    return _set_cell(text, pick)


def _u_edit(
    text: str,
    rng: np.random.Generator,
    aniso_values: Callable[[dict[str, _Tok]], dict[str, str]],
    iso_value: Callable[[_Tok], str],
    max_rows: int = 3,
) -> str:
    doc = _Doc(_with_u(text))
    rows, iso = _aniso_rows(doc), _iso_tokens(doc)
    if rows and (not iso or rng.random() < 0.75):
        for r in _pick(rng, len(rows), 1, max_rows):
            for ij, new in aniso_values(rows[r]).items():
                doc.replace(rows[r][ij], new)
    else:
        hi = max(1, len(iso) - 1)  # some but not all rows where there are several
        for r in _pick(rng, len(iso), 1, min(hi, max_rows)):
            doc.replace(iso[r], iso_value(iso[r]))
    return doc.render()


def _u_nan(text: str, rng: np.random.Generator) -> str:
    bad = ("nan", "NaN", "inf", "-inf", "?")

    def other(tok: _Tok) -> str:
        return _choice(rng, [b for b in bad if b != tok.text])

    def aniso(comps: dict[str, _Tok]) -> dict[str, str]:
        keys = sorted(comps)
        chosen = _pick(rng, len(keys), 1, max(1, len(keys) - 1))  # some but not all
        return {keys[i]: other(comps[keys[i]]) for i in chosen}

    return _u_edit(text, rng, aniso, other)


def _huge_value(rng: np.random.Generator) -> str:
    return "1e300" if rng.random() < 0.15 else f"{10 ** rng.uniform(2.0, 6.0):.6g}"


def _u_huge(text: str, rng: np.random.Generator) -> str:
    def aniso(comps: dict[str, _Tok]) -> dict[str, str]:
        if rng.random() < 0.3:  # the whole tensor
            return {k: _huge_value(rng) for k in sorted(comps)}
        keys = [k for k in ("11", "22", "33") if k in comps] or sorted(comps)
        return {keys[i]: _huge_value(rng) for i in _pick(rng, len(keys), 1, 3)}

    return _u_edit(text, rng, aniso, lambda tok: _huge_value(rng), max_rows=2)


def _negative(tok: _Tok, rng: np.random.Generator) -> str:
    v = _num(tok.text)
    if v is None or not np.isfinite(v) or abs(v) < 1e-6:
        v = rng.uniform(0.005, 0.05)
    return f"{-abs(v):.6f}"


def _u_negative(text: str, rng: np.random.Generator) -> str:
    def aniso(comps: dict[str, _Tok]) -> dict[str, str]:
        keys = [k for k in ("11", "22", "33") if k in comps] or sorted(comps)
        return {keys[i]: _negative(comps[keys[i]], rng) for i in _pick(rng, len(keys), 1, 3)}

    return _u_edit(text, rng, aniso, lambda tok: _negative(tok, rng))


def _replace_symops(text: str, rng: np.random.Generator, choices: Sequence[str]) -> str:
    doc = _Doc(_with_symops(text))
    toks = _symop_tokens(doc)
    for i in _pick(rng, len(toks), 1, 3):
        options = [c for c in choices if _quote_op(c) != toks[i].text] or list(choices)
        doc.replace(toks[i], _quote_op(_choice(rng, options)))
    return doc.render()


def _quote_op(op: str) -> str:
    return f"'{op}'"


def _symop_garbage(text: str, rng: np.random.Generator) -> str:
    return _replace_symops(text, rng, _GARBAGE_OPS)


def _symop_singular(text: str, rng: np.random.Generator) -> str:
    return _replace_symops(text, rng, _SINGULAR_OPS)


def _garbage_bytes(text: str, rng: np.random.Generator) -> bytes:
    data = _encode(text)
    n = int(rng.integers(1, 65))
    junk = rng.integers(0, 256, size=n, dtype=np.uint8)
    junk[int(rng.integers(n))] = 0
    junk[int(rng.integers(n))] = _choice(rng, (1, 2, 7, 8, 11, 12, 13, 26, 27, 127))
    junk[int(rng.integers(n))] = 0
    stretch = junk.tobytes()
    if rng.random() < 0.5 and len(data) > n:  # overwrite
        pos = int(rng.integers(len(data) - n + 1))
        return data[:pos] + stretch + data[pos + n :]
    pos = int(rng.integers(len(data) + 1))
    return data[:pos] + stretch + data[pos:]


def _non_utf8(text: str, rng: np.random.Generator) -> bytes:
    byte = bytes([_choice(rng, _BAD_BYTES)])
    doc = _Doc(text)
    places: dict[str, list[tuple[int, int]]] = {}
    for loop in doc.loops:
        j = loop.col("_atom_site_label", "_atom_site_aniso_label")
        if j is not None:
            labels = [(t.line, t.start) for t in loop.column(j) if len(t.text) > 1]
            places.setdefault("label", []).extend(labels)
        places.setdefault("value", []).extend((t.line, t.start) for t in loop.values if len(t.text) > 1)
    for _tag, value in doc.items.values():
        if value is not None and len(value.text) > 1:
            places.setdefault("value", []).append((value.line, value.start))
    comments = [(i, line.index("#")) for i, line in enumerate(doc.lines) if line.lstrip().startswith("#")]
    if comments:
        places["comment"] = comments
    places = {k: v for k, v in places.items() if v}
    if not places:
        pos = int(rng.integers(len(text) + 1))
    else:
        line, col = _choice(rng, places[_choice(rng, sorted(places))])
        length = len(_TOKEN_RE.match(doc.lines[line], col).group())  # type: ignore[union-attr]
        pos = doc.offset(line, col) + int(rng.integers(1, max(2, length)))
    return _encode(text[:pos]) + byte + _encode(text[pos:])


def _empty(text: str, rng: np.random.Generator) -> str:
    name = _block_name(_Doc(text))
    variants = (
        "",
        " \n\t\n   \n",
        "\n\n",
        "# an empty CIF\n# nothing but comments\n",
        "#\\#CIF_2.0\n",
        f"data_{name}\n",
        "data_x",
        "data_\n",
        f"data_{name}\n_publ_section_title 'Only a title'\n",
        f"# comment\ndata_{name}\n_chemical_name_common '{name}'\n",
    )
    return _choice(rng, [v for v in variants if v != text] or variants)


def _site_loop(doc: _Doc, need: Sequence[str] = (), any_of: Sequence[str] = ()) -> _Loop | None:
    """The first loop with full rows, all tags of ``need`` and one of ``any_of``."""
    for loop in doc.loops:
        has_tags = all(loop.col(n) is not None for n in need)
        if has_tags and (not any_of or loop.col(*any_of) is not None) and loop.rows(full=True):
            return loop
    return None


def _stacked_atoms(text: str, rng: np.random.Generator) -> str:
    need = ("_atom_site_label", "_atom_site_fract_x")
    doc = _Doc(text)
    sites = _site_loop(doc, need)
    if sites is None:
        text = _with_atom_loop(text)
        doc = _Doc(text)
        sites = _site_loop(doc, need)
        if sites is None:  # the appended loop is hidden (e.g. in an open text field)
            return text
    aniso = doc.loop_with("_atom_site_aniso_label")
    j_label = sites.col("_atom_site_label")
    coords = [sites.col(f"_atom_site_fract_{x}") for x in "xyz"]
    rows = sites.rows(full=True)
    taken = {r[j_label].bare for r in rows}  # type: ignore[index]
    aniso_rows: dict[str, list[list[_Tok]]] = {}
    if aniso is not None:
        ja = aniso.col("_atom_site_aniso_label")
        for r in aniso.rows(full=True):
            aniso_rows.setdefault(r[ja].bare, []).append(r)  # type: ignore[index]

    def fresh(base: str) -> str:
        k = 1
        while f"{base}s{k}" in taken:
            k += 1
        taken.add(f"{base}s{k}")
        return f"{base}s{k}"

    variant = rng.random()
    if variant < 0.35:
        plan = [(r, 1, False) for r in _pick(rng, len(rows), 1, 3)]
    elif variant < 0.7:
        plan = [(r, 1, True) for r in _pick(rng, len(rows), 1, 3)]
    else:
        plan = [(int(rng.integers(len(rows))), int(rng.integers(10, 51)), rng.random() < 0.5)]
    new_sites, new_aniso = [], []
    for r, copies, jitter in plan:
        row = rows[r]
        base = row[j_label].bare  # type: ignore[index]
        for _ in range(copies):
            label = fresh(base)
            texts = [t.text for t in row]
            texts[j_label] = _quote(label)  # type: ignore[index]
            for j in coords:
                v = _num(row[j].text) if j is not None else None
                if v is not None and jitter:
                    texts[j] = f"{v + rng.uniform(-1e-4, 1e-4):.10f}"  # type: ignore[index]
            new_sites.append(" ".join(texts))
            for arow in aniso_rows.get(base, [])[:1]:
                atexts = [t.text for t in arow]
                atexts[aniso.col("_atom_site_aniso_label")] = _quote(label)  # type: ignore[union-attr,index]
                new_aniso.append(" ".join(atexts))
    doc.insert_after(sites.last_line, new_sites)
    if new_aniso and aniso is not None:
        doc.insert_after(aniso.last_line, new_aniso)
    return doc.render()


def _unknown_element(text: str, rng: np.random.Generator) -> str:
    any_of = ("_atom_site_type_symbol", "_atom_site_label")
    doc = _Doc(text)
    sites = _site_loop(doc, any_of=any_of)
    if sites is None:
        text = _with_atom_loop(text)
        doc = _Doc(text)
        sites = _site_loop(doc, any_of=any_of)
        if sites is None:  # the appended loop is hidden (e.g. in an open text field)
            return text
    j_label, j_type = sites.col("_atom_site_label"), sites.col("_atom_site_type_symbol")
    rows = sites.rows(full=True)
    variants = [v for v, ok in (("type", j_type), ("label", j_label), ("both", j_type)) if ok is not None]
    variant = _choice(rng, variants)
    if variant == "both" and j_label is None:
        variant = "type"
    aniso = doc.loop_with("_atom_site_aniso_label")
    chosen = _pick(rng, len(rows), 1, 3)
    values = [_BAD_ELEMENTS[int(i)] for i in rng.permutation(len(_BAD_ELEMENTS))]
    for r, bad in zip(chosen, values, strict=False):
        row = rows[r]
        if variant in ("type", "both"):
            doc.replace(row[j_type], bad)  # type: ignore[index]
        if variant in ("label", "both"):
            old = row[j_label].bare  # type: ignore[index]
            doc.replace(row[j_label], bad)  # type: ignore[index]
            if aniso is not None:
                ja = aniso.col("_atom_site_aniso_label")
                for tok in aniso.column(ja):  # type: ignore[arg-type]
                    if tok.bare == old:
                        doc.replace(tok, bad)
    return doc.render()


def _bad_block_among_good(text: str, rng: np.random.Generator) -> str:
    doc = _Doc(text)
    if doc.headers:
        first = doc.headers[0].line
        nxt = [h.line for h in doc.headers[1:] if h.line > first]
        stop = nxt[0] if nxt else len(doc.lines)
        preamble, body = doc.lines[:first], doc.lines[first + 1 : stop]
    else:
        preamble, body = [], doc.lines
    while body and not body[-1].strip():
        body = body[:-1]
    name = _block_name(doc)
    n = int(rng.integers(2, 5))
    bad = int(rng.integers(n))
    kind = _choice(rng, _BLOCK_LOCAL_KINDS)
    blocks = []
    for j in range(n):
        block = "\n".join([f"data_{name}" if j == 0 else f"data_{name}_{j + 1}", *body]) + "\n"
        if j == bad:
            for _ in range(8):
                damaged = _MUTATORS[kind](block, rng)
                if damaged != block:
                    break
            block = str(damaged).rstrip("\n") + "\n"
        blocks.append(block)
    head = "\n".join(preamble) + "\n" if preamble else ""
    return head + "\n".join(blocks)


_MUTATORS: dict[str, Callable[[str, np.random.Generator], str | bytes]] = {
    "truncate": _truncate,
    "drop_column": _drop_column,
    "duplicate_column": _duplicate_column,
    "swap_numbers": _swap_numbers,
    "cell_nan": _cell_nan,
    "cell_inf": _cell_inf,
    "cell_huge": _cell_huge,
    "cell_negative": _cell_negative,
    "cell_tiny": _cell_tiny,
    "angle_absurd": _angle_absurd,
    "u_nan": _u_nan,
    "u_huge": _u_huge,
    "u_negative": _u_negative,
    "symop_garbage": _symop_garbage,
    "symop_singular": _symop_singular,
    "garbage_bytes": _garbage_bytes,
    "non_utf8": _non_utf8,
    "empty": _empty,
    "stacked_atoms": _stacked_atoms,
    "unknown_element": _unknown_element,
    "bad_block_among_good": _bad_block_among_good,
}
assert tuple(_MUTATORS) == KINDS


# ---------------------------------------------------------------------------- public API
def mutate(text: str, kind: str, rng: np.random.Generator) -> bytes:
    """Apply one mutation of a kind to the text of a CIF.

    Args:
        text: The CIF text (one or more data blocks).
        kind: One of :data:`KINDS`.
        rng: The random stream; the result is a function of the text, the kind and
            the state of ``rng``.

    Returns:
        The damaged file, UTF-8 encoded except where the kind inserts bytes. It
        always differs from ``text.encode()``.

    Raises:
        ValueError: for an unknown kind.
    """
    if kind not in _MUTATORS:
        raise ValueError(f"unknown mutation kind {kind!r}; choose from {', '.join(KINDS)}")
    original = _encode(text)
    for _ in range(8):
        out = _MUTATORS[kind](text, rng)
        data = out if isinstance(out, bytes) else _encode(out)
        if data != original:
            return data
    # last resort (only for degenerate inputs): drop the last non-blank character
    stripped = original.rstrip()
    return stripped[:-1] if stripped else (b"" if original else b"data_\n")


@dataclass(frozen=True)
class FuzzCase:
    """One damaged CIF of a corpus.

    Attributes:
        name: File name, ``{index:04d}_{kind}_{source}.cif``.
        kind: The mutation kind (one of :data:`KINDS`).
        source: Name of the good source it was made from.
        data: The file's bytes.
    """

    name: str
    kind: str
    source: str
    data: bytes


def make_corpus(
    sources: dict[str, str], n: int, seed: int = 0, kinds: Sequence[str] = KINDS
) -> list[FuzzCase]:
    """A reproducible corpus of damaged CIFs.

    Case ``i`` has kind ``kinds[i % len(kinds)]``; the sources rotate so that every
    kind meets every source over successive rounds. One
    ``numpy.random.default_rng(seed)`` stream drives all cases, so the same
    arguments give the same bytes.

    Args:
        sources: Short source name → good CIF text (names are used in file names).
        n: Number of cases.
        seed: Seed of the random stream.
        kinds: Kinds to cycle through (default: all of :data:`KINDS`).

    Returns:
        The ``n`` cases in order.

    Raises:
        ValueError: for no sources, no kinds, an unknown kind or a negative ``n``.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    if not sources:
        raise ValueError("need at least one source")
    kinds = tuple(kinds)
    if not kinds:
        raise ValueError("need at least one kind")
    unknown = [k for k in kinds if k not in _MUTATORS]
    if unknown:
        raise ValueError(f"unknown mutation kinds {unknown}; choose from {', '.join(KINDS)}")
    rng = np.random.default_rng(seed)
    names = list(sources)
    width = max(4, len(str(max(n - 1, 0))))
    cases = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        source = names[(i + i // len(kinds)) % len(names)]
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", source) or "source"
        data = mutate(sources[source], kind, rng)
        cases.append(FuzzCase(name=f"{i:0{width}d}_{kind}_{safe}.cif", kind=kind, source=source, data=data))
    return cases


def write_corpus(cases: Iterable[FuzzCase], directory: str | Path) -> list[Path]:
    """Write each case's bytes to ``directory/case.name`` (the folder is created).

    Each file is written atomically (:func:`xtalkit.io.atomic_write`): a killed run
    leaves whole cases only, never a truncated file that would pass for deliberate damage.

    Returns:
        The paths written, in the order of ``cases``.
    """
    from xtalkit.io import atomic_write

    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    return [atomic_write(root / case.name, case.data) for case in cases]


def counts_by_kind(cases: Iterable[FuzzCase]) -> dict[str, int]:
    """Number of cases per kind (kinds in the order of :data:`KINDS`, then others)."""
    counts: dict[str, int] = {}
    for case in cases:
        counts[case.kind] = counts.get(case.kind, 0) + 1
    order = {k: i for i, k in enumerate(KINDS)}
    return dict(sorted(counts.items(), key=lambda kv: order.get(kv[0], len(order))))
