"""Quality filters for experimental ADP data (CartNet paper §3).

Each filter looks at one :class:`~xtalkit.crystal.core.Crystal` and either
passes it or names the reason it is excluded. They run in the order of
:data:`FILTER_ORDER`; a structure is counted against the first filter it
fails, so the report says how many structures each filter removed.

The paper's criteria and how they are read here:

* all non-H atoms anisotropic; occupancy 1 for all atoms; no disorder;
  R1 < 5 % where the file gives R1 — as written;
* "structures containing any non-hydrogen atom with negative or zero
  eigenvalues were excluded" — as written (non-H atoms only);
* eigenvalue ratio: the text says "ellipsoids with eigenvalue ratios
  λmax/λmin < 8 were excluded to avoid poorly defined or flat ellipsoids". A
  ratio below 8 describes ordinary, nearly spherical ellipsoids, so read
  literally the rule would keep only flat ones, the opposite of its stated
  aim. We exclude structures with any non-H ellipsoid whose ratio is **above**
  ``max_eigenvalue_ratio`` (default 8), which is what the stated aim needs;
* ellipsoid volume ``(4/3)π sqrt(det U)`` > 1.25 Å³ excluded;
  Vol/Vol_cov > 0.35 excluded; Vol/Vol_cov < 1e-4 at temperatures above
  150 K excluded, with ``Vol_cov = (4/3)π r_cov³`` from the covalent radii of
  Cordero et al. (2008), the table the paper cites;
* a reliable temperature is required. Sources that record none (AMCSD) may be
  given an assumed temperature, which flags the structure
  ``assumed_temperature``;
* non-standard pressure excluded (the paper drops CSD entries at pressure):
  ``_diffrn_ambient_pressure`` above 1,000 kPa, or a title that states a
  pressure of at least 0.1 GPa or speaks of compression (AMCSD holds many
  high-pressure studies and records the pressure only in the title).

Two more filters guard the model rather than the physics: structures whose
sites overlap (``close_contacts``: duplicated or mis-expanded atoms) and cells
with more than ``max_atoms`` atoms are excluded.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from xtalkit.crystal.core import Crystal, Flag
from xtalkit.elements import covalent_radius

FILTER_ORDER = (
    "temperature",
    "pressure",
    "max_atoms",
    "close_contacts",
    "all_anisotropic",
    "occupancy",
    "disorder",
    "r1",
    "positive_definite",
    "eigenvalue_ratio",
    "volume",
    "vol_cov_max",
    "vol_cov_min_hot",
)


@dataclasses.dataclass(frozen=True)
class ADPFilterConfig:
    """Thresholds of the ADP filters; any filter can be switched off by name.

    Attributes:
        max_r1: R1 (fraction) at or above which a structure is excluded, when given.
        max_eigenvalue_ratio: λmax/λmin above which an ellipsoid is "flat".
        max_volume: largest allowed ellipsoid volume, Å³.
        max_vol_cov: largest allowed Vol/Vol_cov.
        min_vol_cov_hot: smallest allowed Vol/Vol_cov above ``hot_temperature``.
        hot_temperature: K.
        max_pressure_kpa: largest ``_diffrn_ambient_pressure``, kPa.
        max_atoms: largest number of atoms in the cell.
        assumed_temperature: K given to structures without a temperature, or None
            to exclude them.
        disabled: names of filters (see :data:`FILTER_ORDER`) not applied.
    """

    max_r1: float = 0.05
    max_eigenvalue_ratio: float = 8.0
    max_volume: float = 1.25
    max_vol_cov: float = 0.35
    min_vol_cov_hot: float = 1e-4
    hot_temperature: float = 150.0
    max_pressure_kpa: float = 1000.0
    max_atoms: int = 2000
    assumed_temperature: float | None = None
    disabled: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = set(self.disabled) - set(FILTER_ORDER)
        if unknown:
            raise ValueError(f"unknown filters {sorted(unknown)}; known: {', '.join(FILTER_ORDER)}")

    def as_dict(self) -> dict:
        """Plain-data form (for manifests)."""
        d = dataclasses.asdict(self)
        d["disabled"] = list(self.disabled)
        return d


_PRESSURE_NUMBER = re.compile(r"(\d+(?:\.\d+)?)\s*(GPa|kbar)\b", re.IGNORECASE)
_PRESSURE_WORDS = re.compile(
    r"\b(?:under (?:high )?pressure|in situ high[- ]pressure|compressibility|compression)\b",
    re.IGNORECASE,
)


def pressure_in_title(title: str) -> bool:
    """Whether a title says the structure was measured under pressure.

    True for a stated pressure of at least 0.1 GPa (1 kbar) or for wording such as
    "under pressure" or "compressibility". "High-pressure synthesis" or
    "high-pressure phase" alone do not count: such samples are often measured at
    ambient pressure.
    """
    for number, unit in _PRESSURE_NUMBER.findall(title or ""):
        gpa = float(number) * (0.1 if unit.lower() == "kbar" else 1.0)
        if gpa >= 0.1:
            return True
    return bool(_PRESSURE_WORDS.search(title or ""))


_TEMPERATURE_TITLE = re.compile(r"(-?\d{1,4}(?:\.\d+)?)\s*(?:°\s*|deg\s*)?(K|C)\b")


def temperature_from_title(title: str) -> float | None:
    """A temperature stated once in a publication title ("... at 100 K", "at 500 °C"), in K.

    Returns None when the title states no temperature or several different ones.
    """
    values = set()
    for number, unit in _TEMPERATURE_TITLE.findall(title or ""):
        t = float(number) + (273.15 if unit == "C" else 0.0)
        if 0 < t < 3000:
            values.add(round(t, 2))
    return values.pop() if len(values) == 1 else None


def apply_temperature_policy(crystal: Crystal, config: ADPFilterConfig) -> Crystal:
    """Give a crystal without a temperature one from its title or the assumed value (flagged)."""
    if crystal.temperature is not None:
        return crystal
    title = crystal.metadata.get("title", "")
    t = temperature_from_title(title)
    if t is not None:
        crystal.temperature = t
        crystal.metadata["temperature_from"] = "publication title"
        crystal.flags = crystal.flags - {Flag.NO_TEMPERATURE}
    elif config.assumed_temperature is not None:
        crystal.temperature = float(config.assumed_temperature)
        crystal.metadata["temperature_from"] = "assumed"
        crystal.flags = (crystal.flags - {Flag.NO_TEMPERATURE}) | {Flag.ASSUMED_TEMPERATURE}
    return crystal


def ellipsoid_volumes(U_cart: np.ndarray) -> np.ndarray:
    """``(4/3)π sqrt(det U)`` for a stack of tensors (NaN where det ≤ 0), Å³."""
    det = np.linalg.det(U_cart)
    with np.errstate(invalid="ignore"):
        return 4.0 / 3.0 * np.pi * np.sqrt(np.where(det > 0, det, np.nan))


def check(crystal: Crystal, config: ADPFilterConfig) -> str | None:
    """Name of the first filter the crystal fails, or None if it passes all of them."""
    active = [f for f in FILTER_ORDER if f not in config.disabled]
    heavy = ~crystal.is_hydrogen
    U = crystal.U_cart[heavy]
    aniso = crystal.adp_type[heavy] == "Uani"
    ev = None
    vol = vol_cov = None
    for name in active:
        if name == "temperature":
            if crystal.temperature is None:
                return name
        elif name == "pressure":
            p = crystal.metadata.get("pressure_kpa")
            if p is not None and float(p) > config.max_pressure_kpa:
                return name
            if pressure_in_title(crystal.metadata.get("title", "")):
                return name
        elif name == "max_atoms":
            if len(crystal) > config.max_atoms:
                return name
        elif name == "close_contacts":
            if Flag.CLOSE_CONTACTS in crystal.flags:
                return name
        elif name == "all_anisotropic":
            if not heavy.any() or not aniso.all():
                return name
        elif name == "occupancy":
            if np.abs(crystal.occupancy - 1.0).max() > 1e-3:
                return name
        elif name == "disorder":
            if Flag.DISORDER in crystal.flags:
                return name
        elif name == "r1":
            if crystal.r1 is not None and crystal.r1 >= config.max_r1:
                return name
        else:
            if not np.isfinite(U).all():
                return "all_anisotropic"
            if ev is None:
                ev = np.linalg.eigvalsh(U)
            if name == "positive_definite":
                if (ev[:, 0] <= 0).any():
                    return name
                continue
            if (ev[:, 0] <= 0).any():  # the ratio and volumes below need positive eigenvalues
                return "positive_definite"
            if name == "eigenvalue_ratio":
                if (ev[:, 2] / ev[:, 0] > config.max_eigenvalue_ratio).any():
                    return name
                continue
            if vol is None:
                vol = ellipsoid_volumes(U)
                vol_cov = vol / (4.0 / 3.0 * np.pi * covalent_radius(crystal.numbers[heavy]) ** 3)
            if name == "volume" and (vol > config.max_volume).any():
                return name
            if name == "vol_cov_max" and (vol_cov > config.max_vol_cov).any():
                return name
            if (
                name == "vol_cov_min_hot"
                and crystal.temperature is not None
                and crystal.temperature > config.hot_temperature
                and (vol_cov < config.min_vol_cov_hot).any()
            ):
                return name
    return None
