"""The inputs of the commands that compute metrics (``sgvb eval``, ``stats``, ``audit``) and what is checked about
them before a number is computed: metric lists, the dataset spec, resolutions and frame sizes.

Datasets resize frames that are not ``resolution`` squared, which is right for training and wrong for
evaluation when it happens silently: a forgotten ``dataset.resolution`` changed fvd8_16f from 1037.6 to
916.5, and a preview video in a folder of samples was resized and counted. So evaluation takes the data's
own frame size unless a resolution is given, refuses real/fake resolution mismatches, and refuses a
folder of generated videos whose frame sizes differ (naming the odd ones).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf


class EvalConfigError(ValueError):
    """A bad ``sgvb eval`` (or ``stats``) configuration; the message names the key at fault."""


class EvalInputError(ValueError):
    """Evaluation inputs that would make a number wrong; the message names the file or option at fault."""


def metric_list(value: Any) -> list[Any]:
    """One name or spec, or a list of them, as a list (``metrics=fvd2048_16f`` works as well as a list)."""
    if OmegaConf.is_config(value):
        value = OmegaConf.to_container(value, resolve=True)
    if value is None:
        return []
    if isinstance(value, (str, dict)):
        value = [value]
    return list(value)


def dataset_spec(given: dict | None, run_dir: Path | None) -> dict:
    """The dataset option given on the command line, else the one the run in ``run_dir`` was trained on."""
    from benchmarks.records.run_records import CONFIG

    if given and given.get("_name_"):
        return dict(given)
    saved = run_dir / CONFIG if run_dir is not None else None
    if saved is not None and saved.is_file():
        trained_on = OmegaConf.select(OmegaConf.load(saved), "dataset")
        if trained_on:
            return OmegaConf.to_container(trained_on, resolve=True)
    raise EvalConfigError(
        "no dataset: pass dataset=<frames|mp4|synthetic> dataset.path=... (or fake.run_dir of a run with a config.yaml)"
    )


def native_frame_size(dataset: Any, i: int) -> tuple[int, int]:
    """(width, height) of video ``i``'s first frame as stored, before any resizing."""
    from benchmarks.data.frames import FramesDataset
    from benchmarks.data.video_files import VideoFilesDataset, open_video

    if isinstance(dataset, FramesDataset):
        return dataset.frame_size(i, 0)  # from the image header, as stored
    if isinstance(dataset, VideoFilesDataset):
        container = open_video(dataset.video_file(i))
        try:
            stream = container.streams.video[0]
            return int(stream.codec_context.width), int(stream.codec_context.height)
        finally:
            container.close()
    frame = dataset.read_frames(i, [0])  # generated on the fly (synthetic): produced at its own resolution
    return int(frame.shape[2]), int(frame.shape[1])


def build_at_own_resolution(spec: dict, what: str, resolution_option: str | None = None) -> Any:
    """Build a dataset at ``spec['resolution']``, or (when it is None or absent) at the frame size it stores.
    ``resolution_option``: how the command spells the setting its refusal of non-square frames suggests."""
    from registry import DATASETS

    spec = dict(spec)
    given = spec.pop("resolution", None)
    if given is not None:
        return DATASETS.build({**spec, "resolution": int(given)})
    probe = DATASETS.build(spec)
    if len(probe) == 0:
        raise EvalInputError(f"{what}: no videos in {spec.get('path', spec.get('_name_'))}")
    w, h = native_frame_size(probe, 0)
    if w != h:
        raise EvalInputError(
            f"{what}: frames of '{probe.video_name(0)}' are {w}x{h}, not square; pass "
            f"{resolution_option or what + '.resolution=R'} to resize "
            "the shorter side to R and centre-crop"
        )
    return probe if probe.resolution == w else DATASETS.build({**spec, "resolution": w})


def check_fake_folder(dataset: Any, path: str | Path, resolution: int) -> None:
    """Every generated video must have square frames of ``resolution``: refuse otherwise, naming the odd videos."""
    sizes = {dataset.video_name(i): native_frame_size(dataset, i) for i in range(len(dataset))}
    counts = Counter(sizes.values())
    if len(counts) > 1:
        common = counts.most_common(1)[0][0]
        odd = [f"'{name}' ({w}x{h})" for name, (w, h) in sizes.items() if (w, h) != common]
        raise EvalInputError(
            f"fake.videos: '{path}' mixes frame sizes: most videos are {common[0]}x{common[1]} but "
            f"{', '.join(odd[:5])}{f' and {len(odd) - 5} more' if len(odd) > 5 else ''} differ; "
            "remove them (a preview or grid video?) so every generated video counts at one size"
        )
    ((w, h),) = counts
    if w != h:  # dataset.resolution is one side: no value of it makes real frames of this shape
        raise EvalInputError(
            f"fake.videos: '{path}' holds {w}x{h} videos, but metrics compare square frames (the real data is "
            f"evaluated at {resolution}x{resolution}); make the generated videos square, e.g. "
            f"`sgvb convert {path} fake.zip --resolution {resolution}` (a centre crop), and pass fake.videos=fake.zip"
        )
    if (w, h) != (resolution, resolution):
        raise EvalInputError(
            f"fake.videos: '{path}' holds {w}x{h} videos but the real data is evaluated at {resolution}x{resolution}; "
            "real and fake must have one resolution "
            f"(pass dataset.resolution={w} if the real data should be resized to it)"
        )
