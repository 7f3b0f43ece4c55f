"""Models shipped inside the package, each with a model card, and the one way to load any model.

``REGISTRY`` maps a model name to a :class:`ShippedModel` record (file and card in
this directory, task, description). :func:`load` turns a shipped name or a model
file into a loaded model, checking its task; every predictor, the command line
and the benchmarks load through it. :func:`resolve` gives the file only.
"""

from __future__ import annotations

import dataclasses
import os
from importlib import resources
from pathlib import Path

from xtalkit.errors import XtalkitError


@dataclasses.dataclass(frozen=True)
class ShippedModel:
    """A model shipped with xtalkit.

    Attributes:
        name: registry name (``xtalkit models list``).
        file: model file in this package directory (``.pt``: torch, ``.npz``: lattice forests).
        card: Markdown model card in this package directory.
        task: ``"adp"``, ``"property"``, ``"distmat"`` or ``"lattice"`` (as :func:`load` checks it).
        description: one line.
    """

    name: str
    file: str
    card: str
    task: str
    description: str


@dataclasses.dataclass
class LoadedModel:
    """What :func:`load` returns.

    Attributes:
        model: the torch module (or :class:`~xtalkit.csp.lattice.LatticeModel` for ``.npz``).
        metadata: the file's metadata (empty for lattice models).
        name: the shipped name, or the path as given.
        path: the file read.
        task: the task recorded in the file (``"lattice"`` for ``.npz`` forests).
    """

    model: object
    metadata: dict
    name: str
    path: Path
    task: str


#: name -> record
REGISTRY: dict[str, ShippedModel] = {}

DEFAULT_ADP_MODEL = "harmonic-adp"
DEFAULT_CSP_MODEL = "alphacrystal-distmat"
DEFAULT_LATTICE_MODEL = "alphacrystal-lattice"


#: the models this package may ship (those whose file is present are registered)
SHIPPED = (
    ShippedModel(
        name="harmonic-adp", file="harmonic_adp.pt", card="harmonic_adp.md", task="adp",
        description="exactly equivariant harmonic + rigid-body ADP head (invariant CartNet backbone), "
        "trained on experimental ADPs of AMCSD minerals, COD and experimental_more crystals",
    ),
    ShippedModel(
        name="cartnet-adp", file="cartnet_adp.pt", card="cartnet_adp.md", task="adp",
        description="the paper's CartNet (Cholesky head, width 128) trained on experimental ADPs of AMCSD "
        "minerals and COD crystals",
    ),
    ShippedModel(
        name="alphacrystal-distmat", file="alphacrystal_distmat.pt", card="alphacrystal_distmat.md",
        task="distmat",
        description="AlphaCrystal-II distance-matrix network (cells of ≤ 12 atoms), trained on Materials "
        "Project structures (mp.csv.gz folds 0-7)",
    ),
    ShippedModel(
        name="alphacrystal-lattice", file="alphacrystal_lattice.npz", card="alphacrystal_lattice.md",
        task="lattice",
        description="space-group, volume and cell-shape forests from the composition (cells of ≤ 12 atoms), "
        "fitted on mp.csv.gz folds 0-7",
    ),
    ShippedModel(
        name="formation-energy", file="formation-energy.pt", card="formation-energy.md", task="property",
        description="formation energy per atom (eV/atom), trained on Materials Project structures "
        "(mp.csv.gz)",
    ),
    ShippedModel(
        name="band-gap", file="band-gap.pt", card="band-gap.md", task="property",
        description="PBE band gap (eV), trained on Materials Project structures (mp.csv.gz)",
    ),
)  # fmt: skip


def _register() -> None:
    root = resources.files("xtalkit.pretrained")
    REGISTRY.update({m.name: m for m in SHIPPED if root.joinpath(m.file).is_file()})


_register()


def names() -> list[str]:
    """Names of the shipped models."""
    return sorted(REGISTRY)


def path(name: str) -> Path:
    """File of a shipped model."""
    if name not in REGISTRY:
        known = ", ".join(names()) or "none"
        raise XtalkitError(f"no shipped model named {name!r} (shipped: {known})")
    return Path(str(resources.files("xtalkit.pretrained").joinpath(REGISTRY[name].file)))


def card(name: str) -> str:
    """Model card (Markdown) of a shipped model."""
    path(name)
    return resources.files("xtalkit.pretrained").joinpath(REGISTRY[name].card).read_text("utf-8")


def resolve(name_or_path: str | os.PathLike) -> tuple[Path, str]:
    """``(file, display name)`` for a shipped model name or a model-file path."""
    text = str(name_or_path)
    if text in REGISTRY:
        return path(text), text
    p = Path(text)
    if p.is_file():
        return p, str(p)
    raise XtalkitError(f"{text}: neither a shipped model ({', '.join(names()) or 'none'}) nor a model file")


def load(name_or_path: str | os.PathLike, task: str | None = None) -> LoadedModel:
    """Load a shipped model by name, or a model file (a run directory means its ``model.pt``).

    Args:
        name_or_path: shipped name or path.
        task: the task the caller needs, as recorded in model files: ``"adp"``, ``"property"``,
            ``"distmat"`` (AlphaCrystal-II distance matrix) or ``"lattice"`` (``.npz`` forests).

    Raises:
        XtalkitError: unknown name, unreadable file, or a model of another task.
    """
    text = str(name_or_path)
    p = Path(text)
    if text not in REGISTRY and p.is_dir() and (p / "model.pt").is_file():
        name_or_path = p / "model.pt"
    file, name = resolve(name_or_path)
    if file.suffix == ".npz":
        from xtalkit.csp.lattice import LatticeModel

        model, metadata, kind = LatticeModel.load(file), {}, "lattice"
    else:
        from xtalkit.models.checkpoint import load_model

        model, metadata = load_model(file)
        kind = str(metadata.get("task") or (REGISTRY[text].task if text in REGISTRY else ""))
    if task is not None and kind != task:
        raise XtalkitError(f"{name}: a model of task {kind or 'unknown'!r}, not {task!r}")
    return LoadedModel(model, metadata, name, file, kind)
