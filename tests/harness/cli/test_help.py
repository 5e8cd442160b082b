"""Every command's --help: each option states its default at most once (never "(default: None)")."""

from __future__ import annotations

import re

import pytest

from harness.cli import COMMANDS, build_parser


def _subparser(name: str):
    parser = build_parser()
    return next(a for a in parser._actions if a.dest == "command").choices[name]


@pytest.mark.parametrize("command", [c.name for c in COMMANDS])
def test_help_states_each_default_at_most_once(command):
    sub = _subparser(command)
    assert "(default: None)" not in sub.format_help()
    formatter = sub._get_formatter()
    for action in sub._actions:
        if action.help:
            text = formatter._expand_help(action)
            assert len(re.findall(r"\bdefault\b", text, flags=re.IGNORECASE)) <= 1, (action.dest, text)
