"""Typed command-line options: every number is checked when the command line is parsed.

Each function is an argparse ``type=``: it converts the text or raises
``argparse.ArgumentTypeError`` with a one-line reason, which argparse prints
as ``xtalkit adp plot: error: argument --probability: ...`` with exit status 2.
Checks that involve two options (a range whose start is above its end, an
output whose suffix does not match ``--format``) and writable outputs are
done by :func:`check_range`, :func:`check_output` and :func:`check_suffix`,
called by ``main`` through the subcommand's ``check`` default before anything runs.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

#: Highest temperature accepted, K (above any solid's melting point).
MAX_TEMPERATURE = 5000.0


def _number(text: str, kind: type) -> float | int:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not {'an integer' if kind is int else 'a number'}"
        ) from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def finite_float(text: str) -> float:
    """Any finite number."""
    return float(_number(text, float))


def positive_float(text: str) -> float:
    """A number > 0."""
    v = finite_float(text)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return v


def nonnegative_float(text: str) -> float:
    """A number ≥ 0."""
    v = finite_float(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be zero or positive, got {text}")
    return v


def fraction(text: str) -> float:
    """A number in [0, 1]."""
    v = finite_float(text)
    if not 0 <= v <= 1:
        raise argparse.ArgumentTypeError(f"must lie in [0, 1], got {text}")
    return v


def probability(text: str) -> float:
    """A probability strictly between 0 and 1 (an ellipsoid's enclosed probability)."""
    v = finite_float(text)
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1, got {text}")
    return v


def kelvin(text: str) -> float:
    """A temperature in K, 0 < T ≤ :data:`MAX_TEMPERATURE`."""
    v = finite_float(text)
    if not 0 < v <= MAX_TEMPERATURE:
        raise argparse.ArgumentTypeError(f"a temperature must lie in (0, {MAX_TEMPERATURE:g}] K, got {text}")
    return v


def positive_int(text: str) -> int:
    """An integer ≥ 1."""
    v = int(_number(text, int))
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return v


def nonnegative_int(text: str) -> int:
    """An integer ≥ 0."""
    v = int(_number(text, int))
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be zero or positive, got {text}")
    return v


def space_group(text: str) -> int:
    """A space-group number 1-230."""
    v = int(_number(text, int))
    if not 1 <= v <= 230:
        raise argparse.ArgumentTypeError(f"space-group numbers run from 1 to 230, got {text}")
    return v


def check_range(low: float, high: float, names: str) -> None:
    """Raise ``ArgumentTypeError`` unless ``low ≤ high`` (``names`` like ``"--from/--to"``)."""
    if low > high:
        raise argparse.ArgumentTypeError(f"{names}: the start {low:g} is above the end {high:g}")


def check_output(path: str | os.PathLike | None, *, directory: bool | None = None) -> None:
    """Raise ``ArgumentTypeError`` unless ``path`` can be written (or created as a directory).

    The nearest existing ancestor must be a writable directory; an existing
    ``path`` must be a file when ``directory`` is False and a directory when True.
    """
    if path is None:
        return
    p = Path(path)
    if p.exists():
        if directory is True and not p.is_dir():
            raise argparse.ArgumentTypeError(f"-o {path}: exists and is not a directory")
        if directory is False and p.is_dir():
            raise argparse.ArgumentTypeError(f"-o {path}: is a directory, not a file")
        target = p if p.is_dir() else p.parent
    else:
        target = p.parent
        while not target.exists() and target != target.parent:
            target = target.parent
        if target.exists() and not target.is_dir():
            raise argparse.ArgumentTypeError(f"-o {path}: {target} is a file, not a directory")
    if not os.access(target, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"-o {path}: {target} is not writable")


def check_suffix(path: str | os.PathLike | None, allowed: tuple[str, ...], what: str) -> None:
    """Raise ``ArgumentTypeError`` if ``path`` has a suffix that is not in ``allowed``."""
    if path is None:
        return
    suffix = Path(path).suffix.lower()
    if suffix and suffix not in allowed:
        raise argparse.ArgumentTypeError(f"-o {path}: {what} needs one of {', '.join(allowed)}, not {suffix}")
