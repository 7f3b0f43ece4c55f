"""Shared fixtures: location of ../shared (beside the repository) and small helpers."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import property_data

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("XTALKIT_SHARED", REPO.parent / "shared"))
EXPERIMENTAL = SHARED / "data" / "adp" / "experimental"
MATERIALS = SHARED / "data" / "materials"


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Every test computes on one thread: on a busy 2-core machine, two threads per process
    oversubscribe the cores and training tests ran 10× slower (320 s instead of 34 s)."""
    import torch

    torch.set_num_threads(1)
    yield


def shared_or_skip(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared data not found at {path} (set XTALKIT_SHARED)")
    return path


@pytest.fixture(scope="session")
def experimental_cifs() -> list[Path]:
    root = shared_or_skip(EXPERIMENTAL)
    return sorted(root.glob("*/*.cif"))


@pytest.fixture(scope="session")
def mp_sample() -> list[tuple[str, str]]:
    """200 (material_id, CIF text) rows of mp.csv.gz.

    All 18 one-atom cells, 30 two-atom cells and a seeded sample of the rest.
    """
    import pandas as pd

    df = pd.read_csv(shared_or_skip(MATERIALS / "mp.csv.gz"), usecols=["material_id", "nsites", "cif"])
    tiny = pd.concat([df[df.nsites == 1], df[df.nsites == 2].sample(n=30, random_state=0)])
    rest = df[df.nsites > 2].sample(n=200 - len(tiny), random_state=0)
    rows = list(tiny.itertuples()) + list(rest.itertuples())
    return [(r.material_id, r.cif) for r in rows]


def random_spd(rng: np.random.Generator, n: int, scale: float = 0.02) -> np.ndarray:
    """n random symmetric positive-definite 3×3 tensors (Å²)."""
    A = rng.normal(size=(n, 3, 3)) * np.sqrt(scale)
    return A @ np.swapaxes(A, 1, 2) + 1e-3 * np.eye(3)


TRICLINIC = dict(a=5.1, b=6.3, c=7.7, alpha=78.0, beta=102.0, gamma=111.0)


def lattice_from_parameters(a, b, c, alpha, beta, gamma) -> np.ndarray:
    """Rows a, b, c with a along x and b in the xy plane (the CIF/gemmi convention)."""
    al, be, ga = np.radians([alpha, beta, gamma])
    va = [a, 0.0, 0.0]
    vb = [b * np.cos(ga), b * np.sin(ga), 0.0]
    cx = c * np.cos(be)
    cy = c * (np.cos(al) - np.cos(be) * np.cos(ga)) / np.sin(ga)
    vc = [cx, cy, np.sqrt(c * c - cx * cx - cy * cy)]
    return np.array([va, vb, vc])


def colour_fraction(png: Path, colour, tol: float = 0.03) -> float:
    """Fraction of a PNG's pixels within ``tol`` (per RGB channel, 0-1) of a matplotlib colour."""
    import matplotlib.image
    from matplotlib.colors import to_rgb

    img = matplotlib.image.imread(str(png))[..., :3]
    return float(np.mean(np.all(np.abs(img - np.array(to_rgb(colour))) < tol, axis=-1)))


# ------------------------------------------------- synthetic binaries (tests of data/, property/, training/)
@pytest.fixture(scope="session")
def binaries():
    """(ids, pymatgen structures, targets): 5 cations × 4 anions × 3 structure types = 60 binaries."""
    ids, structures, y = [], [], []
    for kind in ("rocksalt", "cscl", "zincblende"):
        for a_el in property_data.CATIONS:
            for b_el in property_data.ANIONS:
                ids.append(f"{kind}-{a_el}{b_el}")
                structures.append(property_data.binary_structure(kind, a_el, b_el))
                y.append(property_data.binary_target(kind, a_el, b_el))
    return ids, structures, np.array(y)


@pytest.fixture(scope="session")
def binaries_csv(binaries, tmp_path_factory):
    """mp-style CSV: material_id, cif, formation_energy_per_atom, band_gap, formula_fold + 4 bad rows."""
    ids, structures, y = binaries
    root = tmp_path_factory.mktemp("tables")
    rows = []
    for k, (i, s, t) in enumerate(zip(ids[:24], structures[:24], y[:24], strict=True)):
        rows.append([i, s.to(fmt="cif"), repr(float(t)), repr(abs(float(t))), k % 9])
    rows.append(["bad-nan", structures[0].to(fmt="cif"), "", "1.0", 0])  # row 24: missing target
    rows.append(["bad-text", structures[0].to(fmt="cif"), "abc", "1.0", 0])  # row 25: not a number
    rows.append(["bad-empty", "", "-1.0", "1.0", 0])  # row 26: no structure
    rows.append(
        ["bad-cif", property_data.BROKEN_CIF, "-1.0", "1.0", 0]
    )  # row 27: unreadable (found when featurizing)
    header = ["material_id", "cif", "formation_energy_per_atom", "band_gap", "formula_fold"]
    return property_data.write_csv(root / "mp_like.csv", header, rows)


@pytest.fixture(scope="session")
def cartnet_property_run(binaries_csv, tmp_path_factory):
    """A scalar CartNet trained for 20 epochs on the binaries' formation energies: (table, TrainResult)."""
    from xtalkit.data.property_cache import FeatureCache
    from xtalkit.data.tables import load_splits
    from xtalkit.training.property import make_config, train

    run = tmp_path_factory.mktemp("cartnet") / "run"
    t = load_splits(binaries_csv, "formation_energy_per_atom")
    cfg = make_config("cartnet", "cpu", dim=32, num_layers=2, epochs=20, batch_size=5, lr=5e-3, pct_start=0.2)
    result = train(cfg, t, run, cache=FeatureCache(run.parent / "cache"), progress=False)
    return t, result


# ------------------------------------------------- a tiny mp-like table (tests of csp/ and training/distmat)
@pytest.fixture(scope="session")
def csp_table(tmp_path_factory):
    """A tiny CSV with the columns of mp.csv.gz and P1 CIF strings."""
    import csv

    from pymatgen.io.cif import CifWriter

    import csp_rows

    path = tmp_path_factory.mktemp("table") / "tiny.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["material_id", "reduced_formula", "nsites", "formation_energy_per_atom", "formula_fold", "cif"])  # fmt: skip
        for ident, build, fold in csp_rows.ROWS:
            s = build()
            w.writerow([ident, s.composition.reduced_formula, len(s), -1.0, fold, str(CifWriter(s))])
    return path


@pytest.fixture(scope="session")
def csp_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def csp_dataset(csp_table, csp_cache):
    from xtalkit.csp.data import build_dataset

    return build_dataset(csp_table, cache_dir=csp_cache)


@pytest.fixture(scope="session")
def csp_trained(csp_dataset, tmp_path_factory):
    """The cpu network trained for a few epochs on the 6 training cells (batches of 2)."""
    from xtalkit.training.distmat import make_config, train_distmat

    cfg = make_config("cpu", epochs=8, batch_size=2, seed=0)
    return train_distmat(cfg, csp_dataset, tmp_path_factory.mktemp("run") / "dm", progress=False)


@pytest.fixture(scope="session")
def csp_lattice(csp_dataset):
    from xtalkit.csp.lattice import LatticeConfig, fit_lattice_model

    return fit_lattice_model(csp_dataset, config=LatticeConfig(n_estimators=20, seed=0))


def write_amcsd_cifs(directory: Path, n: int, max_atoms: int) -> int:
    """Write the first ``n`` AMCSD minerals of at most ``max_atoms`` atoms that pass the ADP filters.

    Each gets ``_diffrn_ambient_temperature 293`` (AMCSD files rarely state one). Skips the test
    when the AMCSD database (larixite) is not installed. Returns the number written.
    """
    amcsd = pytest.importorskip("xtalkit.data.amcsd")
    from xtalkit.data.adp_filters import ADPFilterConfig, apply_temperature_policy, check

    try:
        amcsd.default_database()
    except Exception as exc:  # the database is an optional download of larixite
        pytest.skip(str(exc))
    directory.mkdir(parents=True, exist_ok=True)
    cfg = ADPFilterConfig(assumed_temperature=293.0)
    written = 0
    for ident, text in amcsd.iter_amcsd_cifs():
        c = amcsd.read_crystal(text, text=True)
        if len(c) <= max_atoms and check(apply_temperature_policy(c, cfg), cfg) is None:
            text = text.replace("_cell_length_a", "_diffrn_ambient_temperature 293\n_cell_length_a", 1)
            (directory / f"{ident}.cif").write_text(text)
            written += 1
            if written == n:
                break
    return written
