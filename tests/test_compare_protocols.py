"""``sgvb compare-protocols``: every published FVD protocol on the built-in synthetic data with stand-in detectors,
the table of values and of what differs, records, and one-line errors."""

import pytest

from benchmarks.cli import main as sgvb
from metrics import detectors
from metrics.published import PROTOCOLS

TINY = ["--allow-stand-in-detectors", "--synthetic-videos", "2", "--resolution", "16", "--stand-in-resolution", "16"]


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    monkeypatch.setenv("SGVB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SGVB_OFFLINE", "1")
    monkeypatch.delenv("SGVB_WEIGHTS_DIR", raising=False)
    detectors._LOADED.clear()
    yield
    detectors._LOADED.clear()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_every_protocol_on_the_synthetic_data_prints_values_and_differences(tmp_path, capsys):
    from metrics.records import read_metric_records

    assert sgvb(["compare-protocols", *TINY, "--trials", "1", "--out", str(tmp_path / "cmp")]) == 0
    out = capsys.readouterr().out
    for name in PROTOCOLS:
        assert f"| {name} |" in out
    assert "| tats vs digan |" in out and "clip rule, resize, quantisation" in out
    assert "| stylegan_v vs cdfvd_videomae | - | not comparable: different backbones" in out
    assert "cm_styleganv_curve FVD vs length: 10f:" in out
    assert "stand-in detectors" in out
    for name in PROTOCOLS:
        (record,) = read_metric_records(tmp_path / "cmp" / f"metric-fvd_{name}.jsonl")
        assert record.protocol["stand_in"] is True and record.protocol_id.startswith(f"{name}/")
    assert (tmp_path / "cmp" / "comparison.md").read_text().startswith("## FVD under each published protocol")


def test_help_lists_every_protocol_with_its_implementation(capsys):
    with pytest.raises(SystemExit) as exit_:
        sgvb(["compare-protocols", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert all(name in out for name in PROTOCOLS) and "sihyun-yu/digan" in out and "docs/protocols.md" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--protocols", "digam"], "unknown FVD protocol 'digam'. Did you mean 'digan'?"),
        (["--protocols", "cdfvd_videomae", "--num-frames", "12"], "cdfvd_videomae takes 16-frame clips only"),
        (["--protocols", "cm_styleganv_curve", "--num-frames", "8"], "computes FVD from 10 frames on"),
        (["--real", "no/such/folder"], "--real 'no/such/folder' does not exist"),
        (["--fake", "synthetic:x"], "the seed after 'synthetic:' must be an integer"),
    ],
)
def test_user_errors_are_one_line(args, message, capsys):
    assert sgvb(["compare-protocols", *TINY, *args]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert any(message in line for line in err), err
    assert not any(line.startswith("Traceback") for line in err)


def test_a_fake_folder_at_another_resolution_is_refused_not_resized(tmp_path, capsys):
    import numpy as np
    from video_files import write_video

    frames = np.random.default_rng(0).integers(0, 256, (16, 24, 24, 3), dtype=np.uint8)
    write_video(tmp_path / "fake" / "v0.mp4", frames)
    assert sgvb(["compare-protocols", *TINY[:3], "--fake", str(tmp_path / "fake"), "--protocols", "stylegan_v"]) != 0
    err = capsys.readouterr().err
    assert "real (32px) and fake (24px) videos must have one resolution" in err


def test_missing_weights_name_this_commands_flags(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SGVB_WEIGHTS_DIR", str(tmp_path / "weights"))
    assert sgvb(["compare-protocols", "--synthetic-videos", "2", "--protocols", "stylegan_v"]) != 0
    err = capsys.readouterr().err
    assert "i3d_torchscript.pt" in err and "--detector-path <folder>" in err and "--allow-stand-in-detectors" in err


def test_non_square_real_videos_are_told_this_commands_flag(tmp_path, capsys):
    """The refusal of non-square frames spoke sgvb eval's Hydra syntax (``real.resolution=R``), which this argparse
    command does not take."""
    import numpy as np
    from video_files import write_video

    frames = np.random.default_rng(0).integers(0, 256, (16, 24, 32, 3), dtype=np.uint8)
    write_video(tmp_path / "real" / "v0.mp4", frames)
    assert sgvb(["compare-protocols", "--real", str(tmp_path / "real"), "--protocols", "stylegan_v"]) == 2
    err = capsys.readouterr().err
    assert "are 32x24, not square; pass --resolution R to resize" in err and "real.resolution" not in err
