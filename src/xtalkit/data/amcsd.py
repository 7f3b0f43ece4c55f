"""The American Mineralogist Crystal Structure Database (AMCSD) as shipped by ``larixite``.

The ``larixite`` wheel (MIT licence) contains ``larixite/amcsd_cif1.db``, an
SQLite file with 9,275 mineral structures. Numbers (coordinates, occupancies,
U values) are stored base64-encoded as int32 multiples of 1/4,000,000; the
codes 2 and 3 stand for the CIF nulls ``?`` and ``.``. This module reads the
file with the standard ``sqlite3`` module only (larixite itself is never
imported), rebuilds a CIF text for each entry and parses it with the same
reader as any other CIF, so every entry goes through one code path.

AMCSD records no measurement temperature; entries come back flagged
``no_temperature`` and the dataset builder decides what to assume.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Iterator
from importlib import util
from pathlib import Path

import numpy as np

from xtalkit.crystal.cif import read_crystal
from xtalkit.crystal.core import Crystal
from xtalkit.errors import CifError, XtalkitError

_SCALE = 4.0e6
_COLUMNS = (
    "cif.id, cif.formula, cif.pub_title, cif.a, cif.b, cif.c, cif.alpha, cif.beta, cif.gamma, "
    "cif.atoms_sites, cif.atoms_x, cif.atoms_y, cif.atoms_z, cif.atoms_occupancy, "
    "cif.atoms_u_iso, cif.atoms_aniso_label, cif.atoms_aniso_u11, cif.atoms_aniso_u22, "
    "cif.atoms_aniso_u33, cif.atoms_aniso_u12, cif.atoms_aniso_u13, cif.atoms_aniso_u23, "
    "spacegroups.hm_notation, spacegroups.symmetry_xyz, minerals.name"
)


def default_database() -> Path:
    """Path of ``amcsd_cif1.db`` inside the installed ``larixite`` package.

    Raises:
        XtalkitError: if larixite is not installed (``pip install 'xtalkit[amcsd]'``).
    """
    spec = util.find_spec("larixite")
    if spec is None or not spec.submodule_search_locations:
        raise XtalkitError("AMCSD needs the larixite wheel: pip install 'xtalkit[amcsd]'")
    path = Path(next(iter(spec.submodule_search_locations))) / "amcsd_cif1.db"
    if not path.is_file():
        raise XtalkitError(f"larixite is installed but {path} is missing")
    return path


def _decode(blob: str | None) -> list[str] | None:
    """Decode one AMCSD number array into CIF value strings (None if absent)."""
    if blob in (None, "", "0", 0):
        return None
    arr = np.frombuffer(base64.b64decode(blob), dtype=np.int32) / _SCALE
    out = []
    for v in arr:
        if abs(v - 2.0) < 1e-6:
            out.append("?")
        elif abs(v - 3.0) < 1e-6:
            out.append(".")
        else:
            out.append(f"{v:.7f}")
    return out


def _quote(s: str) -> str:
    return "'" + s.replace("'", "") + "'"


def entry_to_cif(row: tuple) -> str:
    """CIF text of one row of the query in :func:`iter_amcsd_cifs`."""
    (
        ident, formula, title, a, b, c, al, be, ga, sites, xs, ys, zs, occ, uiso,
        alabels, u11, u22, u33, u12, u13, u23, hm, symops, mineral,
    ) = row  # fmt: skip
    labels = json.loads(sites) if sites and sites != "<missing>" else []
    x, y, z = _decode(xs), _decode(ys), _decode(zs)
    occupancy, u_iso = _decode(occ), _decode(uiso)
    lines = [
        f"data_amcsd_{int(ident):07d}",
        f"_database_code_amcsd {int(ident)}",
        f"_chemical_name_mineral {_quote(mineral or '?')}",
        f"_chemical_formula_sum {_quote(formula or '?')}",
        "_publ_section_title",
        ";",
        (title or "").strip(),
        ";",
        f"_cell_length_a {a}",
        f"_cell_length_b {b}",
        f"_cell_length_c {c}",
        f"_cell_angle_alpha {al}",
        f"_cell_angle_beta {be}",
        f"_cell_angle_gamma {ga}",
        f"_symmetry_space_group_name_H-M {_quote(hm or '?')}",
        "loop_",
        "_space_group_symop_operation_xyz",
    ]
    lines += [_quote(op) for op in json.loads(symops)]
    if labels and x and y and z:
        cols = ["label", "fract_x", "fract_y", "fract_z"]
        data = [labels, x, y, z]
        if occupancy:
            cols.append("occupancy")
            data.append(occupancy)
        if u_iso:
            cols.append("U_iso_or_equiv")
            data.append(u_iso)
        lines += ["loop_", *(f"_atom_site_{col}" for col in cols)]
        lines += [
            " ".join(_quote(str(v)) if k == 0 else str(v) for k, v in enumerate(r))
            for r in zip(*data, strict=True)
        ]
    if alabels and alabels not in ('"<missing>"', "<missing>", "0"):
        al_list = json.loads(alabels)
        comps = [_decode(u) for u in (u11, u22, u33, u12, u13, u23)]
        if all(cc is not None for cc in comps):
            lines += ["loop_", "_atom_site_aniso_label"]
            lines += [f"_atom_site_aniso_U_{ij}" for ij in ("11", "22", "33", "12", "13", "23")]
            lines += [
                " ".join([_quote(lb), *(cc[i] for cc in comps)])  # type: ignore[index]
                for i, lb in enumerate(al_list)
            ]
    return "\n".join(lines) + "\n"


def list_ids(database: str | Path | None = None) -> list[int]:
    """All AMCSD entry ids of the database, ascending."""
    path = Path(database) if database is not None else default_database()
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [int(r[0]) for r in con.execute("SELECT id FROM cif ORDER BY id")]
    finally:
        con.close()


def iter_amcsd_cifs(
    database: str | Path | None = None, ids: tuple[int, ...] | list[int] | None = None
) -> Iterator[tuple[int, str]]:
    """Yield ``(AMCSD id, CIF text)`` for every entry (or the given ids), in id order."""
    path = Path(database) if database is not None else default_database()
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        query = (
            f"SELECT {_COLUMNS} FROM cif "
            "LEFT JOIN spacegroups ON cif.spacegroup_id = spacegroups.id "
            "LEFT JOIN minerals ON cif.mineral_id = minerals.id"
        )
        if ids is not None:
            wanted = sorted({int(i) for i in ids})
            query += f" WHERE cif.id IN ({','.join('?' * len(wanted))})"
            rows = con.execute(query + " ORDER BY cif.id", wanted)
        else:
            rows = con.execute(query + " ORDER BY cif.id")
        for row in rows:
            yield int(row[0]), entry_to_cif(row)
    finally:
        con.close()


def read_entries(
    database: str | Path | None = None, ids: tuple[int, ...] | list[int] | None = None
) -> Iterator[tuple[int, Crystal | CifError]]:
    """Yield ``(AMCSD id, Crystal or the CifError explaining why it cannot be read)``."""
    for ident, text in iter_amcsd_cifs(database, ids):
        source = f"amcsd:{ident}"
        try:
            crystal = read_crystal(text, text=True)
            crystal.source = source
            crystal.metadata["amcsd_id"] = str(ident)
            yield ident, crystal
        except CifError as exc:
            yield ident, CifError(exc.problem, source=source, block=exc.block)


def iter_amcsd(database: str | Path | None = None) -> Iterator[tuple[int, Crystal | CifError]]:
    """Every entry of the database as ``(AMCSD id, Crystal or CifError)``."""
    return read_entries(database)
