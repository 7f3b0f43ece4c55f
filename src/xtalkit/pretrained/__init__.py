"""Models shipped inside the package, each with a model card.

``REGISTRY`` maps a model name to its file and card in this directory.
:func:`resolve` turns a name or a path into a model-file path.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from xtalkit.errors import XtalkitError

#: name -> (model file, model card, task, one-line description)
REGISTRY: dict[str, tuple[str, str, str, str]] = {}

DEFAULT_ADP_MODEL = "harmonic-adp"
DEFAULT_CSP_MODEL = "alphacrystal-distmat"
DEFAULT_LATTICE_MODEL = "alphacrystal-lattice"


def _register() -> None:
    root = resources.files("xtalkit.pretrained")
    candidates = {
        "harmonic-adp": (
            "harmonic_adp.pt",
            "harmonic_adp.md",
            "adp",
            "exactly equivariant harmonic + rigid-body ADP head (invariant CartNet backbone), trained on "
            "experimental ADPs of AMCSD minerals, COD and experimental_more crystals",
        ),
        "cartnet-adp": (
            "cartnet_adp.pt",
            "cartnet_adp.md",
            "adp",
            "the paper's CartNet (Cholesky head, width 128) trained on experimental ADPs of AMCSD minerals "
            "and COD crystals",
        ),
        "alphacrystal-distmat": (
            "alphacrystal_distmat.pt",
            "alphacrystal_distmat.md",
            "csp",
            "AlphaCrystal-II distance-matrix network (cells of ≤ 12 atoms), trained on Materials Project "
            "structures (mp.csv.gz folds 0-7)",
        ),
        "alphacrystal-lattice": (
            "alphacrystal_lattice.npz",
            "alphacrystal_lattice.md",
            "csp",
            "space-group, volume and cell-shape forests from the composition (cells of ≤ 12 atoms), "
            "fitted on mp.csv.gz folds 0-7",
        ),
        "formation-energy": (
            "formation-energy.pt",
            "formation-energy.md",
            "property",
            "formation energy per atom (eV/atom), trained on Materials Project structures (mp.csv.gz)",
        ),
        "band-gap": (
            "band-gap.pt",
            "band-gap.md",
            "property",
            "PBE band gap (eV), trained on Materials Project structures (mp.csv.gz)",
        ),
    }
    for name, entry in candidates.items():
        if root.joinpath(entry[0]).is_file():
            REGISTRY[name] = entry


_register()


def names() -> list[str]:
    """Names of the shipped models."""
    return sorted(REGISTRY)


def path(name: str) -> Path:
    """File of a shipped model."""
    if name not in REGISTRY:
        known = ", ".join(names()) or "none"
        raise XtalkitError(f"no shipped model named {name!r} (shipped: {known})")
    return Path(str(resources.files("xtalkit.pretrained").joinpath(REGISTRY[name][0])))


def card(name: str) -> str:
    """Model card (Markdown) of a shipped model."""
    path(name)
    return resources.files("xtalkit.pretrained").joinpath(REGISTRY[name][1]).read_text("utf-8")


def resolve(name_or_path: str | os.PathLike) -> tuple[Path, str]:
    """``(file, display name)`` for a shipped model name or a model-file path."""
    text = str(name_or_path)
    if text in REGISTRY:
        return path(text), text
    p = Path(text)
    if p.is_file():
        return p, str(p)
    raise XtalkitError(f"{text}: neither a shipped model ({', '.join(names()) or 'none'}) nor a model file")
