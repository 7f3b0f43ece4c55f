"""Self-describing model files.

A model file is a plain dict saved with ``torch.save`` and read back with
``torch.load(weights_only=True)``, so loading never runs pickled code:

* ``format`` = ``"xtalkit-model"``, ``version`` (int);
* ``model_class`` (name in :data:`MODEL_CLASSES`) and ``init_args`` (plain
  numbers, strings and booleans, enough to rebuild the network);
* ``state_dict`` (tensors; normalization statistics are buffers in it);
* ``metadata``: plain data about training (data, splits, metrics, versions).
"""

from __future__ import annotations

import io
import numbers
import os
from pathlib import Path

import numpy as np
import torch

from xtalkit.errors import XtalkitError
from xtalkit.io import atomic_write

FORMAT = "xtalkit-model"
VERSION = 1


def _model_classes() -> dict:
    from xtalkit.models.cartnet import CartNet
    from xtalkit.models.distmat import DistMatNet
    from xtalkit.models.sitenet import SiteNet

    return {"CartNet": CartNet, "SiteNet": SiteNet, "DistMatNet": DistMatNet}


def _plain(value, where: str):
    """The value as built-in Python types only (numpy scalars become int/float)."""
    if value is None:
        return None
    if isinstance(value, str):
        return str(value)  # str subclasses (e.g. torch.__version__) would pickle as their class
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, list | tuple):
        return [_plain(v, where) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v, where) for k, v in value.items()}
    raise TypeError(f"{where}: {type(value).__name__} is not plain data")


def constructor_arguments(cls: type, values: dict) -> dict:
    """A model's ``init_args``: every parameter of ``cls.__init__`` with its value, as plain data.

    Models call ``self.init_args = constructor_arguments(type(self), locals())`` after
    normalizing their arguments, so the file records exactly what rebuilds the model
    (:func:`load_model` calls ``cls(**init_args)``) and no list is written by hand.
    """
    import inspect

    params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    return {name: _plain(values[name], f"{cls.__name__}.{name}") for name in params}


def save_model(path: str | os.PathLike, model: torch.nn.Module, metadata: dict | None = None) -> Path:
    """Write a model file atomically.

    Args:
        path: destination (``.pt``).
        model: a network with an ``init_args`` dict (e.g. :class:`~xtalkit.models.cartnet.CartNet`).
        metadata: plain data to keep with the weights.
    """
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "model_class": type(model).__name__,
        "init_args": _plain(dict(model.init_args), "init_args"),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "metadata": _plain(metadata or {}, "metadata"),
    }
    buf = io.BytesIO()
    torch.save(doc, buf)
    return atomic_write(path, buf.getvalue())


def load_model(path: str | os.PathLike, map_location: str = "cpu") -> tuple[torch.nn.Module, dict]:
    """Read a model file (``weights_only=True``) and rebuild the network in eval mode.

    Returns:
        ``(model, metadata)``.

    Raises:
        XtalkitError: one line naming the file, if it is missing, not a model
            file, of another version, or its weights do not fit its class.
    """
    path = Path(path)
    if not path.is_file():
        raise XtalkitError(f"{path}: no such model file")
    try:
        doc = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise XtalkitError(f"{path}: not a readable model file ({type(exc).__name__})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise XtalkitError(f"{path}: not an xtalkit model file")
    if doc.get("version") != VERSION:
        raise XtalkitError(f"{path}: model file version {doc.get('version')}, this xtalkit reads {VERSION}")
    classes = _model_classes()
    cls = classes.get(doc.get("model_class"))
    if cls is None:
        raise XtalkitError(f"{path}: unknown model class {doc.get('model_class')!r}")
    try:
        model = cls(**doc["init_args"])
        model.load_state_dict(doc["state_dict"])
    except (TypeError, RuntimeError) as exc:
        raise XtalkitError(
            f"{path}: weights do not match {cls.__name__}: {str(exc).splitlines()[0]}"
        ) from None
    model.eval()
    return model, doc.get("metadata", {})
