"""The ``xtalkit`` command line: one entry point, one subcommand per task."""

from __future__ import annotations

import argparse
import sys
import warnings

from xtalkit import __version__
from xtalkit.errors import XtalkitError


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="xtalkit",
        description="Learning from crystal structures: thermal ellipsoids, properties, structure prediction.",
    )
    parser.add_argument("--version", action="version", version=f"xtalkit {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks for unexpected errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from xtalkit.cli import adp, csp, dataset, evaluate, info, models, property, train

    info.add_parser(sub)
    adp.add_parser(sub)
    dataset.add_parser(sub)
    train.add_parser(sub)
    evaluate.add_parser(sub)
    models.add_parser(sub)
    property.add_parser(sub)
    csp.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    check = getattr(args, "check", None)
    if check is not None:
        try:
            check(args)
        except argparse.ArgumentTypeError as exc:
            name = " ".join(x for x in (args.command, getattr(args, "action", None)) if x)
            print(f"xtalkit {name}: error: {exc}", file=sys.stderr)
            return 2
    if not args.debug:
        warnings.filterwarnings("ignore")  # library chatter; real problems are reported by us
    try:
        return int(args.func(args) or 0)
    except XtalkitError as exc:
        print(f"xtalkit {args.command}: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # e.g. `xtalkit info --json ... | head`
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print(f"xtalkit {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(
            f"xtalkit {args.command}: internal error: {type(exc).__name__}: {exc} "
            "(rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
