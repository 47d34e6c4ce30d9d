"""--help reads cleanly: no flag shown as taking a value, no help text eaten by markup."""

from __future__ import annotations

import re

import pytest

from geocot_cli.cli.app import app

COMMANDS = [
    [], ["detect"], ["ask"], ["count"], ["ground"], ["classify"], ["caption"], ["eval"], ["export"],
    ["data"], ["data", "synth"], ["data", "split"], ["data", "backfill"], ["model"], ["model", "tiny"],
    ["train"], ["train", "sft"], ["train", "grpo"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "geocot")
def test_help_is_tidy(runner, command):
    res = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    text = res.stdout
    assert "<bool>" not in text  # a flag takes no value
    eaten = re.compile(r"\w \.(\s|│|$)")  # "Tile side in scene pixels ." : a [default: ...] taken as markup
    assert not eaten.search(text), [line for line in text.splitlines() if eaten.search(line)]
    for line in text.splitlines():  # every option says something
        m = re.match(r"│ {1,4}(?:\*\s+)?(--[a-z-]+)\s", line)  # an option's own row
        if m:
            assert len(line.strip("│ ").split()) > 1, line


def test_defaults_in_words_are_shown(runner):
    res = runner.invoke(app, ["detect", "--help"], env={"COLUMNS": "250"})
    assert "(default: the model's own, from its geocot.json, else 800)" in res.stdout
    assert "--threads" in res.stdout and "GDAL_NUM_THREADS" in res.stdout
