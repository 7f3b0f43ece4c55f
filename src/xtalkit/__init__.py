"""xtalkit: learning from crystal structures.

Thermal ellipsoids (CartNet), crystal properties (Site-Net) and crystal structure
prediction (AlphaCrystal-II), on one data path:
CIF / pymatgen / ASE → :class:`Crystal` → graphs, supercells, matrices → models.
"""

from xtalkit.crystal import Crystal, Flag, read_cif, read_crystal, write_cif
from xtalkit.errors import CifError, CrystalError, XtalkitError

__version__ = "0.1.0"

__all__ = [
    "CifError",
    "Crystal",
    "CrystalError",
    "Flag",
    "XtalkitError",
    "__version__",
    "read_cif",
    "read_crystal",
    "write_cif",
]
