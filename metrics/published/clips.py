"""Which clips each published implementation feeds its detector, as rules over one of our video datasets.

Every rule returns ``metrics.sources.Clip``s (video index, frame indices) so the feature cache can share a clip's
features between protocols that pick the same one. Rules (T frames taken every ``subsample``, span = T * subsample):

* ``stylegan_v``: StyleGAN-V's official selection (``sources.select_real_clips`` in official mode): one clip at a
  seeded ``random.Random`` offset from each of the first N videos at least ``span`` long.
* ``k_per_video``: stylegan-v issue #37's real set: up to ``k`` non-overlapping chunks of ``chunk`` frames per video
  (offsets 0, chunk, 2 chunk, ...; the tail that does not fill a chunk is dropped), the first T frames of each
  chunk, videos in order, the first N chunks.
* ``all_windows``: TATS and VideoGPT load clips through torchvision's ``VideoClips`` (one clip per start frame,
  ``frames_between_clips=1``) and a shuffled loader over *clips*: every window of every video is equally likely,
  so long videos weigh more. N windows drawn without replacement.
* ``chunks``: DIGAN's ``make_imageclip_dataset``: every video cut into consecutive non-overlapping T-frame chunks
  (frames 0..T-1, T..2T-1, ...; the incomplete tail dropped), shuffled, the first N.
* ``cdfvd_loader``: cd-fvd's ``VideoDataset`` (video files): the videos in a shuffled order, one uniformly random
  clip of ``span`` frames each (``random.randint`` over the ``len - span + 1`` starts), passes repeated until N
  (``n_fake=2048`` re-draws videos with new offsets; ``n_real='full'``: one pass, N = the number of videos).
* ``first_frames``: the first ``span`` frames of the first N long-enough videos (fakes of every protocol read from
  a folder; both sides of common_metrics_on_video_quality, which takes the tensors it is given).

The shuffles of the published code run in DataLoader workers (unseeded per worker); here every rule is seeded
from ``seed`` so a comparison is reproducible. Which clips are drawn follows each rule's distribution, not their
RNG stream.
"""

from __future__ import annotations

import numpy as np

from .. import sources
from ..sources import Clip


def _frames(offset: int, num_frames: int, subsample: int) -> tuple[int, ...]:
    return tuple(range(offset, offset + num_frames * subsample, subsample))


def _long_enough(dataset, span: int) -> list[int]:
    videos = [i for i in range(len(dataset)) if dataset.video_length(i) >= span]
    if not videos:
        raise ValueError(f"no video in {type(dataset).__name__} has the {span} frames this protocol needs")
    return videos


def stylegan_v(dataset, *, num_videos: int, num_frames: int, subsample: int = 1, seed: int = 0, **_) -> list[Clip]:
    return sources.select_real_clips(
        dataset, num_videos=num_videos, num_frames=num_frames, subsample=subsample, seed=seed, mode="official"
    )


def k_per_video(
    dataset, *, num_videos: int, num_frames: int, subsample: int = 1, k: int = 4, chunk: int = 128, **_
) -> list[Clip]:
    span = num_frames * subsample
    chunk = max(int(chunk), span)
    clips = []
    for i in _long_enough(dataset, span):
        for j in range(min(int(k), dataset.video_length(i) // chunk)):
            clips.append(Clip(i, _frames(j * chunk, num_frames, subsample)))
            if len(clips) == num_videos:
                return clips
    if not clips:
        raise ValueError(f"no video in {type(dataset).__name__} has the {chunk}-frame chunk this clip rule takes")
    return clips


def all_windows(dataset, *, num_videos: int, num_frames: int, subsample: int = 1, seed: int = 0, **_) -> list[Clip]:
    span = num_frames * subsample
    videos = _long_enough(dataset, span)
    starts = np.array([dataset.video_length(i) - span + 1 for i in videos])  # windows per video
    total = int(starts.sum())
    picks = np.random.default_rng([seed, 1]).permutation(total)[:num_videos]  # windows without replacement
    bounds = np.cumsum(starts)
    clips = []
    for p in picks:
        v = int(np.searchsorted(bounds, p, side="right"))
        offset = int(p - (bounds[v] - starts[v]))
        clips.append(Clip(videos[v], _frames(offset, num_frames, subsample)))
    return clips


def chunks(dataset, *, num_videos: int, num_frames: int, subsample: int = 1, seed: int = 0, **_) -> list[Clip]:
    span = num_frames * subsample
    every = [
        Clip(i, _frames(j * span, num_frames, subsample))
        for i in range(len(dataset))
        for j in range(dataset.video_length(i) // span)
    ]
    if not every:
        raise ValueError(f"no video in {type(dataset).__name__} has the {span} frames this protocol needs")
    order = np.random.default_rng([seed, 2]).permutation(len(every))[:num_videos]
    return [every[int(o)] for o in order]


def cdfvd_loader(
    dataset, *, num_videos: int | None, num_frames: int, subsample: int = 1, seed: int = 0, **_
) -> list[Clip]:
    """``num_videos=None``: cd-fvd's ``n_real='full'`` (one pass over the folder)."""
    span = num_frames * subsample
    videos = _long_enough(dataset, span)
    want = len(videos) if num_videos is None else int(num_videos)
    rng = np.random.default_rng([seed, 3])
    clips: list[Clip] = []
    while len(clips) < want:
        for v in rng.permutation(len(videos)):
            i = videos[int(v)]
            offset = int(rng.integers(0, dataset.video_length(i) - span + 1))
            clips.append(Clip(i, _frames(offset, num_frames, subsample)))
            if len(clips) == want:
                break
    return clips


def first_frames(dataset, *, num_videos: int, num_frames: int, subsample: int = 1, **_) -> list[Clip]:
    return [Clip(i, _frames(0, num_frames, subsample)) for i in _long_enough(dataset, num_frames * subsample)][
        :num_videos
    ]


RULES = {
    "stylegan_v": stylegan_v,
    "k_per_video": k_per_video,
    "all_windows": all_windows,
    "chunks": chunks,
    "cdfvd_loader": cdfvd_loader,
    "first_frames": first_frames,
}

# What each rule is, in the words the comparison table prints.
DESCRIPTIONS = {
    "stylegan_v": "1 random-offset clip per video (first N videos, python random)",
    "k_per_video": "up to k non-overlapping chunks per video, first T frames of each",
    "all_windows": "uniform over all windows of all videos (VideoClips step 1)",
    "chunks": "shuffled non-overlapping T-frame chunks",
    "cdfvd_loader": "shuffled videos, 1 random clip each, repeated until N",
    "first_frames": "first T frames of the first N videos",
}


def select(rule: str, dataset, **kwargs) -> list[Clip]:
    try:
        fn = RULES[rule]
    except KeyError:
        raise ValueError(f"unknown clip rule {rule!r}; known: {', '.join(RULES)}") from None
    return fn(dataset, **kwargs)
