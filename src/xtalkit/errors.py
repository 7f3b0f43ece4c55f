"""Exceptions raised by xtalkit.

Every error that reaches a user is one line: where (file, data block) and what
is wrong. Library internals (gemmi, numpy, pymatgen) never leak a traceback to
the command line; they are wrapped in one of these classes.
"""

from __future__ import annotations


class XtalkitError(Exception):
    """Base class of all errors raised on purpose by xtalkit."""


class CrystalError(XtalkitError):
    """A crystal structure cannot be read or is not usable.

    Args:
        problem: What is wrong, in one line.
        source: File (or other origin) of the structure, if known.
        block: CIF data block name, if known.

    The string form is ``"<source> [block <block>]: <problem>"`` with the
    missing parts left out.
    """

    def __init__(self, problem: str, source: str | None = None, block: str | None = None):
        self.problem = " ".join(str(problem).split())
        self.source = source
        self.block = block
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = []
        if self.source:
            where.append(str(self.source))
        if self.block:
            where.append(f"[block {self.block}]")
        return f"{' '.join(where)}: {self.problem}" if where else self.problem

    def located(self, source: str | None = None, block: str | None = None) -> CrystalError:
        """Return a copy of this error with the source and block filled in where missing."""
        return type(self)(self.problem, source=self.source or source, block=self.block or block)


class CifError(CrystalError):
    """A CIF file or data block is malformed or lacks what a crystal needs."""
