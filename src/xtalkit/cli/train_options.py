"""Options and settings every trainer shares (``xtalkit train TASK`` and its aliases).

``--config FILE`` (YAML or JSON) gives settings that the flags override; the
task's ``make_config`` checks them all (:func:`xtalkit.training.engine.make_config`),
and :func:`settings_errors` names the file in its one-line errors. The run
options (``--devices``, ``--strategy``, ``--resume``, ``--max-time``,
``--stop-after``) reach :func:`xtalkit.training.engine.fit` unchanged, and
:func:`print_summary` prints the same part of every model file's metadata.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from xtalkit.cli import options as opt
from xtalkit.errors import XtalkitError

#: metadata not printed at the end of training (long; in model.pt and config.json)
HIDDEN = ("config", "train_element_counts", "featurizer")


def load_settings(path: str | None) -> dict:
    """Settings from a YAML/JSON file: a flat mapping, or a run's ``config.json`` ({"config": {...}}).

    Every trainer's ``make_config`` refuses unknown keys; ``None`` gives an empty mapping.
    """
    import yaml

    if path is None:
        return {}
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise XtalkitError(f"{path}: cannot read settings ({type(exc).__name__})") from None
    if isinstance(doc, dict) and isinstance(doc.get("config"), dict):
        doc = doc["config"]
    if not isinstance(doc, dict):
        raise XtalkitError(f"{path}: settings must be a mapping")
    return doc


def add_config_option(p: argparse.ArgumentParser) -> None:
    """``--config FILE`` for every trainer: YAML or JSON settings that the flags override."""
    help_ = "YAML or JSON file of settings (e.g. a previous run's config.json); flags override it"
    p.add_argument("--config", default=None, help=help_)


def add_run_options(p: argparse.ArgumentParser) -> None:
    """The options every trainer shares: devices, strategy, resume, time limit, stop-after."""
    p.add_argument(
        "--devices", type=opt.positive_int, default=1, help="processes or accelerators (default 1)"
    )
    p.add_argument("--strategy", default="auto", help="Lightning strategy, e.g. ddp (default auto)")
    p.add_argument("--resume", action="store_true", help="continue the run in the output directory")
    p.add_argument("--max-time", type=opt.positive_float, default=None, help="minutes of training at most")
    p.add_argument(
        "--stop-after", type=opt.positive_int, default=None, metavar="N",
        help="stop after epoch N (the schedule still spans --epochs); continue later with --resume",
    )  # fmt: skip


def merged(settings_file: str | None, flags: dict) -> dict:
    """Settings from ``--config`` with the given (non-None) flags on top."""
    out = load_settings(settings_file)
    out.update({k: v for k, v in flags.items() if v is not None})
    return out


@contextlib.contextmanager
def settings_errors(path: str | None) -> Iterator[None]:
    """Prefix the settings errors raised inside with the ``--config`` file that gave them."""
    try:
        yield
    except XtalkitError as exc:
        if path is None:
            raise
        raise XtalkitError(f"{path}: {exc}") from None


def print_summary(summary: dict, out: str | Path) -> None:
    """The model file's metadata as JSON on stdout (without :data:`HIDDEN`), and its path on stderr."""
    print(json.dumps({k: v for k, v in summary.items() if k not in HIDDEN}, indent=1))
    print(f"model: {Path(out) / 'model.pt'}", file=sys.stderr)
