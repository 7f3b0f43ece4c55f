"""Synthetic binaries for the property tests: structures, a target, and an mp-style table."""

import csv

import numpy as np
from pymatgen.core import Lattice, Structure

CATIONS = {"Li": -1.0, "Na": -0.6, "K": -0.3, "Mg": -1.4, "Ca": -1.2}
ANIONS = {"F": -2.0, "Cl": -1.1, "O": -1.6, "S": -0.7}
RADIUS = {"Li": 0.9, "Na": 1.2, "K": 1.5, "Mg": 0.9, "Ca": 1.1, "F": 1.2, "Cl": 1.7, "O": 1.3, "S": 1.7}


def binary_structure(kind: str, a_el: str, b_el: str) -> Structure:
    d = RADIUS[a_el] + RADIUS[b_el]
    if kind == "rocksalt":
        a = 2 * d
        lat = Lattice(np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]]) * a / 2)
        return Structure(lat, [a_el, b_el], [[0, 0, 0], [0.5, 0.5, 0.5]])
    if kind == "cscl":
        return Structure(Lattice.cubic(2 * d / np.sqrt(3)), [a_el, b_el], [[0, 0, 0], [0.5, 0.5, 0.5]])
    a = 4 * d / np.sqrt(3)  # zincblende
    lat = Lattice(np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]]) * a / 2)
    return Structure(lat, [a_el, b_el], [[0, 0, 0], [0.25, 0.25, 0.25]])


def binary_target(kind: str, a_el: str, b_el: str) -> float:
    """Synthetic formation energy (eV/atom): composition part plus a structure-type offset."""
    return 0.5 * (CATIONS[a_el] + ANIONS[b_el]) + {"rocksalt": 0.0, "cscl": 0.4, "zincblende": 0.8}[kind]


def write_csv(path, header, rows):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


BROKEN_CIF = "data_broken\n_cell_length_a 3.0\nloop_\n_atom_site_label\n_atom_site_fract_x\nNa1 0.0\n"
