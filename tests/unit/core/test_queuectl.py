"""queuectl's argument parser: every option says its default, in every subcommand's help."""

from __future__ import annotations

import argparse

import pytest

from queue_core.queuectl import build_parser, dead_letter_ref


def parsers(
    parser: argparse.ArgumentParser | None = None, name: str = "queuectl"
) -> dict[str, argparse.ArgumentParser]:
    """Every parser by its command line, the ``dlq`` group's subcommands included."""
    parser = parser or build_parser()
    found = {name: parser}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                found |= parsers(sub, f"{name} {sub_name}")
    return found


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
    assert len(parsers()) == 11


@pytest.mark.parametrize(
    ("text", "ref"),
    [("0", 0), ("42", 42), ("3f2a9c01b7de", "3f2a9c01b7de"), ("123456789012", "123456789012")],
)
def test_a_dead_letter_is_named_by_index_or_by_its_12_hex_digit_id(
    text: str, ref: int | str
) -> None:
    assert dead_letter_ref(text) == ref


@pytest.mark.parametrize("text", ["-1", "3F2A9C01B7DE", "3f2a9c01b7d", "x", "", "\u0661"])
def test_a_dead_letter_ref_that_is_neither_says_what_is_expected(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=r"an index .* or a 12-hex-digit id"):
        dead_letter_ref(text)
