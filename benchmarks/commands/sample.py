"""``sgvb sample``: render videos from a checkpoint at any length, frame rate and time step.

Each seed fixes one video (content code and motion randomness), so ``seeds=[3]`` reproduces the
fourth video of ``seeds=[0,1,2,3]``. ``out_dir`` holds only the per-seed videos, so it can be passed to
``sgvb eval fake.videos=...`` as is; the tiled preview goes next to it (``<out_dir>-preview.mp4``).
Frames are rendered ``chunk_size`` at a time, so memory does not grow with ``num_frames``; fractional
``time_step`` (slow motion) needs a continuous-time generator.
"""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig

import benchmarks.conf  # noqa: F401  (registers the typed schemas)
from benchmarks.config.commands import SampleConfig, typed_settings
from benchmarks.errors import one_line_errors
from registry import RegistryError

DEFAULTS = SampleConfig  # every option's default, written once in the schema (the CLI and the Python API share them)

# bad options, missing or unreadable checkpoints, a checkpoint naming a component nothing registers (a missing plugin),
# an unsafe pickle refused by the safe reader
KNOWN_ERRORS = (FileNotFoundError, ValueError, RegistryError, pickle.UnpicklingError)


def sample_videos(
    checkpoint: str | Path,
    *,
    out_dir: str | Path | None = DEFAULTS.out_dir,
    format: str = DEFAULTS.format,
    seeds: Sequence[int] = DEFAULTS.seeds,
    num_frames: int = DEFAULTS.num_frames,
    time_step: float = DEFAULTS.time_step,
    time_offset: float = DEFAULTS.time_offset,
    fps: float = DEFAULTS.fps,
    truncation_psi: float = DEFAULTS.truncation_psi,
    preview: bool = DEFAULTS.preview,
    preview_path: str | Path | None = DEFAULTS.preview_path,
    ema: bool = DEFAULTS.ema,
    chunk_size: int = DEFAULTS.chunk_size,
    device: Any = DEFAULTS.device,
    noise: str = DEFAULTS.noise,
    num_videos: int | None = DEFAULTS.num_videos,
    batch_size: int = DEFAULTS.batch_size,
    progress: bool = DEFAULTS.progress,
) -> list[Path]:
    from benchmarks.progress import steps
    from benchmarks.records.checkpoint import load_generator_and_kimg, resolve_checkpoint_path
    from benchmarks.training.samples import frame_times, render
    from benchmarks.training.video_io import video_grid, write_video
    from registry.devices import resolve_device
    from registry.files import kimg_tag

    fmt = str(format).lower()
    if fmt not in ("mp4", "gif", "frames"):
        raise ValueError(f"format must be mp4, gif or frames, got {format!r}")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds is empty: give at least one, e.g. seeds=[0]")
    if num_videos is not None and noise == "default":
        seeds = videos_of(seeds, int(num_videos))
    path = resolve_checkpoint_path(checkpoint)
    device = resolve_device(device)
    G, kimg = load_generator_and_kimg(path, device=device, ema=ema)
    integer = not bool(getattr(G, "continuous_time", True))
    t = frame_times(num_frames, batch_size=1, time_step=time_step, time_offset=time_offset, integer=integer)
    if out_dir is None and path.suffix == ".pkl":  # official network pickle: samples next to it
        out_dir = path.parent / "samples" / path.stem
    if out_dir is None:
        run_dir = path.parent.parent if path.parent.name == "checkpoints" else path.parent
        # the checkpoint's exact kimg (ckpt-000001.848.pt -> sample-000001.848): one state, one folder
        out_dir = run_dir / "samples" / (f"sample-{kimg_tag(kimg)}" if kimg is not None else f"sample-{path.stem}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = {"mp4": ".mp4", "gif": ".gif", "frames": ""}[fmt]
    written, videos = [], []
    # --- noise=official: generate.py's draws (stylegan_v.official_noise);
    # video i of seeds=[S] num_videos=N batch_size=B
    if noise != "default":
        from stylegan_v.official_noise import official_sample_plan

        draws = official_sample_plan(
            G,
            noise=noise,
            seeds=seeds,
            num_videos=num_videos,
            batch_size=batch_size,
            max_t=float(t.max()),
            device=device,
        )
    else:
        draws = (
            (seed, G.sample_z(1, generator=torch.Generator().manual_seed(seed), device=device), None) for seed in seeds
        )
    # progress: every frame rendered (a 1024-frame video takes minutes), over all the videos
    count = len(seeds) if noise == "default" else int(num_videos or 1)
    counter = steps("sample", count * int(t.shape[-1]), "frames", enabled=progress)
    try:
        for seed, z, motion in draws:  # --- end noise=official
            video = render(
                G,
                z,
                t,
                truncation_psi=truncation_psi,
                chunk_size=chunk_size,
                generator=torch.Generator().manual_seed(seed + 1_000_003),
                motion_noise=motion,
                on_frames=counter.update if counter is not None else None,
            )
            videos.append(video)
            written.append(write_video(out_dir / f"seed{seed:04d}{suffix}", video[0].numpy(), fps))
    finally:
        if counter is not None:
            counter.close()
    if preview and len(videos) > 1:
        target = preview_file(out_dir, fmt, preview_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        written.append(write_video(target, video_grid(torch.cat(videos)), fps))
    return written


def videos_of(seeds: list[int], num_videos: int) -> list[int]:
    """The seeds of ``num_videos`` videos (noise=default): the first ``num_videos`` of ``seeds``, or ``num_videos``
    consecutive seeds from a single one (``seeds=[7] num_videos=3``: 7, 8, 9); anything else is refused."""
    if num_videos < 1:
        raise ValueError(f"num_videos={num_videos}: give at least 1")
    if len(seeds) >= num_videos:
        return seeds[:num_videos]
    if len(seeds) == 1:
        return list(range(seeds[0], seeds[0] + num_videos))
    raise ValueError(
        f"num_videos={num_videos} but seeds lists {len(seeds)}: give {num_videos} seeds, or one seed to count from"
    )


def preview_file(out_dir: Path, fmt: str, preview_path: str | Path | None = None) -> Path:
    """Where the tiled preview goes: never inside ``out_dir`` (eval would count it as a generated video)."""
    suffix = {"mp4": ".mp4", "gif": ".gif", "frames": ""}[fmt]
    target = Path(preview_path) if preview_path is not None else out_dir.parent / f"{out_dir.name}-preview{suffix}"
    if target.resolve().is_relative_to(out_dir.resolve()):
        raise ValueError(
            f"preview_path '{target}' is inside out_dir '{out_dir}'; `sgvb eval fake.videos=` would count it as a video"
        )
    return target


@hydra.main(version_base="1.3", config_path="../conf", config_name="sample")
def main(cfg: DictConfig) -> int:
    with one_line_errors("sample", known=KNOWN_ERRORS):  # details in a temp file: out_dir is for videos only
        settings = typed_settings(cfg, SampleConfig)  # a missing checkpoint= fails here, naming the key
        if settings.cpu_threads:
            torch.set_num_threads(settings.cpu_threads)
        kwargs = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings) if f.name != "cpu_threads"}
        written = sample_videos(**kwargs)
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    main()
