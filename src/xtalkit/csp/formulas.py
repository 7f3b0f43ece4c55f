"""Formulas as users write them: a reduced formula or the contents of one cell.

AlphaCrystal-II works on the contents of a conventional cell (at most
:data:`~xtalkit.csp.encoding.MAX_ATOMS` atoms). Users write either:

* a **reduced formula** (``LiGaSi``, ``SrTiO3``, ``NaCl``): the atom counts
  have no common divisor, so the number of formula units per cell Z is
  unknown; every cell ``Z × formula`` with at most 12 atoms is tried
  (``LiGaSi`` → ``LiGaSi``, ``Li2Ga2Si2``, ``Li3Ga3Si3``, ``Li4Ga4Si4``);
* **cell contents** (``Li2Ga2Si2``, ``Na4Cl4``): the counts share a divisor
  Z > 1, which fixes the cell.

:func:`cell_multiples` makes this choice; the pipeline
(:mod:`xtalkit.csp.pipeline`) ranks space groups over all the cells it returns.
"""

from __future__ import annotations

import dataclasses
import math

from xtalkit.csp.encoding import MAX_ATOMS, formula_string, parse_formula
from xtalkit.errors import XtalkitError


@dataclasses.dataclass(frozen=True)
class FormulaRequest:
    """What one formula as written asks for.

    Attributes:
        text: the formula as given.
        reduced: True when the counts have no common divisor (Z is searched).
        name: directory name: the formula in encoding order, reduced or as the cell given.
        cells: cell formulas tried, smallest first (one entry for cell contents).
    """

    text: str
    reduced: bool
    name: str
    cells: tuple[str, ...]


def cell_multiples(formula, max_atoms: int = MAX_ATOMS) -> FormulaRequest:
    """The cells to try for a formula (module docstring).

    Args:
        formula: a formula string, pymatgen ``Composition`` or mapping element → count.
        max_atoms: largest number of atoms per cell (paper: 12).

    Returns:
        The :class:`FormulaRequest`.

    Raises:
        XtalkitError: unreadable formula, unknown element, fractional amounts, or a
            formula unit with more than ``max_atoms`` atoms (one line each).
    """
    elements = parse_formula(formula, max_atoms)
    counts = [n for _, n in elements]
    numbers = [z for z, n in elements for _ in range(n)]
    divisor = math.gcd(*counts)
    if divisor > 1:
        name = formula_string(numbers)
        return FormulaRequest(str(formula), False, name, (name,))
    per_unit = sum(counts)
    cells = tuple(
        formula_string([z for z, n in elements for _ in range(n * k)])
        for k in range(1, max_atoms // per_unit + 1)
    )
    if not cells:  # parse_formula already refuses this; kept for a clear contract
        raise XtalkitError(f"formula {formula!r} has more than {max_atoms} atoms per formula unit")
    return FormulaRequest(str(formula), True, cells[0], cells)
