"""Steps 3-5 of the CSP pipeline (:mod:`xtalkit.csp.pipeline`).

Plan the space groups and cells, generate candidates (distance-matrix GA and
pyxtal), and screen them before relaxation.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from xtalkit.csp.config import METHODS, CandidateRecord, CSPConfig, formula_seed, split_quota
from xtalkit.csp.encoding import encode_composition
from xtalkit.errors import XtalkitError


# ------------------------------------------------------------------------------------ planning
def plan_space_groups(
    formula, lattice_model, config: CSPConfig, space_groups: Sequence[int] | None = None
) -> list[dict]:
    """Groups, their cells, lattices and candidate quotas for one formula.

    With several cells (a reduced formula, :mod:`xtalkit.csp.formulas`) every
    (group, cell) pair the lattice model proposes competes: pairs are ranked by
    the group's score, a group is used once, in the smallest cell that it can
    hold, and the ``n_space_groups`` best pairs are kept.

    Args:
        formula: cell formula (encoding order) or a sequence of cell formulas, smallest first.
        lattice_model: :class:`~xtalkit.csp.lattice.LatticeModel`.
        config: settings (``n_space_groups``, ``n_candidates``).
        space_groups: use these groups (in this order) instead of the predicted ones.

    Returns:
        ``[{"space_group", "symbol", "crystal_system", "score", "cell", "n_atoms", "lattice",
        "quota"}, ...]``.

    Raises:
        XtalkitError: a given group that can hold none of the cells.
    """
    from xtalkit.csp.data import crystal_system
    from xtalkit.csp.lattice import holds_composition, space_group_symbol

    cells = [encode_composition(f).formula for f in ([formula] if isinstance(formula, str) else formula)]
    counts = [np.unique(encode_composition(c).numbers, return_counts=True)[1].tolist() for c in cells]
    guesses = []
    if space_groups:
        for g in space_groups:
            fits = [c for c, n in zip(cells, counts, strict=True) if holds_composition(int(g), n)]
            if not fits:
                raise XtalkitError(
                    f"{cells[0]}: space group {g} ({space_group_symbol(int(g))}) has no combination of "
                    f"Wyckoff positions for these atoms in its conventional cell ({', '.join(cells)})"
                )
            guesses.append((int(g), space_group_symbol(int(g)), crystal_system(int(g)), None, fits[0]))
    else:
        pairs = [
            (-s.score, k, s.number, s.symbol, s.crystal_system, s.score, c)
            for k, c in enumerate(cells)
            for s in lattice_model.top_space_groups(c, config.n_space_groups)
        ]
        used: set[int] = set()
        for *_, g, sym, system, score, c in sorted(pairs, key=lambda p: p[:3]):
            if g not in used and len(guesses) < config.n_space_groups:
                used.add(g)
                guesses.append((g, sym, system, score, c))
    quotas = split_quota(config.n_candidates, len(guesses))
    return [
        {
            "space_group": g,
            "symbol": sym,
            "crystal_system": system,
            "score": score,
            "cell": c,
            "n_atoms": encode_composition(c).num_atoms,
            "lattice": [float(v) for v in lattice_model.lattice(c, g)],
            "quota": q,
        }
        for (g, sym, system, score, c), q in zip(guesses, quotas, strict=True)
    ]


# ------------------------------------------------------------------------------------ generation
def _ga_candidates(
    cell: str, group: dict, want: int, distances, mask, config: CSPConfig, start: int, deadline: float | None
):
    """Up to ``want`` GA candidates in one group (restarts until the quota or the deadline is met)."""
    from xtalkit.csp.reconstruct import reconstruct

    out = []
    restart = start
    while len(out) < want and restart < start + want:
        if out and deadline is not None and time.monotonic() >= deadline:
            break
        rng = np.random.default_rng(formula_seed(config.seed, cell, group["space_group"], restart))
        restart += 1
        cands = reconstruct(
            cell,
            group["space_group"],
            group["lattice"],
            distances,
            mask,
            population=config.population,
            generations=config.generations,
            max_templates=want - len(out),
            max_combinations=config.max_combinations,
            n_candidates=None,
            length_tolerance=config.length_tolerance,
            angle_tolerance=config.angle_tolerance,
            seed=rng,
            deadline=deadline,
        )
        if not cands:
            break
        for c in cands[: want - len(out)]:
            out.append((c.structure, tuple(c.wyckoffs), float(c.loss), float(c.distance_rmse), "ga"))
    return out, restart


def _random_candidates(cell: str, group: dict, want: int, config: CSPConfig, start: int, deadline):
    from xtalkit.csp.baseline import random_structures

    got, used = random_structures(
        cell,
        group["space_group"],
        group["lattice"],
        want,
        seed=config.seed,
        attempts_per_candidate=config.attempts_per_candidate,
        first_attempt=start,
        deadline=deadline,
    )
    return [(s, w, float("nan"), float("nan"), "pyxtal") for s, w in got], start + used


def generate_candidates(
    formula: str, plan: list[dict], config: CSPConfig, method: str, distances=None, mask=None, bar=None
) -> tuple[list[CandidateRecord], list[str]]:
    """Candidates of one formula over the planned groups (module docstring, step 4).

    ``alphacrystal`` fills each group's quota with GA reconstructions, except a
    ``pyxtal_share`` of it drawn as pyxtal random structures (also what the GA
    cannot build); ``random`` uses pyxtal only.

    Args:
        formula: cell formula of plan entries without a ``"cell"``.
        plan: :func:`plan_space_groups` output.
        config: settings.
        method: ``"alphacrystal"`` or ``"random"``.
        distances: predicted (12, 12) distances of ``formula``, or a mapping
            cell formula → ``(distances, mask)`` (alphacrystal).
        mask: (12,) atom mask of ``distances`` when it is an array.
        bar: optional tqdm bar, advanced by the candidates of each group.

    Returns:
        ``(candidates, notes)``; notes are one-line messages about groups that
        could not produce their quota.
    """
    if method not in METHODS:
        raise XtalkitError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    targets = (
        distances if isinstance(distances, dict) else {encode_composition(formula).formula: (distances, mask)}
    )
    records: list[CandidateRecord] = []
    notes: list[str] = []
    cursor = {(g["space_group"], src): 0 for g in plan for src in ("ga", "pyxtal")}
    produced = {g["space_group"]: 0 for g in plan}

    def draw(group: dict, cell: str, source: str, want: int, deadline) -> list:
        key = (group["space_group"], source)
        if source == "ga":
            d, m = targets[cell]
            got, cursor[key] = _ga_candidates(cell, group, want, d, m, config, cursor[key], deadline)
        else:
            got, cursor[key] = _random_candidates(cell, group, want, config, cursor[key], deadline)
        return got

    def run(group: dict, want: int) -> int:
        if want <= 0:
            return 0
        g = group["space_group"]
        cell = group.get("cell") or encode_composition(formula).formula
        t0 = time.monotonic()
        deadline = t0 + config.group_seconds if config.group_seconds > 0 else None
        n_pyxtal = want if method == "random" else round(config.pyxtal_share * want)
        got = []
        try:
            if n_pyxtal < want:
                got += draw(group, cell, "ga", want - n_pyxtal, deadline)
            if len(got) < want:
                got += draw(group, cell, "pyxtal", want - len(got), deadline)
        except XtalkitError as exc:
            notes.append(f"space group {g}: {exc}")
        if len(got) < want and deadline is not None and time.monotonic() >= deadline:
            notes.append(
                f"space group {g}: time limit ({config.group_seconds:g} s) reached after "
                f"{time.monotonic() - t0:.0f} s with {len(got)} of {want} candidates"
            )
        for s, w, loss, rmse, source in got:
            records.append(
                CandidateRecord(
                    len(records), g, w, s, ga_loss=loss, distance_rmse=rmse, cell=cell, source=source
                )
            )
        produced[g] += len(got)
        if bar is not None:
            bar.update(len(got))
        return len(got)

    carry = 0
    for group in plan:
        want = group["quota"] + carry
        carry = want - run(group, want)
    for group in plan:  # a deficit goes to the groups that could produce
        if carry <= 0:
            break
        if produced[group["space_group"]] > 0:
            carry -= run(group, carry)
    if carry > 0:
        notes.append(f"{carry} of {sum(g['quota'] for g in plan)} candidates could not be generated")
    return records, notes


# ------------------------------------------------------------------------------------ screening
def distance_scores(records: list[CandidateRecord], distances: dict) -> np.ndarray:
    """(n,) §2.4 loss (Å²) of each candidate against its cell's predicted matrix (GA: its own loss).

    Args:
        records: candidates.
        distances: mapping cell formula → ``(distances, mask)``.
    """
    from xtalkit.csp.screen import distance_loss

    return np.array(
        [r.ga_loss if r.source == "ga" else distance_loss(r.structure, *distances[r.cell]) for r in records]
    )


def screen_candidates(
    records: list[CandidateRecord], config: CSPConfig, distances=None, formula: str = ""
) -> None:
    """Keep the ``n_relax`` best distinct candidates for relaxation (:mod:`xtalkit.csp.screen`).

    Sets ``screen_score`` on every candidate; the others get the status
    ``"duplicate"`` (``duplicate_of`` names the kept look-alike) or
    ``"screened out"`` and are not relaxed. ``n_relax = 0`` leaves every candidate
    pending (no screening).

    Args:
        records: candidates, status ``"pending"``.
        config: settings (``n_relax``, ``screen``, ``seed``).
        distances: mapping cell formula → ``(distances, mask)`` (``screen="distance"``).
        formula: formula name, seeds the ``"random"`` order.

    Raises:
        XtalkitError: ``screen="distance"`` without predicted distances.
    """
    from xtalkit.csp.screen import screen

    if config.n_relax <= 0 or not records:
        return
    if config.screen == "distance":
        if distances is None:
            raise XtalkitError(
                "screening by distance needs the predicted distance matrix (method alphacrystal)"
            )
        scores = distance_scores(records, distances)
    else:
        rng = np.random.default_rng(formula_seed(config.seed, formula, len(records)))
        scores = rng.permutation(len(records)).astype(float)
    kept, representative = screen([r.structure for r in records], scores, config.n_relax)
    keep = set(kept.tolist())
    for r, score, rep in zip(records, scores, representative, strict=True):
        r.screen_score = float(score)
        if r.index in keep:
            continue
        if rep != r.index:
            r.status, r.duplicate_of = "duplicate", int(rep)
        else:
            r.status = "screened out"
