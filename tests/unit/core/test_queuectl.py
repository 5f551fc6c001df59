"""queuectl's argument parser: every option says its default, in every subcommand's help."""

from __future__ import annotations

import argparse

from queue_core.queuectl import build_parser


def parsers() -> dict[str, argparse.ArgumentParser]:
    top = build_parser()
    (commands,) = (a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    return {"queuectl": top} | {f"queuectl {n}": p for n, p in commands.choices.items()}


def test_every_option_shows_its_default() -> None:
    missing = [
        f"{name} {action.option_strings[0]}"
        for name, parser in parsers().items()
        for action in parser._actions
        if action.option_strings
        and action.nargs != 0  # --help, --version: flags without a value
        and action.help != argparse.SUPPRESS  # settings after the subcommand: in queuectl -h
        and "default" not in (action.help or "")
    ]
    assert missing == []
    assert len(parsers()) == 6
