"""Converters between :class:`Crystal` and pymatgen ``Structure`` / ASE ``Atoms``, and "anything → Crystal".

ADPs travel as a per-site property named ``"U_cart"`` (Å², 3×3, in the
object's own Cartesian frame, which is the crystal's since the lattice matrix
is passed unchanged):

* pymatgen: ``structure.site_properties["U_cart"]`` (one (3, 3) array per site,
  NaN where unknown); occupancies become disordered species ``{el: occ}``;
  temperature, R1 and provenance go to ``structure.properties``.
* ASE: ``atoms.arrays["U_cart"]`` (n, 3, 3) and ``atoms.arrays["occupancy"]``;
  temperature, R1 and provenance go to ``atoms.info``.

A pymatgen site holding several species (a mixed site) becomes one
``Crystal`` site per species at the same position, as a CIF would list it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from xtalkit.crystal.core import Crystal, Flag, adp_flags
from xtalkit.crystal.validate import check_cell, check_crystal
from xtalkit.errors import CrystalError


def to_pymatgen(crystal: Crystal):
    """A pymatgen ``Structure`` with site properties ``U_cart``, ``label``, ``adp_type``."""
    from pymatgen.core import Lattice, Structure

    species = [
        {sym: float(occ)} if occ < 1.0 else sym
        for sym, occ in zip(crystal.symbols, crystal.occupancy, strict=True)
    ]
    props = {
        "U_cart": [u.copy() for u in crystal.U_cart],
        "label": [str(x) for x in crystal.labels],
        "adp_type": [str(x) for x in crystal.adp_type],
    }
    structure = Structure(
        Lattice(crystal.lattice), species, crystal.frac, site_properties=props, to_unit_cell=False
    )
    structure.properties = {
        "temperature": crystal.temperature,
        "r1": crystal.r1,
        "source": crystal.source,
        "space_group": crystal.space_group,
    }
    return structure


def from_pymatgen(structure, temperature: float | None = None, source: str = "") -> Crystal:
    """A :class:`Crystal` from a pymatgen ``Structure`` (or ``IStructure``).

    Args:
        structure: The structure. ADPs are taken from the site property
            ``"U_cart"`` when present.
        temperature: K; overrides ``structure.properties["temperature"]``.
        source: Provenance string (default: ``structure.properties["source"]``).
    """
    try:
        check_cell(structure.lattice.matrix)
    except CrystalError as exc:
        raise exc.located(source or None) from None
    numbers, frac, occ, U, labels, types, mixed = [], [], [], [], [], [], False
    props = structure.site_properties
    has_u = "U_cart" in props
    for k, site in enumerate(structure):
        items = list(site.species.items())
        mixed |= len(items) > 1
        for sp, amount in items:
            z = getattr(sp, "Z", None)
            if z is None:
                raise CrystalError(f"site {k}: {sp} is not an element", source=source or None)
            numbers.append(int(z))
            frac.append(site.frac_coords)
            occ.append(float(amount))
            u = np.asarray(props["U_cart"][k], float) if has_u else np.full((3, 3), np.nan)
            U.append(u)
            labels.append(str(props.get("label", [None] * len(structure))[k] or f"{sp.symbol}{k + 1}"))
            types.append(
                str(props["adp_type"][k]) if "adp_type" in props else ("Uani" if np.isfinite(u).all() else "")
            )
    meta = dict(getattr(structure, "properties", None) or {})
    crystal = Crystal(
        lattice=structure.lattice.matrix,
        numbers=numbers,
        frac=np.mod(np.array(frac, float).reshape(-1, 3), 1.0),
        occupancy=occ,
        U_cart=np.array(U).reshape(-1, 3, 3),
        adp_type=types,
        labels=labels,
        temperature=temperature if temperature is not None else meta.get("temperature"),
        r1=meta.get("r1"),
        source=source or str(meta.get("source") or "pymatgen"),
        space_group=str(meta.get("space_group") or ""),
    )
    return _finish(crystal, mixed=mixed)


def to_ase(crystal: Crystal):
    """An ASE ``Atoms`` (periodic) with arrays ``U_cart`` and ``occupancy``."""
    from ase import Atoms

    atoms = Atoms(numbers=crystal.numbers, scaled_positions=crystal.frac, cell=crystal.lattice, pbc=True)
    atoms.set_array("U_cart", crystal.U_cart.copy())
    atoms.set_array("occupancy", crystal.occupancy.copy())
    atoms.info.update(
        {
            "temperature": crystal.temperature,
            "r1": crystal.r1,
            "source": crystal.source,
            "space_group": crystal.space_group,
        }
    )
    return atoms


def from_ase(atoms, temperature: float | None = None, source: str = "") -> Crystal:
    """A :class:`Crystal` from a periodic ASE ``Atoms``.

    Raises:
        CrystalError: if the object is not periodic in all three directions.
    """
    if not np.all(atoms.pbc):
        raise CrystalError("ASE Atoms must be periodic in all three directions", source=source or None)
    try:
        check_cell(np.array(atoms.cell))
    except CrystalError as exc:
        raise exc.located(source or None) from None
    n = len(atoms)
    U = atoms.arrays.get("U_cart")
    occ = atoms.arrays.get("occupancy")
    info = atoms.info
    crystal = Crystal(
        lattice=np.array(atoms.cell),
        numbers=atoms.numbers,
        frac=np.mod(atoms.get_scaled_positions(wrap=False), 1.0),
        occupancy=None if occ is None else np.asarray(occ, float),
        U_cart=None if U is None else np.asarray(U, float).reshape(n, 3, 3),
        temperature=temperature if temperature is not None else info.get("temperature"),
        r1=info.get("r1"),
        source=source or str(info.get("source") or "ase"),
        space_group=str(info.get("space_group") or ""),
    )
    return _finish(crystal)


def _finish(crystal: Crystal, mixed: bool = False) -> Crystal:
    flags = set(adp_flags(crystal))
    if (crystal.occupancy < 1.0 - 1e-3).any() or mixed:
        flags.add(Flag.PARTIAL_OCCUPANCY)
    if crystal.temperature is None:
        flags.add(Flag.NO_TEMPERATURE)
    crystal.flags = frozenset(flags)
    check_crystal(crystal)
    return crystal


# ------------------------------------------------------------------ anything → Crystal (tables, datasets)
def looks_like_cif(text: str) -> bool:
    """Whether a string is CIF text rather than a file name (several lines, a data block or a cell)."""
    return "\n" in text and ("data_" in text or "_cell_length" in text)


def is_pymatgen_dict(d: dict) -> bool:
    """Whether a dict is a pymatgen ``Structure.as_dict()``."""
    return "lattice" in d and "sites" in d


def is_jarvis_atoms(d: dict) -> bool:
    """Whether a dict is a JARVIS ``atoms`` record (``lattice_mat``, ``coords``, ``elements``)."""
    return "lattice_mat" in d and "coords" in d and "elements" in d


def jarvis_atoms_to_crystal(atoms: dict, source: str = "") -> Crystal:
    """A :class:`Crystal` from a JARVIS ``atoms`` dict (``lattice_mat`` rows in Å).

    The cell and the crystal meet the same bounds as CIF, pymatgen and ASE inputs
    (:func:`~xtalkit.crystal.validate.check_cell`, :func:`~xtalkit.crystal.validate.check_crystal`).

    Args:
        atoms: ``{"lattice_mat": (3, 3) Å, "coords": (n, 3), "elements": (n,) symbols,
            "cartesian": bool}`` (coordinates in Å when ``cartesian``, else fractional).
        source: provenance for messages (default ``"jarvis"``).

    Raises:
        CrystalError: for inconsistent or unknown entries, or a cell or crystal outside the bounds.
    """
    from xtalkit.elements import atomic_number

    try:
        lattice = np.asarray(atoms["lattice_mat"], dtype=float).reshape(3, 3)
        coords = np.asarray(atoms["coords"], dtype=float).reshape(-1, 3)
        numbers = [atomic_number(str(e)) for e in atoms["elements"]]
        if len(numbers) != len(coords):
            raise ValueError(f"{len(numbers)} elements for {len(coords)} coordinates")
    except (KeyError, TypeError, ValueError) as exc:
        raise CrystalError(f"bad JARVIS atoms: {exc}", source=source or None) from None
    try:
        check_cell(lattice)  # before inverting it: finite, not degenerate, within bounds
        frac = coords @ np.linalg.inv(lattice) if atoms.get("cartesian", False) else coords
        crystal = Crystal(lattice=lattice, numbers=numbers, frac=np.mod(frac, 1.0), source=source or "jarvis")
        check_crystal(crystal)
    except CrystalError as exc:
        raise exc.located(source or None) from None
    return crystal


def structure_to_crystal(source) -> Crystal:
    """A :class:`Crystal` from any structure source.

    Sources: a :class:`Crystal`, a pymatgen ``Structure``, an ASE ``Atoms``, CIF text, a CIF
    path, a pymatgen ``Structure.as_dict()`` or a JARVIS ``atoms`` dict (property tables).

    Raises:
        CrystalError: one line saying what could not be read.
    """
    if isinstance(source, Crystal):
        return source
    if isinstance(source, Path):
        from xtalkit.crystal.cif import read_crystal

        return read_crystal(source)
    if isinstance(source, str):
        from xtalkit.crystal.cif import read_crystal

        if looks_like_cif(source):
            return read_crystal(source, text=True)
        return read_crystal(Path(source))
    if isinstance(source, dict):
        if is_jarvis_atoms(source):
            return jarvis_atoms_to_crystal(source)
        if is_pymatgen_dict(source):
            try:
                from pymatgen.core import Structure

                structure = Structure.from_dict(source)
            except Exception as exc:
                raise CrystalError(f"bad pymatgen structure dict: {type(exc).__name__}: {exc}") from None
            return Crystal.from_pymatgen(structure)
        raise CrystalError("dict is neither a JARVIS atoms dict nor a pymatgen structure dict")
    if hasattr(source, "lattice") and hasattr(source, "sites"):
        return Crystal.from_pymatgen(source)
    if hasattr(source, "get_scaled_positions") and hasattr(source, "cell"):
        return Crystal.from_ase(source)
    raise CrystalError(f"cannot read a structure from a {type(source).__name__}")


def structure_digest(source) -> str:
    r"""SHA-256 (hex) of a structure source's content, prefixed by its kind.

    * CIF text: ``sha256(b"cif\\0" + text.encode("utf-8"))``;
    * CIF file: the same over the file's bytes (a copy of a file shares its key);
    * dicts: ``sha256(b"json\\0" + json.dumps(d, sort_keys=True, separators=(",", ":")))``;
    * a :class:`Crystal` (or pymatgen/ASE object, converted first): ``b"crystal\\0"`` + the
      float64 bytes of lattice, fractional coordinates, occupancies and int64 atomic numbers.
    """
    h = hashlib.sha256()
    if isinstance(source, Path) or (isinstance(source, str) and not looks_like_cif(source)):
        p = Path(source)
        try:
            data = p.read_bytes()
        except OSError:
            raise CrystalError("no such file", source=str(p)) from None
        h.update(b"cif\0")
        h.update(data)
    elif isinstance(source, str):
        h.update(b"cif\0")
        h.update(source.encode("utf-8"))
    elif isinstance(source, dict):
        h.update(b"json\0")
        h.update(json.dumps(source, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8"))
    else:
        c = structure_to_crystal(source)
        h.update(b"crystal\0")
        for arr in (c.lattice, c.frac, c.occupancy):
            h.update(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
        h.update(np.ascontiguousarray(c.numbers, dtype=np.int64).tobytes())
    return h.hexdigest()
