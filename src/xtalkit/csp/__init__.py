"""AlphaCrystal-II: crystal structure prediction from a predicted distance matrix.

* :mod:`xtalkit.csp.encoding` — 12 × 11 composition feature matrix (§2.2),
  distance-matrix targets and their discretization (eq. 5), charge check;
* :mod:`xtalkit.models.distmat` — the residual network (§2.3, Fig. 2, eq. 1);
* :mod:`xtalkit.csp.reconstruct` — Wyckoff-constrained genetic-algorithm
  reconstruction (§2.4) and CHGNet relaxation;
* :mod:`xtalkit.csp.metrics` — distance-matrix MSE/RMSE, distance-map overlap
  (eq. 4), Wyckoff MSE/RMSE (eqs. 2-3), StructureMatcher match and RMS, energy
  and superpose distances.
"""

from xtalkit.csp.encoding import (
    MAX_ATOMS,
    NUM_FEATURES,
    ChargeBalance,
    CompositionEncoding,
    DistanceBins,
    DistanceTarget,
    check_charge_balance,
    distance_target,
    encode_composition,
    pair_mask,
    parse_formula,
    predict_distances,
    stack_targets,
)
from xtalkit.csp.metrics import (
    distance_map_overlap,
    distance_matrix_mse,
    distance_matrix_rmse,
    energy_distance,
    structure_match,
    structure_rms,
    superpose_distance,
    wyckoff_mse,
    wyckoff_rmse,
)
from xtalkit.csp.reconstruct import Candidate, predict_energy, reconstruct, relax, standard_setting

__all__ = [
    "MAX_ATOMS",
    "NUM_FEATURES",
    "Candidate",
    "ChargeBalance",
    "CompositionEncoding",
    "DistanceBins",
    "DistanceTarget",
    "check_charge_balance",
    "distance_map_overlap",
    "distance_matrix_mse",
    "distance_matrix_rmse",
    "distance_target",
    "encode_composition",
    "energy_distance",
    "pair_mask",
    "parse_formula",
    "predict_distances",
    "predict_energy",
    "reconstruct",
    "relax",
    "stack_targets",
    "standard_setting",
    "structure_match",
    "structure_rms",
    "superpose_distance",
    "wyckoff_mse",
    "wyckoff_rmse",
]
