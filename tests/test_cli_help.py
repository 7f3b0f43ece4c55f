"""Every command and subcommand of ``xtalkit`` prints its help (walks the whole parser)."""

from __future__ import annotations

import argparse

import pytest

from xtalkit.cli.main import build_parser


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out += _commands(sub, (*prefix, name))
    return out


COMMANDS = _commands(build_parser())


def test_the_walk_finds_the_subcommands():
    assert ("adp", "plot") in COMMANDS and ("csp", "predict") in COMMANDS and len(COMMANDS) > 15


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "xtalkit")
def test_help_works(command, capsys):
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args([*command, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: ")
