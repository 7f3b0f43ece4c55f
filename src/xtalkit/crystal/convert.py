"""Converters between :class:`Crystal` and pymatgen ``Structure`` / ASE ``Atoms``.

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
