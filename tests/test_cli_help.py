"""Every command answers --help with a description and an example, and --version works."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from regreen import __version__
from regreen.cli import make_parser


def _command_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                paths.append((*prefix, name))
                paths.extend(_command_paths(sub, (*prefix, name)))
    return paths


COMMANDS = _command_paths(make_parser())


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "regreen.cli", *args], capture_output=True, text=True, check=False
    )


def test_the_cli_has_the_commands_users_are_told_about() -> None:
    assert {("build",), ("plan", "show"), ("check",), ("ingest",), ("sample",), ("template",)} <= set(
        COMMANDS
    )


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help_with_an_example(command: tuple[str, ...]) -> None:
    result = _run(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "example:" in result.stdout
    assert f"regreen {' '.join(command)}" in result.stdout.split("example:")[1]


def test_version() -> None:
    result = _run("--version")
    assert result.stdout.strip() == f"regreen {__version__}"


def test_unknown_option_is_a_usage_error_without_traceback() -> None:
    result = _run("build", "--no-such-option")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
