"""Crystal structures: the :class:`Crystal` record, CIF I/O, ADP conventions, converters."""

from xtalkit.crystal.cif import iter_cif, read_cif, read_crystal, to_cif_string, write_cif
from xtalkit.crystal.core import Crystal, Flag

__all__ = ["Crystal", "Flag", "iter_cif", "read_cif", "read_crystal", "to_cif_string", "write_cif"]
