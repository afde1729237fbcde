"""One exact kimg spelling in every file name: checkpoints, samples and metric artifacts of two training states
never share a name (a rounded or floored kimg gave 1.848 and 1.9 the same one)."""

import pytest

from benchmarks.records.checkpoint import checkpoint_kimg, checkpoint_name
from registry.files import kimg_tag

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*deprecated:FutureWarning")


def test_kimg_tag_is_exact_to_the_frame_and_sorts_as_text():
    assert kimg_tag(1.848) == "000001.848"
    assert kimg_tag(1.9) == "000001.900"
    assert kimg_tag(0) == "000000.000"
    assert kimg_tag(12345.0004) == "012345.000"  # nimg counts whole frames
    tags = [kimg_tag(k) for k in (0.5, 1.848, 1.9, 10.0, 100.25)]
    assert tags == sorted(tags)
    with pytest.raises(ValueError, match="kimg must be >= 0"):
        kimg_tag(-1)


def test_checkpoint_names_use_the_tag_and_read_back():
    assert checkpoint_name(1.848) == f"ckpt-{kimg_tag(1.848)}.pt" == "ckpt-000001.848.pt"
    assert checkpoint_kimg(checkpoint_name(1.848)) == pytest.approx(1.848)


def test_two_evaluations_at_nearby_kimg_write_different_artifacts(tmp_path):
    from metrics import evaluate
    from metrics.testing import ArrayVideoDataset, moving_blobs, save_tiny_torchscript_detector

    detector = save_tiny_torchscript_detector(tmp_path / "frames.pt", video=False)
    real = ArrayVideoDataset(moving_blobs(4, 16, 16, seed=1))
    fake = ArrayVideoDataset(moving_blobs(4, 16, 16, seed=2))
    run = tmp_path / "run"
    records = [
        evaluate(
            "consistency4_16f",
            fake=fake,
            real=real,
            detector_path=detector,
            cache_dir=tmp_path / "cache",
            run_dir=run,
            kimg=kimg,
            allow_fewer=True,
        )
        for kimg in (1.848, 1.9)
    ]
    curves = [r["artifacts"]["curves"] for r in records]
    assert curves == ["metric-consistency4_16f/kimg000001.848.npz", "metric-consistency4_16f/kimg000001.900.npz"]
    assert all((run / c).is_file() for c in curves)


def test_sample_folder_is_named_by_the_exact_kimg(tmp_path):
    from test_checkpoint import write_generator_checkpoint

    from benchmarks.commands.sample import sample_videos

    paths = {}
    for kimg in (1.848, 1.9):
        path, _ = write_generator_checkpoint(tmp_path / "run" / "checkpoints" / checkpoint_name(kimg), kimg=kimg)
        paths[kimg] = sample_videos(path, format="frames", seeds=[0], num_frames=1, preview=False, device="cpu")[0]
    assert paths[1.848].parent.name == "sample-000001.848"
    assert paths[1.9].parent.name == "sample-000001.900"
