"""The files of a CSP prediction: ranked CIFs, ``candidates.csv`` and the ``summary.csv`` of a run.

Used by :mod:`xtalkit.csp.pipeline`, which writes every file atomically.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path

import numpy as np

from xtalkit.io import atomic_write


def cif_text(structure, comment: str, name: str = "xtalkit_csp") -> str:
    """P1 CIF text of a pymatgen Structure with ``# comment`` lines first.

    Written by xtalkit's own writer (:func:`xtalkit.crystal.cif.to_cif_string`), the
    same that every other output goes through; :func:`read_structure` reads it back.
    """
    from xtalkit.crystal.cif import to_cif_string
    from xtalkit.crystal.core import Crystal

    crystal = Crystal.from_pymatgen(structure).replace(block=name, source="")
    return to_cif_string(crystal, comment=comment)


def plain_structure(structure):
    """The same pymatgen Structure with species and positions only (no site properties, no metadata).

    Args:
        structure: a pymatgen ``Structure`` (lattice in Å, fractional coordinates).
    """
    from pymatgen.core import Structure

    return Structure(structure.lattice, [site.species for site in structure], structure.frac_coords)


def read_structure(path: str | os.PathLike):
    """A written candidate back as a pymatgen Structure (species and positions only).

    Raises:
        CrystalError: the file cannot be read (with the reader's one-line reason).
        OSError: the file cannot be opened.
    """
    from xtalkit.crystal.cif import read_crystal

    return plain_structure(read_crystal(path).to_pymatgen())


def fmt(x: float, digits: int = 6) -> str:
    """A number with ``digits`` decimals, or "" for None and non-finite values."""
    return "" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def candidates_csv(records: list) -> str:
    """``candidates.csv`` text: one row per :class:`~xtalkit.csp.pipeline.CandidateRecord`."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        ["index", "rank", "cell", "space_group", "source", "wyckoffs", "ga_loss_A2", "distance_rmse_A",
         "screen_score", "energy_eV_per_atom", "relaxed_space_group", "volume_A3", "status", "duplicate_of"]
    )  # fmt: skip
    for r in records:
        vol = r.relaxed.volume if r.relaxed is not None else float("nan")
        w.writerow(
            [
                r.index,
                r.rank or "",
                r.cell,
                r.space_group,
                r.source,
                " ".join(w_.replace(" ", ":") for w_ in r.wyckoffs),
                fmt(r.ga_loss),
                fmt(r.distance_rmse),
                fmt(r.screen_score),
                fmt(r.energy),
                r.relaxed_space_group or "",
                fmt(vol, 4),
                r.status,
                r.duplicate_of if r.duplicate_of >= 0 else "",
            ]
        )
    return buf.getvalue()


def json_default(x):
    """``json.dumps`` fallback for numpy scalars."""
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(f"{type(x).__name__} is not JSON serializable")


def write_summary_table(out_dir: str | os.PathLike) -> Path | None:
    """``OUT/summary.csv``: one row per formula directory with a ``summary.json`` (None if there is none)."""
    root = Path(out_dir)
    rows = []
    for p in sorted(root.glob("*/summary.json")):
        try:
            s = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        best = s.get("top", [{}])[0] if s.get("top") else {}
        rows.append(
            [
                s.get("formula"),
                s.get("method"),
                s.get("n_atoms"),
                s.get("charge_balanced"),
                s.get("n_generated"),
                s.get("n_failed"),
                len(s.get("top", [])),
                fmt(best.get("energy_per_atom", float("nan"))),
                f"{p.parent.name}/{best['file']}" if best.get("file") else "",
                fmt(s.get("seconds", {}).get("total", float("nan")), 1),
            ]
        )
    if not rows:
        return None
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        [
            "formula",
            "method",
            "n_atoms",
            "charge_balanced",
            "n_candidates",
            "n_failed",
            "n_written",
            "best_energy_eV_per_atom",
            "best_file",
            "seconds",
        ]
    )
    w.writerows(rows)
    return atomic_write(root / "summary.csv", buf.getvalue())
