"""Reading crystals from CIF files (gemmi) and writing them back.

Reading: gemmi tokenizes the file and provides the symmetry tables; this
module reads the ``_atom_site`` and ``_atom_site_aniso`` loops itself so that
every ADP convention (``U_ij``, ``B_ij``, ``beta_ij``, ``U_iso``, ``B_iso``)
is handled, and expands the asymmetric unit with :mod:`.symmetry`, rotating
each ADP into its symmetry image.

Writing (:mod:`.cif_write`, re-exported here): :func:`write_cif` writes the full
cell in P 1 (``symmetry="P1"``) or, when the crystal still knows its symmetry,
the asymmetric unit with the original operations (``symmetry="original"``).
Files are written atomically.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import gemmi
import numpy as np

from xtalkit.crystal import adp
from xtalkit.crystal.core import Crystal, Flag, adp_flags
from xtalkit.crystal.symmetry import (
    close_group,
    expand_sites,
    identify_space_group,
    ops_to_arrays,
    triplet,
)
from xtalkit.crystal.validate import DEFAULT_LIMITS, CellLimits, check_cell, check_crystal, check_symops
from xtalkit.elements import parse_element
from xtalkit.errors import CifError, CrystalError

__all__ = ["iter_cif", "read_cif", "read_crystal", "to_cif_string", "write_cif"]

#: Default tolerance (Å) for merging symmetry images of one site (special positions).
SPECIAL_POSITION_TOL = 0.5
#: Refined occupancies slightly above 1 are real-world values: kept as given and
#: flagged ``occupancy_above_one``; beyond this they are an error.
MAX_OCCUPANCY = 1.1

_SYMOP_TAGS = (
    "_space_group_symop_operation_xyz",
    "_space_group_symop.operation_xyz",
    "_symmetry_equiv_pos_as_xyz",
    "_symmetry_equiv.pos_as_xyz",
)
_SSG_SYMOP_TAGS = (
    "_space_group_symop_ssg_operation_algebraic",
    "_space_group_symop_ssg.operation_algebraic",
)
_HALL_TAGS = ("_space_group_name_Hall", "_symmetry_space_group_name_Hall", "_space_group.name_Hall")
_HM_TAGS = (
    "_space_group_name_H-M_alt",
    "_symmetry_space_group_name_H-M",
    "_space_group.name_H-M_alt",
)
_NUMBER_TAGS = ("_space_group_IT_number", "_symmetry_Int_Tables_number", "_space_group.IT_number")
_TEMPERATURE_TAGS = ("_diffrn_ambient_temperature", "_cell_measurement_temperature")
_R1_TAGS = ("_refine_ls_R_factor_gt", "_refine_ls_R_factor_obs")


# ---------------------------------------------------------------------- value parsing
def _is_null(v: str | None) -> bool:
    return v is None or v in ("?", ".", "")


def _str(v: str | None) -> str | None:
    if _is_null(v):
        return None
    return gemmi.cif.as_string(v)


_NUM = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(?:\((\d+)\))?\s*(.*?)\s*$")


_FRACTION = re.compile(r"^\s*([-+]?\d+)\s*/\s*(\d+)\s*$")


def parse_number(v: str | None) -> float:
    """A CIF number with an optional standard uncertainty: ``"0.123(4)"`` → 0.123.

    Also accepted: a simple fraction (``"3/4"``, seen for special positions) and a
    trailing ``*`` that some programs append to constrained values (``"0.08*"``).
    Returns NaN for null values (``?``, ``.``). Raises ValueError for text that is
    not a number.
    """
    if _is_null(v):
        return math.nan
    s = gemmi.cif.as_string(v)
    m = _NUM.match(s)
    if m and m.group(3) in ("", "*"):
        return float(m.group(1))
    f = _FRACTION.match(s)
    if f and int(f.group(2)) != 0:
        return int(f.group(1)) / int(f.group(2))
    raise ValueError(f"not a number: {s!r}")


def parse_temperature(v: str | None) -> float | None:
    """A temperature in K from values like ``100(2)``, ``293 K``, ``293.15K``, ``-173 C``.

    Returns None for null values or text without a leading number (``"room temperature"``).
    """
    if _is_null(v):
        return None
    m = _NUM.match(gemmi.cif.as_string(v))
    if not m:
        return None
    value = float(m.group(1))
    unit = m.group(3).strip().lower().replace("°", "").replace("deg", "").strip()
    if unit in ("", "k", "kelvin"):
        return value
    if unit in ("c", "celsius"):
        return value + 273.15
    return None


def _find_value(block: gemmi.cif.Block, tags: Sequence[str]) -> str | None:
    for tag in tags:
        v = block.find_value(tag)
        if v is not None and not _is_null(v):
            return v
    return None


def _find_column(block: gemmi.cif.Block, tags: Sequence[str]) -> list[str] | None:
    for tag in tags:
        col = block.find_values(tag)
        if len(col):
            return list(col)
    return None


def _tag_variants(category: str, item: str) -> tuple[str, ...]:
    return (f"_{category}_{item}", f"_{category}.{item}")


class _Table:
    """Rows of one category (``_atom_site`` or ``_atom_site_aniso``), accessed by item name."""

    def __init__(self, block: gemmi.cif.Block, category: str):
        self.block = block
        self.category = category
        self.columns: dict[str, list[str] | None] = {}

    def get(self, item: str) -> list[str] | None:
        if item not in self.columns:
            self.columns[item] = _find_column(self.block, _tag_variants(self.category, item))
        return self.columns[item]


# ---------------------------------------------------------------------- reading
def _block_has_structure(block: gemmi.cif.Block) -> bool:
    return bool(
        _find_column(block, _tag_variants("atom_site", "fract_x"))
        or _find_column(block, _tag_variants("atom_site", "label"))
        or block.find_value("_cell_length_a") is not None
    )


def _cell(block: gemmi.cif.Block) -> np.ndarray:
    vals = []
    for tag in (
        "_cell_length_a",
        "_cell_length_b",
        "_cell_length_c",
        "_cell_angle_alpha",
        "_cell_angle_beta",
        "_cell_angle_gamma",
    ):
        raw = block.find_value(tag) or block.find_value(tag.replace("_cell_", "_cell.", 1))
        if _is_null(raw):
            raise CifError(f"missing {tag}")
        try:
            vals.append(parse_number(raw))
        except ValueError as exc:
            raise CifError(f"{tag}: {exc}") from None
    a, b, c, al, be, ga = vals
    if min(a, b, c) <= 0 or not all(np.isfinite(vals)):
        raise CifError(f"cell lengths must be positive, got a={a}, b={b}, c={c}")
    if not all(0 < x < 180 for x in (al, be, ga)):
        raise CifError(f"cell angles must lie in (0, 180) degrees, got {al}, {be}, {ga}")
    cosines = np.cos(np.radians([al, be, ga]))
    gram = 1 - (cosines**2).sum() + 2 * cosines.prod()  # (V / abc)²
    if gram < 1e-6:
        raise CifError(f"cell has zero volume (a={a}, b={b}, c={c}, angles {al}, {be}, {ga})")
    cell = gemmi.UnitCell(a, b, c, al, be, ga)
    lattice = np.array(cell.orth.mat).T  # rows a, b, c; a along x, b in the xy plane
    volume = abs(np.linalg.det(lattice))
    if not np.isfinite(volume) or volume < 1e-6 * a * b * c:
        raise CifError(f"cell has zero volume (a={a}, b={b}, c={c}, angles {al}, {be}, {ga})")
    return lattice


def _symmetry(block: gemmi.cif.Block) -> tuple[list[str], str, int, str]:
    """Symmetry operations of a block: (ops, H-M name, IT number, where they came from)."""
    hm = _str(_find_value(block, _HM_TAGS)) or ""
    number_raw = _find_value(block, _NUMBER_TAGS)
    try:
        number = int(parse_number(number_raw)) if number_raw else 0
    except ValueError:
        number = 0
    ops = _find_column(block, _SYMOP_TAGS)
    if ops:
        return [gemmi.cif.as_string(o) for o in ops], hm, number, "listed operations"
    ops = _find_column(block, _SSG_SYMOP_TAGS)
    if ops:
        return [gemmi.cif.as_string(o) for o in ops], hm, number, "superspace operations (x,y,z)"
    hall = _str(_find_value(block, _HALL_TAGS))
    if hall:
        try:
            group = gemmi.symops_from_hall(hall)
            return [op.triplet() for op in group], hm, number, f"Hall symbol {hall!r}"
        except (RuntimeError, ValueError):
            pass
    if hm:
        a = block.find_value("_cell_angle_alpha")
        g = block.find_value("_cell_angle_gamma")
        try:
            sg = gemmi.find_spacegroup_by_name(
                hm, alpha=parse_number(a) if a else 0.0, gamma=parse_number(g) if g else 0.0
            )
        except (RuntimeError, ValueError):
            sg = None
        if sg is not None:
            return [op.triplet() for op in sg.operations()], hm, number, f"H-M symbol {hm!r}"
    if number:
        sg = gemmi.find_spacegroup_by_number(number)
        if sg is not None:
            ops_ = [op.triplet() for op in sg.operations()]
            return ops_, hm or sg.hm, number, f"IT number {number} (standard setting)"
    return [], hm, number, ""


def _read_block(block: gemmi.cif.Block, source: str, *, tol: float, limits: CellLimits) -> Crystal:
    """Build a :class:`Crystal` from one data block (raises CifError without location)."""
    lattice = _cell(block)
    _checked(check_cell, lattice, limits)
    sites = _Table(block, "atom_site")
    labels = sites.get("label")
    fx, fy, fz = (sites.get(k) for k in ("fract_x", "fract_y", "fract_z"))
    if not fx and not fy and not fz:
        if sites.get("Cartn_x"):
            raise CifError("only Cartesian coordinates (_atom_site_Cartn_*) are given")
        raise CifError("no atom sites (_atom_site_fract_x/y/z)")
    for name, col in (("x", fx), ("y", fy), ("z", fz)):
        if not col:
            raise CifError(f"the atom-site loop has no _atom_site_fract_{name} column")
    n = len(fx)
    if not (len(fy) == len(fz) == n):
        raise CifError("_atom_site_fract_x/y/z columns differ in length")
    if labels is None:
        labels = [f"site{i + 1}" for i in range(n)]
    labels = [gemmi.cif.as_string(x) for x in labels]

    # --- which sites to keep (dummy atoms are not atoms)
    calc = sites.get("calc_flag")
    keep = [not (calc and gemmi.cif.as_string(calc[i]).lower() == "dum") for i in range(n)]

    # --- elements
    types = sites.get("type_symbol")
    upper = all(lb == lb.upper() for lb in labels)
    numbers, deuterium = [], False
    for i in range(n):
        raw = gemmi.cif.as_string(types[i]) if types and not _is_null(types[i]) else None
        try:
            if raw is not None:
                z = parse_element(raw)
                deuterium |= raw.strip()[:1] == "D" and raw.strip()[1:2] in ("", "+", "-")
            else:
                z = parse_element(labels[i], is_label=True, uppercase_labels=upper)
                deuterium |= labels[i][:1] == "D" and not labels[i][1:2].isalpha()
        except ValueError as exc:
            raise CifError(f"site {labels[i]}: {exc}") from None
        if z > 103:
            raise CifError(f"site {labels[i]}: element Z={z} is beyond the supported 1-103")
        numbers.append(z)

    # --- coordinates
    frac = np.empty((n, 3))
    for k, col in enumerate((fx, fy, fz)):
        for i in range(n):
            try:
                frac[i, k] = parse_number(col[i])
            except ValueError:
                raise CifError(f"site {labels[i]}: bad coordinate {col[i]!r}") from None
    bad = ~np.isfinite(frac).all(axis=1) & np.array(keep)
    if bad.any():
        raise CifError(f"site {labels[int(np.flatnonzero(bad)[0])]}: missing or NaN coordinate")

    # --- occupancy, disorder
    occ_col = sites.get("occupancy")
    occupancy = np.ones(n)
    if occ_col:
        for i in range(n):
            try:
                v = parse_number(occ_col[i])
            except ValueError:
                raise CifError(f"site {labels[i]}: bad occupancy {occ_col[i]!r}") from None
            occupancy[i] = 1.0 if math.isnan(v) else v
    if (occupancy <= 0).any() or (occupancy > MAX_OCCUPANCY).any():
        i = int(np.flatnonzero((occupancy <= 0) | (occupancy > MAX_OCCUPANCY))[0])
        raise CifError(f"site {labels[i]}: occupancy {occupancy[i]} outside (0, {MAX_OCCUPANCY}]")
    dgroup = [""] * n
    for item in ("disorder_group", "disorder_assembly"):
        col = sites.get(item)
        if col:
            for i in range(n):
                if not _is_null(col[i]):
                    dgroup[i] = (dgroup[i] + "/" if dgroup[i] else "") + gemmi.cif.as_string(col[i])

    # --- displacement parameters, in the fractional basis U* (NaN = unknown)
    U_star = np.full((n, 3, 3), np.nan)
    adp_type = np.full(n, "", dtype="<U4")
    iso = np.full(n, np.nan)
    for item, scale in (("U_iso_or_equiv", 1.0), ("B_iso_or_equiv", 1.0 / adp.EIGHT_PI_SQ)):
        col = sites.get(item)
        if col:
            for i in range(n):
                try:
                    v = parse_number(col[i])
                except ValueError:
                    raise CifError(f"site {labels[i]}: bad _atom_site_{item} {col[i]!r}") from None
                if np.isinf(v):
                    raise CifError(f"site {labels[i]}: _atom_site_{item} is not finite")
                if np.isfinite(v) and not np.isfinite(iso[i]):
                    iso[i] = v * scale
    orphans: list[str] = []
    aniso = _read_aniso(block, labels, lattice, orphans)
    declared = sites.get("adp_type") or sites.get("thermal_displace_type")
    missing_aniso: list[str] = []
    for i in range(n):
        if i in aniso:
            U_star[i] = aniso[i]
            adp_type[i] = "Uani"
        elif np.isfinite(iso[i]):
            kind = gemmi.cif.as_string(declared[i]).lower() if declared else "uiso"
            if kind in ("uani", "bani"):
                missing_aniso.append(labels[i])
            U_star[i] = adp.ucart_to_ustar(adp.uiso_to_ucart(iso[i]), lattice)
            adp_type[i] = "Uiso"

    keep_idx = np.flatnonzero(keep)
    if keep_idx.size == 0:
        raise CifError("no atom sites")

    # --- symmetry
    ops, hm, number, origin = _symmetry(block)
    flags: set[Flag] = set()
    metadata: dict[str, str] = {}
    if not ops:
        ops = ["x,y,z"]
        flags.add(Flag.ASSUMED_P1)
        origin = "none given: sites taken as the full cell (P 1)"
    try:
        W, t = ops_to_arrays(ops)
        _checked(check_symops, W, t, lattice, ops, limits)
        W, t, completed = close_group(W, t)
    except ValueError as exc:
        raise CifError(str(exc)) from None
    # 4× slack: images on special positions merge later; the expanded cell must still meet max_atoms
    if keep_idx.size * len(W) > 4 * limits.max_atoms:
        raise CifError(
            f"{keep_idx.size} sites × {len(W)} operations = {keep_idx.size * len(W)} images, beyond "
            f"{4 * limits.max_atoms} (4 × the limit of {limits.max_atoms} atoms, room for special positions)"
        )
    metadata["symmetry_from"] = origin + (" (completed to a group)" if completed else "")
    sg = identify_space_group(W, t)
    if sg is not None:
        hm, number = sg.xhm(), sg.number
    frac_all, Ustar_all, parent, _order, close_sites = expand_sites(
        frac[keep_idx], U_star[keep_idx], W, t, lattice, tol=tol
    )
    parent = keep_idx[parent]
    close_sites = keep_idx[close_sites]
    U_cart = adp.ustar_to_ucart(Ustar_all, lattice)
    # isotropic tensors stay exactly isotropic (U_iso·I is invariant under any rotation)
    iso_sites = adp_type[parent] == "Uiso"
    U_cart[iso_sites] = adp.uiso_to_ucart(iso[parent[iso_sites]])
    U_cart = 0.5 * (U_cart + np.swapaxes(U_cart, -1, -2))

    crystal = Crystal(
        lattice=lattice,
        numbers=np.array(numbers)[parent],
        frac=frac_all,
        occupancy=occupancy[parent],
        U_cart=U_cart,
        adp_type=adp_type[parent],
        labels=np.array(labels, dtype=object)[parent],
        disorder_group=np.array(dgroup, dtype=object)[parent],
        asym_index=parent,
        symops=tuple(triplet(w, x) for w, x in zip(W, t, strict=True)),
        space_group=hm,
        space_group_number=number,
        temperature=None,
        r1=None,
        source=source,
        block=block.name,
        metadata=metadata,
    )
    # --- metadata and flags
    for tag in _TEMPERATURE_TAGS:
        T = parse_temperature(block.find_value(tag))
        if T is not None and 0 < T < 5000:
            crystal.temperature = T
            metadata["temperature_from"] = tag
            break
    else:
        flags.add(Flag.NO_TEMPERATURE)
    title = _str(_find_value(block, ("_publ_section_title", "_publ.section_title")))
    if title:
        metadata["title"] = " ".join(title.split())[:300]
    pressure = _find_value(block, ("_diffrn_ambient_pressure", "_diffrn.ambient_pressure"))
    if pressure is not None:
        try:
            metadata["pressure_kpa"] = f"{parse_number(pressure):g}"
        except ValueError:
            metadata["pressure_note"] = f"unreadable _diffrn_ambient_pressure {pressure!r}"
    r1_raw = _find_value(block, _R1_TAGS)
    if r1_raw is not None:
        try:
            r1 = parse_number(r1_raw)
        except ValueError:
            r1 = math.nan
        if np.isfinite(r1) and r1 >= 0:
            if r1 > 1.0:  # given in percent
                metadata["r1_note"] = f"R1 {r1} read as percent"
                r1 /= 100.0
            crystal.r1 = r1
    if (occupancy[keep_idx] < 1.0 - 1e-3).any():
        flags.add(Flag.PARTIAL_OCCUPANCY)
    if (occupancy[keep_idx] > 1.0 + 1e-3).any():
        flags.add(Flag.OCCUPANCY_ABOVE_ONE)
    if any(dgroup[i] for i in keep_idx):
        flags.add(Flag.DISORDER)
    if deuterium:
        flags.add(Flag.DEUTERIUM)
    full = occupancy >= 1.0 - 1e-3
    if len(close_sites) and (full[close_sites[:, 0]] & full[close_sites[:, 1]]).any():
        flags.add(Flag.CLOSE_CONTACTS)
    crystal.flags = frozenset(flags) | adp_flags(crystal)
    _checked(check_crystal, crystal, limits)
    if missing_aniso:
        metadata["adp_note"] = "declared Uani without an aniso row, read as Uiso: " + " ".join(missing_aniso)
    if orphans:
        metadata["aniso_note"] = "aniso rows naming no atom site, ignored: " + " ".join(orphans)
    if keep_idx.size != n:
        metadata["dummy_sites_skipped"] = str(n - keep_idx.size)
    return crystal


def _checked(check, *args) -> None:
    """Run a :mod:`.validate` check, turning its error into a CifError (the reader adds the location)."""
    try:
        check(*args)
    except CrystalError as exc:
        raise CifError(exc.problem) from None


def _read_aniso(
    block: gemmi.cif.Block, labels: list[str], lattice: np.ndarray, orphans: list[str]
) -> dict[int, np.ndarray]:
    """Anisotropic tensors by site index, converted to U* (fractional basis).

    Labels of aniso rows that name no atom site are appended to ``orphans``.
    """
    table = _Table(block, "atom_site_aniso")
    alabels = table.get("label")
    in_site_loop = False
    if alabels is None:
        # aniso columns may sit in the _atom_site loop itself
        if _find_column(block, _tag_variants("atom_site_aniso", "U_11")) is None:
            return {}
        alabels, in_site_loop = labels, True
    index = {lb: i for i, lb in enumerate(labels)}
    out: dict[int, np.ndarray] = {}
    for kind, to_ustar in (
        ("U", lambda c: adp.ucif_to_ustar(adp.from_components(c), lattice)),
        ("B", lambda c: adp.ucif_to_ustar(adp.b_to_u(adp.from_components(c)), lattice)),
        ("beta", lambda c: adp.beta_to_ustar(adp.from_components(c))),
    ):
        cols = [table.get(f"{kind}_{ij}") for ij in adp.CIF_COMPONENTS]
        if cols[0] is None:
            continue
        if any(c is None for c in cols):
            raise CifError(f"_atom_site_aniso_{kind}_ij loop lacks some of the six components")
        for r, raw_label in enumerate(alabels):
            label = labels[r] if in_site_loop else gemmi.cif.as_string(raw_label)
            if label not in index:
                orphans.append(label)
                continue
            try:
                comp = np.array([parse_number(c[r]) for c in cols])
            except ValueError as exc:
                raise CifError(f"site {label}: aniso {kind}: {exc}") from None
            if np.isnan(comp).all():
                continue
            if np.isnan(comp).any():
                raise CifError(f"site {label}: aniso {kind}_ij has missing components")
            if not np.isfinite(comp).all():
                raise CifError(f"site {label}: aniso {kind}_ij is not finite")
            out.setdefault(index[label], to_ustar(comp))
    return out


#: Marks a block error that is a bug in xtalkit, not a problem of the file.
UNEXPECTED = "unexpected error while reading"


def _decode(data: bytes) -> tuple[str, str | None]:
    """CIF bytes as text: UTF-8 (CIF 2.0, and ASCII CIF 1.1), else Windows-1252.

    Old programs write Windows-1252 quotes and degree signs into text fields; such
    files are read, with a note. NUL bytes are never text.

    Returns:
        ``(text, note)``: the note is None for UTF-8.

    Raises:
        CifError: for NUL bytes (binary data).
    """
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise CifError(f"binary data (NUL byte) on line {line}: not a text file")
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        note = f"not UTF-8 (byte 0x{data[exc.start]:02x} on line {line}); read as Windows-1252"
        return data.decode("cp1252", errors="replace"), note


def _read_document(
    path_or_text: str | os.PathLike, *, text: bool
) -> tuple[gemmi.cif.Document, str, str | None]:
    """The gemmi document, the source name and an encoding note (None when the file is UTF-8)."""
    source = "<string>" if text else str(path_or_text)
    note = None
    try:
        if text:
            content = str(path_or_text)
        else:
            p = Path(path_or_text)
            if not p.is_file():
                raise CifError("no such file", source=source)
            data = p.read_bytes()
            if p.suffix == ".gz":
                import gzip

                data = gzip.decompress(data)
            content, note = _decode(data)
        if "\x00" in content:
            raise CifError("binary data (NUL character): not a text file")
        doc = gemmi.cif.read_string(content)
    except CifError as exc:
        raise exc.located(source) from None
    except (RuntimeError, ValueError, OSError, EOFError, UnicodeError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        msg = msg.replace(str(path_or_text), "").removeprefix("string").lstrip(":")
        msg = re.sub(r"^(\d+):\d+(\(\d+\))?:?\s*", r"line \1: ", msg)  # gemmi's "N:M(K):"
        msg = re.sub(r"^(\d+) in data_(\S+?):\s*", r"line \1 (block \2): ", msg)  # gemmi's "N in data_X:"
        raise CifError(f"malformed CIF: {msg}", source=source) from None
    return doc, source, note


def iter_cif(
    path_or_text: str | os.PathLike,
    *,
    text: bool = False,
    special_position_tol: float = SPECIAL_POSITION_TOL,
    limits: CellLimits = DEFAULT_LIMITS,
) -> Iterator[tuple[str, Crystal | CifError]]:
    """Yield ``(block name, Crystal or CifError)`` for every structure block of a CIF.

    Blocks without a cell and without atom sites (e.g. a ``data_global`` block of
    publication details) are skipped. A malformed file raises :class:`CifError`.

    Args:
        path_or_text: File path, or the CIF text itself when ``text=True``.
        text: Treat ``path_or_text`` as CIF content.
        special_position_tol: Images of one site closer than this (Å) are one atom.
        limits: physical bounds on the cell (:class:`~xtalkit.crystal.validate.CellLimits`).

    A block that cannot become a :class:`Crystal` for any reason yields a
    :class:`CifError`, so one bad block never hides the good ones; an error that
    is a bug of xtalkit rather than of the file says :data:`UNEXPECTED`.
    """
    doc, source, note = _read_document(path_or_text, text=text)
    found = False
    for k, block in enumerate(doc):
        name = f"#{k + 1}"
        try:
            name = block.name or name
            if not _block_has_structure(block):
                continue
            found = True
            crystal = _read_block(block, source, tol=special_position_tol, limits=limits)
        except CifError as exc:
            yield name, exc.located(source, name)
            continue
        except UnicodeError as exc:
            yield name, CifError(f"text is not valid UTF-8 ({exc.reason})", source=source, block=name)
            continue
        except Exception as exc:  # a bug in xtalkit: one line, and the other blocks are still read
            msg = " ".join(str(exc).split())[:200]
            yield name, CifError(f"{UNEXPECTED} ({type(exc).__name__}: {msg})", source=source, block=name)
            continue
        if note:
            crystal.metadata["encoding_note"] = note
        yield name, crystal
    if not found:
        raise CifError("no data block with a cell or atom sites", source=source)


def read_cif(
    path_or_text: str | os.PathLike,
    *,
    text: bool = False,
    special_position_tol: float = SPECIAL_POSITION_TOL,
    limits: CellLimits = DEFAULT_LIMITS,
) -> list[Crystal]:
    """Read every structure block of a CIF file.

    Raises:
        CifError: one line naming the file, the block and the problem, for the
            first block that cannot be read.
    """
    out = []
    for _, result in iter_cif(
        path_or_text, text=text, special_position_tol=special_position_tol, limits=limits
    ):
        if isinstance(result, CifError):
            raise result
        out.append(result)
    return out


def read_crystal(
    path_or_text: str | os.PathLike,
    block: str | None = None,
    *,
    text: bool = False,
    special_position_tol: float = SPECIAL_POSITION_TOL,
    limits: CellLimits = DEFAULT_LIMITS,
) -> Crystal:
    """Read one crystal: the named block, or the only structure block of the file.

    Raises:
        CifError: if the block is missing or unreadable, or if ``block`` is None
            and the file holds several structures (their names are listed).
    """
    results = list(
        iter_cif(path_or_text, text=text, special_position_tol=special_position_tol, limits=limits)
    )
    source = "<string>" if text else str(path_or_text)
    if block is not None:
        for name, result in results:
            if name == block:
                if isinstance(result, CifError):
                    raise result
                return result
        raise CifError(f"no structure block named {block!r}", source=source)
    if len(results) > 1:
        names = ", ".join(n for n, _ in results)
        raise CifError(f"{len(results)} structure blocks ({names}); choose one", source=source)
    result = results[0][1]
    if isinstance(result, CifError):
        raise result
    return result


# writing lives in its own module; these names stay importable from here
from xtalkit.crystal.cif_write import to_cif_string, write_cif  # noqa: E402
