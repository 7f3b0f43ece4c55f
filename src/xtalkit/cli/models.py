"""``xtalkit models``: the models shipped with xtalkit."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``xtalkit models``."""
    p = sub.add_parser("models", help="list shipped models or show a model card")
    acts = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    acts.add_parser("list", help="every shipped model").set_defaults(func=run_list)
    c = acts.add_parser("card", help="the model card of a shipped model")
    c.add_argument("name")
    c.set_defaults(func=run_card)


def run_list(args: argparse.Namespace) -> int:
    """Run ``xtalkit models list``."""
    from xtalkit import pretrained

    names = pretrained.names()
    if not names:
        print("no models are shipped in this installation")
        return 0
    for name in names:
        record = pretrained.REGISTRY[name]
        task, desc = record.task, record.description
        size = pretrained.path(name).stat().st_size / 1e6
        print(f"{name:<22} {task:<10} {size:5.1f} MB  {desc}")
    return 0


def run_card(args: argparse.Namespace) -> int:
    """Run ``xtalkit models card NAME``."""
    from xtalkit import pretrained

    print(pretrained.card(args.name))
    return 0
