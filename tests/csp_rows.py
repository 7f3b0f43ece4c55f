"""Small crystals in the columns of mp.csv.gz, for the tests of csp/ and training/distmat."""

from pymatgen.core import Lattice, Structure

A_NACL = 5.64


def _sg(symbol, lattice, species, coords, primitive=False) -> Structure:
    s = Structure.from_spacegroup(symbol, lattice, species, coords)
    return s.get_primitive_structure() if primitive else s


def rocksalt(a, cation, anion):
    return _sg("Fm-3m", Lattice.cubic(a), [cation, anion], [[0, 0, 0], [0.5, 0.5, 0.5]], primitive=True)


def cscl_type(a, cation, anion):
    return _sg("Pm-3m", Lattice.cubic(a), [cation, anion], [[0, 0, 0], [0.5, 0.5, 0.5]])


def perovskite(a, A):
    return _sg("Pm-3m", Lattice.cubic(a), [A, "Ti", "O"], [[0, 0, 0], [0.5] * 3, [0.5, 0.5, 0]])


def rutile():
    return _sg("P4_2/mnm", Lattice.tetragonal(4.594, 2.959), ["Ti", "O"], [[0, 0, 0], [0.305, 0.305, 0]])


def heusler():
    """Cu2MnAl: 4 atoms in the primitive cell, 16 in the conventional one (no conventional target)."""
    return _sg("Fm-3m", Lattice.cubic(5.95), ["Cu", "Mn", "Al"], [[0.25] * 3, [0, 0, 0], [0.5] * 3], True)


def big_nacl():
    return _sg("Fm-3m", Lattice.cubic(A_NACL), ["Na", "Cl"], [[0, 0, 0], [0.5] * 3]) * (2, 1, 1)  # 16 atoms


# id, structure builder, formula_fold; folds 0-6 train, 7 validation, 8 test
ROWS = [
    ("t-nacl", lambda: rocksalt(A_NACL, "Na", "Cl"), 0),
    ("t-kcl", lambda: rocksalt(6.29, "K", "Cl"), 1),
    ("t-cscl", lambda: cscl_type(4.12, "Cs", "Cl"), 2),
    ("t-csbr", lambda: cscl_type(4.29, "Cs", "Br"), 3),
    ("t-tio2", rutile, 4),
    ("t-srtio3", lambda: perovskite(3.905, "Sr"), 5),
    ("t-heusler", heusler, 6),
    ("t-big", big_nacl, 0),
    ("t-cu", lambda: _sg("Fm-3m", Lattice.cubic(3.61), ["Cu"], [[0, 0, 0]], True), 0),
    ("t-mgo", lambda: rocksalt(4.21, "Mg", "O"), 7),
    ("t-csi", lambda: cscl_type(4.57, "Cs", "I"), 7),
    ("t-lif", lambda: rocksalt(4.03, "Li", "F"), 8),
    ("t-batio3", lambda: perovskite(4.0, "Ba"), 8),
]
