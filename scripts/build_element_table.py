"""Regenerate ``src/xtalkit/elements/data/elements.csv`` from mendeleev and pymatgen.

Usage::

    python scripts/build_element_table.py            # writes the packaged table
    python scripts/build_element_table.py --check    # fails if the packaged table is stale

Needs the ``tables`` extra (``pip install -c constraints.txt -e '.[tables]'``).
mendeleev ships its SQLite database, so this runs offline.

Every feature has a primary source and, where one exists, a secondary source
that fills the primary's gaps. What is still missing afterwards is filled by the
rule of :func:`fill_missing` (documented in ``xtalkit.elements``), and each
filled value is recorded in the ``filled`` column so nothing is silent.
"""

from __future__ import annotations

import argparse
import io
import math
import sys
import warnings
from pathlib import Path

import numpy as np

Z_MAX = 103
OUT = Path(__file__).resolve().parents[1] / "src" / "xtalkit" / "elements" / "data" / "elements.csv"

# feature name -> (unit, description with source)
COLUMNS: dict[str, tuple[str, str]] = {
    "Z": ("", "atomic number"),
    "symbol": ("", "element symbol"),
    "mendeleev_number": ("", "Mendeleev (Pettifor-like) number; mendeleev"),
    "unpaired_electrons": ("", "unpaired electrons of the ground-state configuration; mendeleev"),
    "ionization_energy": ("eV", "first ionization energy; mendeleev, else pymatgen"),
    "covalent_radius": ("Å", "single-bond covalent radius (Pyykkö); mendeleev, else Cordero"),
    "covalent_radius_cordero": ("Å", "covalent radius of Cordero et al. (2008); mendeleev, else Pyykkö"),
    "heat_of_formation": ("kJ/mol", "heat of formation of the gaseous atom; mendeleev"),
    "dipole_polarizability": ("bohr³", "static dipole polarizability; mendeleev"),
    "average_ionic_radius": (
        "Å",
        "mean of the Shannon ionic radii over oxidation states; pymatgen",
    ),
    "group": ("", "IUPAC group 1-18 (f-block: 3); mendeleev, else pymatgen"),
    "row": ("", "period 1-7; mendeleev"),
    "en_pauling": ("", "Pauling electronegativity; mendeleev, else pymatgen"),
    "atomic_weight": ("u", "standard atomic weight; pymatgen"),
    "pmg_row": ("", "pymatgen row (lanthanides 6, actinides 7)"),
    "pmg_group": ("", "pymatgen group (f-block: 3)"),
    "pmg_ionization_energy": ("eV", "first ionization energy; pymatgen, else mendeleev"),
    "pmg_electronegativity": ("", "Pauling electronegativity X; pymatgen, else mendeleev"),
    "atomic_radius": ("Å", "empirical atomic radius; pymatgen, else mendeleev"),
    "density": ("g/cm³", "density of the elemental solid; pymatgen, else mendeleev"),
}

FEATURES = [c for c in COLUMNS if c not in ("Z", "symbol")]
TEXT_COLUMNS = {"color": "Jmol display colour (hex); mendeleev"}
NOBLE_GASES = (2, 10, 18, 36, 54, 86)


def long_form_column(z: int) -> int:
    """Column 1-32 of element ``z`` in the 32-column (long-form) periodic table."""
    starts = [1, 3, 11, 19, 37, 55, 87, 119]
    period = next(p for p in range(7) if starts[p] <= z < starts[p + 1]) + 1
    k = z - starts[period - 1]  # 0-based position within the period
    length = starts[period] - starts[period - 1]
    if period == 1:
        return 1 if k == 0 else 32
    if length == 8:  # periods 2, 3: s-block then p-block
        return k + 1 if k < 2 else 32 - (7 - k)
    if length == 18:  # periods 4, 5: s, d, p
        return k + 1 if k < 2 else k + 15
    return k + 1  # periods 6, 7: all 32 columns


def period_of(z: int) -> int:
    starts = [1, 3, 11, 19, 37, 55, 87, 119]
    return next(p for p in range(7) if starts[p] <= z < starts[p + 1]) + 1


def fill_missing(values: dict[int, float]) -> dict[int, tuple[float, str]]:
    """Fill the NaN entries of one feature over Z = 1..Z_MAX.

    Rule (also in ``xtalkit.elements.__doc__``):
      1. the value of the nearest element (fewest periods away) in the same
         column of the 32-column periodic table; on a tie, the lighter element;
      2. otherwise linear interpolation in Z between the nearest lighter and
         heavier elements that have a value (the nearest one at either end).

    Returns:
        For each filled Z: (value, provenance string such as "column:Gd").
    """
    from pymatgen.core.periodic_table import Element

    known = {z: v for z, v in values.items() if not math.isnan(v)}
    filled: dict[int, tuple[float, str]] = {}
    for z, v in values.items():
        if not math.isnan(v):
            continue
        col = long_form_column(z)
        same = [k for k in known if long_form_column(k) == col]
        if same:
            best = min(same, key=lambda k: (abs(period_of(k) - period_of(z)), k))
            filled[z] = (known[best], f"column:{Element.from_Z(best).symbol}")
            continue
        lower = [k for k in known if k < z]
        upper = [k for k in known if k > z]
        if lower and upper:
            a, b = max(lower), min(upper)
            t = (z - a) / (b - a)
            filled[z] = (known[a] * (1 - t) + known[b] * t, "interp")
        else:
            k = max(lower) if lower else min(upper)
            filled[z] = (known[k], f"nearest:{Element.from_Z(k).symbol}")
    return filled


def _num(x) -> float:
    if x is None:
        return math.nan
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def raw_table() -> dict[str, dict[int, float]]:
    """Feature -> {Z: value or NaN}, primary source with secondary fallback."""
    from mendeleev import element
    from mendeleev.fetch import fetch_ionization_energies, fetch_table
    from pymatgen.core.periodic_table import Element

    df = fetch_table("elements").set_index("atomic_number")
    ie = fetch_ionization_energies(degree=1)["IE1"]
    cols: dict[str, dict[int, float]] = {f: {} for f in FEATURES}

    def first(*vals: float) -> float:
        for v in vals:
            if not math.isnan(v):
                return v
        return math.nan

    for z in range(1, Z_MAX + 1):
        m = df.loc[z]
        p = Element.from_Z(z)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p_ie = _num(p.ionization_energies[0]) if p.ionization_energies else math.nan
            p_x = _num(p.X)
            p_air = _num(p.average_ionic_radius)
            p_ar = _num(p.atomic_radius)
            p_rho = _num(p.density_of_solid)
        p_air = math.nan if p_air == 0 else p_air  # pymatgen uses 0 for "no ionic radius"
        p_rho = p_rho / 1000.0  # kg/m³ -> g/cm³
        m_ie = _num(ie.get(z))
        m_en = _num(m["en_pauling"])
        cols["mendeleev_number"][z] = _num(m["mendeleev_number"])
        cols["unpaired_electrons"][z] = float(element(z).ec.unpaired_electrons())
        cols["ionization_energy"][z] = first(m_ie, p_ie)
        cols["covalent_radius"][z] = (
            first(_num(m["covalent_radius_pyykko"]), _num(m["covalent_radius_cordero"])) / 100.0
        )
        hof = _num(m["heat_of_formation"])
        if z in NOBLE_GASES and math.isnan(hof):
            hof = 0.0  # a noble gas is a monatomic gas in its standard state: ΔHf(g) = 0
        cols["heat_of_formation"][z] = hof
        cols["covalent_radius_cordero"][z] = (
            first(_num(m["covalent_radius_cordero"]), _num(m["covalent_radius_pyykko"])) / 100.0
        )
        cols["dipole_polarizability"][z] = _num(m["dipole_polarizability"])
        cols["average_ionic_radius"][z] = p_air
        cols["group"][z] = first(_num(m["group_id"]), _num(p.group))
        cols["row"][z] = _num(m["period"])
        cols["en_pauling"][z] = first(m_en, p_x)
        cols["atomic_weight"][z] = float(p.atomic_mass)
        cols["pmg_row"][z] = float(p.row)
        cols["pmg_group"][z] = float(p.group)
        cols["pmg_ionization_energy"][z] = first(p_ie, m_ie)
        cols["pmg_electronegativity"][z] = first(p_x, m_en)
        cols["atomic_radius"][z] = first(p_ar, _num(m["atomic_radius"]) / 100.0)
        cols["density"][z] = first(p_rho, _num(m["density"]))
    return cols


def build_csv() -> str:
    from pymatgen.core.periodic_table import Element

    cols = raw_table()
    notes: dict[int, list[str]] = {z: [] for z in range(1, Z_MAX + 1)}
    for f in FEATURES:
        for z, (v, how) in fill_missing(cols[f]).items():
            cols[f][z] = v
            notes[z].append(f"{f}={how}")
    buf = io.StringIO()
    buf.write("# xtalkit element table, generated by scripts/build_element_table.py; do not edit.\n")
    for name, (unit, desc) in COLUMNS.items():
        buf.write(f"# {name}: {desc}" + (f" [{unit}]" if unit else "") + "\n")
    for name, desc in TEXT_COLUMNS.items():
        buf.write(f"# {name}: {desc}\n")
    buf.write("# filled: features whose value was missing in both sources and filled by the rule\n")
    buf.write("#   column:X = copied from element X of the same long-form column; interp = linear in Z\n")
    buf.write(",".join([*COLUMNS, *TEXT_COLUMNS, "filled"]) + "\n")
    from mendeleev.fetch import fetch_table

    colors = fetch_table("elements").set_index("atomic_number")["jmol_color"]
    for z in range(1, Z_MAX + 1):
        row = [str(z), Element.from_Z(z).symbol]
        for f in FEATURES:
            v = cols[f][z]
            assert np.isfinite(v), (f, z)
            row.append(f"{v:.6g}")
        row.append(str(colors.loc[z]))
        row.append(";".join(notes[z]))
        buf.write(",".join(row) + "\n")
    return buf.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the packaged file")
    parser.add_argument("-o", "--output", type=Path, default=OUT)
    args = parser.parse_args()
    text = build_csv()
    if args.check:
        same = args.output.read_text() == text
        print("up to date" if same else f"{args.output} is stale: rerun without --check")
        return 0 if same else 1
    tmp = args.output.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
