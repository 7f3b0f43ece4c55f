"""Scoring a written prediction against the true structure (AlphaCrystal-II §2.5).

:func:`evaluate_prediction` reads a formula directory of ``xtalkit csp predict``
(:mod:`xtalkit.csp.pipeline`) and compares its ranked CIFs with a known
structure; :func:`find_prediction` locates that directory.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from xtalkit.csp.outputs import plain_structure, read_structure
from xtalkit.errors import CrystalError, XtalkitError


def find_prediction(pred_dir: str | os.PathLike) -> Path:
    """The formula directory of a prediction: ``pred_dir`` itself, or its only sub-directory with a summary.

    Raises:
        XtalkitError: no ``summary.json`` there, or several formula directories.
    """
    p = Path(pred_dir)
    if (p / "summary.json").is_file():
        return p
    subs = sorted(q.parent for q in p.glob("*/summary.json"))
    if len(subs) == 1:
        return subs[0]
    if not p.is_dir():
        raise XtalkitError(f"{p}: no such directory")
    if not subs:
        raise XtalkitError(f"{p}: no summary.json (not a `xtalkit csp predict` output)")
    raise XtalkitError(f"{p}: {len(subs)} formula directories; name one of them")


def evaluate_prediction(
    pred_dir: str | os.PathLike, true_structure, *, top: int | None = None, energy: bool = True
) -> dict:
    """Compare the written top-K of a prediction with the true structure (preprint §2.5).

    Per candidate (rank order): StructureMatcher match and RMS
    (:data:`~xtalkit.csp.metrics.MATCH_TOLERANCES`), energy distance (CHGNet energy
    per atom of the candidate and of the true structure, both as they are,
    eV/atom), Wyckoff RMSE (eq. 3, defined when they match), 8 Å distance-map
    overlap (eq. 4) and superpose distance (Å). The last two compare cells with
    the same number of atoms: the true structure's conventional cell in
    pyxtal's setting (:func:`~xtalkit.csp.reconstruct.standard_setting`), or
    its cell as given when that has the candidate's size; None otherwise.

    Args:
        pred_dir: a formula directory of ``xtalkit csp predict`` (or a root holding one).
        true_structure: pymatgen Structure, xtalkit Crystal or a CIF path.
        top: evaluate only the first ``top`` ranks.
        energy: compute energy distances (CHGNet; a model load and one call per structure).

    Returns:
        ``{"formula", "true_formula", "n", "candidates": [...], "match_rank", "best_rms",
        "best_superpose", "best_energy_distance"}``.

    Raises:
        XtalkitError: unreadable prediction or CIF, or different compositions.
    """
    from xtalkit.csp.encoding import _as_structure, distance_target
    from xtalkit.csp.metrics import (
        distance_map_overlap,
        energy_distance,
        structure_match,
        structure_rms,
        superpose_distance,
        wyckoff_rmse,
    )
    from xtalkit.csp.reconstruct import standard_setting

    d = find_prediction(pred_dir)
    try:
        summary = json.loads((d / "summary.json").read_text())
    except (OSError, ValueError) as exc:
        raise XtalkitError(f"{d}/summary.json: unreadable ({type(exc).__name__})") from None
    if isinstance(true_structure, str | os.PathLike):
        from xtalkit.crystal.cif import read_crystal

        true = read_crystal(Path(true_structure)).to_pymatgen()
    else:
        true = _as_structure(true_structure)
    true = plain_structure(true)
    entries = summary.get("top", [])[: top if top else None]
    cands = []
    for e in entries:
        path = d / e["file"]
        try:
            cands.append(read_structure(path))
        except CrystalError as exc:  # the reader's own reason, e.g. "cell is too thin: ..."
            raise exc.located(str(path)) from None
        except OSError as exc:
            raise XtalkitError(f"{path}: unreadable ({exc.strerror or type(exc).__name__})") from None
    if cands and cands[0].composition.reduced_composition != true.composition.reduced_composition:
        raise XtalkitError(
            f"the prediction is {cands[0].composition.reduced_formula}, the true structure "
            f"{true.composition.reduced_formula}"
        )
    try:
        conv, _ = standard_setting(true, max_atoms=10**6)
    except XtalkitError:
        conv = true

    def same_cell(c):
        for ref in (conv, true):
            if sorted(s.specie.Z for s in ref) == sorted(s.specie.Z for s in c):
                return ref
        return None

    def safe(fn, *args):
        try:
            return float(fn(*args))
        except XtalkitError:
            return None

    rows = []
    for e, c in zip(entries, cands, strict=True):
        match = structure_match(c, true)
        ref = same_cell(c)
        overlap = None
        if ref is not None and len(c) <= 12:
            tc, tt = distance_target(c), distance_target(ref)
            overlap = safe(distance_map_overlap, tc.distances, tt.distances, tt.pair_mask)
        rows.append(
            {
                "rank": e["rank"],
                "file": e["file"],
                "energy_per_atom": e.get("energy_per_atom"),
                "match": match,
                "rms": safe(structure_rms, c, true) if match else None,
                "energy_distance": safe(energy_distance, c, true) if energy else None,
                "wyckoff_rmse": safe(wyckoff_rmse, c, true) if match else None,
                "distance_map_overlap": overlap,
                "superpose_distance": safe(superpose_distance, c, ref) if ref is not None else None,
            }
        )

    def best(key):
        vals = [r[key] for r in rows if r[key] is not None]
        return min(vals) if vals else None

    match_rank = next((r["rank"] for r in rows if r["match"]), None)
    return {
        "directory": str(d),
        "formula": summary.get("formula"),
        "method": summary.get("method"),
        "true_formula": true.composition.formula.replace(" ", ""),
        "n": len(rows),
        "candidates": rows,
        "match_rank": match_rank,
        "best_rms": best("rms"),
        "best_superpose": best("superpose_distance"),
        "best_energy_distance": best("energy_distance"),
    }
