"""A run-folder path copied from a grid folder (``generator.positional_encoding=acyclic,seed=0``) works, unquoted,
as an argument of every Hydra command (before: ``mismatched input '=' expecting <EOF>``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from benchmarks.cli import main as sgvb
from benchmarks.config.hydra_setup import quote_paths
from benchmarks.grids import grid

JOB = "runs/grid/quickstart/generator.positional_encoding=acyclic,seed=0"


@pytest.mark.parametrize(
    "command, key, tail",
    [
        ("train", "run_dir", ""),
        ("eval", "fake.run_dir", ""),
        ("sample", "checkpoint", "/checkpoints/ckpt-000002.016.pt"),
        ("stats", "out", "/real.npz"),
        ("audit", "out_dir", "/audit"),
    ],
)
def test_a_grid_job_folder_is_a_valid_argument_of_every_hydra_command(command, key, tail, capsys):
    path = f"{JOB}{tail}"
    assert sgvb([command, f"{key}={path}", "--cfg", "job"]) == 0, capsys.readouterr().err
    cfg = yaml.safe_load(capsys.readouterr().out)
    node = cfg
    for part in key.split("."):
        node = node[part]
    assert node == path


def test_eval_reads_the_folder_it_was_given(tmp_path: Path, monkeypatch, capsys):
    """The path reaches the command intact: the error names the whole folder, not a parse failure."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / JOB).mkdir(parents=True)
    with pytest.raises(SystemExit):
        sgvb(["eval", f"fake.run_dir={JOB}", "dataset=synthetic", "device=cpu"])
    err = capsys.readouterr().err
    assert f"fake.run_dir: '{JOB}' has no checkpoints/ckpt-*.pt" in err and "mismatched input" not in err


def test_the_folder_a_grid_names_is_accepted_back_by_the_grid(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    job = grid.plan_grid("quickstart", ["seed=0", "generator.positional_encoding=acyclic"]).jobs[0]
    plan = grid.plan_grid("quickstart", quote_paths(["seed=0", f"init_from={job.run_dir}/checkpoints/x.pt"]))
    assert len(plan.jobs) == 3  # one value, not a sweep split at the ',' of the folder name


def test_quote_paths_leaves_everything_else_alone():
    kept = ["seed=0,1", "dataset.path=/a.zip,/b.zip", "-m", "x='a=b/c'", "metrics=[fvd64_16f]", "--cfg", "job"]
    assert quote_paths(kept) == kept
    assert quote_paths([f"checkpoint={JOB}/c.pt"]) == [f"checkpoint='{JOB}/c.pt'"]
