"""Every ``sgvb`` command ends a user error the same way (``benchmarks.errors.one_line_errors``): exactly one line
``sgvb <command>: error: <what> (details: <log file>; ...)`` on stderr, exit status 2, no traceback, the traceback
in the details file. One subprocess per command with an input that cannot work (a path that does not exist, a name
nothing registers); nothing is trained or computed."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.cli import COMMANDS

REPO = Path(__file__).resolve().parents[1]
NOT_WRAPPED = {"list", "plugins"}  # listings: nothing a user gives them can fail

# command -> (arguments given a scratch folder, words the error line must hold)
BAD_INPUTS = {
    "train": (
        lambda t: [
            "experiment=tiny",
            "device=cpu",
            f"run_dir={t / 'run'}",
            "dataset=frames",
            f"dataset.path={t / 'missing'}",
        ],
        "missing",
    ),
    "eval": (
        lambda t: [f"fake.checkpoint={t / 'none.pt'}", "metrics=[fvd4_16f]", "dataset=synthetic", "device=cpu"],
        "none.pt",
    ),
    "sample": (lambda t: [f"checkpoint={t / 'none.pt'}", "device=cpu"], "none.pt"),
    "stats": (lambda t: [f"out={t / 'x.npz'}", "device=cpu"], "no dataset"),
    "audit": (lambda t: [f"out_dir={t / 'audit'}", "device=cpu"], "no dataset"),
    "sample-size": (lambda t: [f"out_dir={t / 'study'}", "device=cpu", "metrics=[fvd2048]"], "unknown study metric"),
    "compare-protocols": (lambda t: ["--real", str(t / "missing")], "missing"),
    "prepare": (lambda t: ["taichi", str(t / "missing"), str(t / "out.zip")], "missing"),
    "convert": (lambda t: [str(t / "missing"), str(t / "out.zip")], "missing"),
    "convert-checkpoint": (lambda t: [str(t / "none.pkl"), str(t / "out.pt")], "none.pkl"),
    "check-dataset": (lambda t: [str(t / "missing")], "missing"),
    "table": (lambda t: [str(t / "missing")], "missing"),
    "grid": (lambda t: ["no_such_grid", "--dry-run"], "no_such_grid"),
    "check-plugin": (lambda t: ["no_such_component"], "no_such_component"),
}


def test_every_command_has_a_bad_input_case():
    assert set(BAD_INPUTS) == set(COMMANDS) - NOT_WRAPPED


@pytest.mark.parametrize("command", sorted(BAD_INPUTS))
def test_a_user_error_is_one_line_exit_status_2_and_no_traceback(command, tmp_path):
    args, says = BAD_INPUTS[command]
    env = {key: value for key, value in os.environ.items() if key != "SGVB_TRACEBACK"}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.cli", command, *args(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    ours = [line for line in done.stderr.splitlines() if line.startswith("sgvb")]  # library warnings aside
    assert done.returncode == 2 and len(ours) == 1 and "Traceback" not in done.stderr, done.stderr
    line = ours[0]
    assert line.startswith(f"sgvb {command}: error: ") and says in line, line
    details = re.search(r"\(details: (.+?); SGVB_TRACEBACK=1 prints the traceback\)$", line)
    assert details and "Traceback (most recent call last)" in Path(details.group(1)).read_text(), line


def test_sgvb_traceback_shows_the_traceback_instead(tmp_path):
    args, _ = BAD_INPUTS["convert"]
    env = {**os.environ, "SGVB_TRACEBACK": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.cli", "convert", *args(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 2 and "Traceback (most recent call last)" in done.stderr and "DatasetError" in done.stderr
    assert "(details: " not in done.stderr


@pytest.mark.parametrize(
    "command, args, says",
    [
        ("stats", ["dataset=synthetic", "device=cpu"], "sgvb stats: error: option 'out' is required: pass out=..."),
        ("sample", ["device=cpu"], "sgvb sample: error: option 'checkpoint' is required: pass checkpoint=..."),
        ("audit", ["num_videos=abc"], "sgvb audit: configuration error: option num_videos=abc: "),
        ("sample-size", ["dataset=null"], "sgvb sample-size: configuration error: dataset=null: a config group takes"),
    ],
)
def test_a_missing_or_mistyped_option_is_refused_before_any_work(command, args, says, tmp_path):
    """The typed settings (``benchmarks/config/commands.py``) are checked once, up front: a required key left out
    (``stats`` used to compute every statistic, then crash on ``out``) or a value of the wrong type (audit's too)."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.cli", command, *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    ours = [line for line in done.stderr.splitlines() if line.startswith("sgvb")]
    assert done.returncode == 2 and len(ours) == 1 and ours[0].startswith(says), done.stderr
    assert "Traceback" not in done.stderr


def test_eval_of_non_square_fake_videos_says_how_to_make_them_square(tmp_path):
    """The resolution advice cannot help non-square fakes (no dataset.resolution gives 176x144 real frames)."""
    import av
    import numpy as np

    from benchmarks.commands.eval_inputs import EvalInputError, check_fake_folder
    from registry import DATASETS

    folder = tmp_path / "fake"
    folder.mkdir()
    for name in ("a", "b"):
        with av.open(str(folder / f"{name}.mp4"), "w") as out:
            stream = out.add_stream("libx264", rate=25)
            stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv420p"
            for _ in range(4):
                frame = av.VideoFrame.from_ndarray(np.zeros((32, 48, 3), np.uint8), format="rgb24")
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
    with pytest.raises(EvalInputError, match=r"48x32 videos, but metrics compare square frames.*--resolution 32"):
        check_fake_folder(DATASETS.build({"_name_": "mp4", "path": str(folder)}), folder, 32)
