"""``--help`` of the Hydra commands: its real name, what it does, every key in one line with its default, only the
config groups that apply, three examples (before: Hydra's config dump, "evaluate is powered by Hydra")."""

from __future__ import annotations

import dataclasses

import pytest

from benchmarks.cli import main as sgvb
from benchmarks.config import hydra_setup


@pytest.mark.parametrize("command", ["train", "eval", "sample", "stats", "audit"])
def test_help_names_the_command_lists_every_key_and_gives_examples(command, capsys):
    assert sgvb([command, "--help"]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: sgvb {command} ") and "powered by Hydra" not in text
    _, schema, groups = hydra_setup._schemas()[command]
    keys = {line.split()[0] for line in text.splitlines() if line.startswith("  ") and not line.startswith("  sgvb")}
    top = {f.name for f in dataclasses.fields(schema)}
    assert {k.split(".")[0] for k in keys} == top
    examples = [line for line in text.split("examples:")[1].splitlines() if line.startswith(f"  sgvb {command} ")]
    assert len(examples) == 3
    if command != "train":
        assert "generator" not in text.split("keys (")[0]  # the training groups do not apply here


def test_help_explains_the_keys_the_issue_named(capsys):
    sgvb(["eval", "--help"])
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.startswith("  ")}
    assert "every checkpoint" in lines["fake.all_checkpoints"] and "derived seeds" in lines["num_runs"]
    sgvb(["sample", "--help"])
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.startswith("  ")}
    assert "slow motion" in lines["time_step"] and "official" in lines["noise"]
    sgvb(["train", "--help"])
    assert "'auto' values: device=auto" in capsys.readouterr().out


def test_every_train_key_has_one_line_for_users(capsys):
    """Before: `seed` showed a developer comment ("RuntimeSettings' fields, flat at the top level...") and the
    component groups, learning rates, betas, ... showed nothing."""
    sgvb(["train", "--help"])
    text = capsys.readouterr().out
    header, *rows = text.split("keys (", 1)[1].split("\n\n", 1)[0].splitlines()
    what = len("  ") + header.index("what") - len("key")  # the description column of the rows
    assert rows and all(row.startswith("  ") for row in rows)
    blank = [row.split()[0] for row in rows if not row[what:].strip()]
    assert not blank, f"keys without a description: {blank}"
    for word in ("RuntimeSettings", "dataclass", "flat at the top level", "written there once"):
        assert word not in text
    seed = next(row for row in rows if row.split()[0] == "seed")
    assert "seeds initialisation" in seed
