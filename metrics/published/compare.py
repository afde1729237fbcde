"""Every published FVD protocol on the same real and fake folders in one pass, and what differs between them.

Features are computed once per (backbone, dataset, clip, loader step, detector step): protocols that draw the same
clip through the same pixels share it (StyleGAN-V and its 4-clip variant share every fake clip; DIGAN's ten draws
reuse every chunk drawn before; the curve reuses nothing but costs one pass per length, as in the published code).
Each protocol's result is a ``metrics.records.MetricRecord`` (metric ``fvd_<protocol>``) with the protocol's id,
definition and counts.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import numpy as np
import torch

from .. import sources
from ..detectors import TorchScriptDetector, load_detector
from ..evaluation import run_seed, versions
from ..i3d import InceptionI3d
from ..records import MetricRecord
from ..sources import Clip
from . import clips as clip_rules
from . import estimators, pixels
from .protocols import PROTOCOLS, PublishedProtocol, check_clip_length, get_protocol

PROTOCOL_VERSION = 1


class Network:
    """A detector as the protocols call it: ``official`` (uint8 in, the detector's own pixels) or bare (float
    ``[B, 3, T, S, S]`` in the protocol's range, S = ``size``)."""

    def __init__(self, detector):
        self.detector = detector
        self.size = int(detector.input_resolution)
        self.key = detector.identity

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, step: str) -> torch.Tensor:
        if step == "official":
            return self.detector(x.contiguous())
        det = self.detector
        if isinstance(det, TorchScriptDetector):  # common_metrics: rescale=False, resize=False on [-1, 1] floats
            out = det.module(x.contiguous(), rescale=False, resize=False, return_features=True)
            return out.reshape(x.shape[0], -1).float()
        model = getattr(det, "model", None)
        if isinstance(model, InceptionI3d):
            return model(x.contiguous()).float()
        raise ValueError(
            f"detector step '{step}' feeds a bare I3D network; detector '{det.name}' has none (use an I3D backbone)"
        )


class FeatureStore:
    """Features per (network, dataset, loader, step, clip), computed once and shared by every protocol."""

    def __init__(self, *, device: torch.device, batch_size: int = 8, num_threads: int = 2):
        self.device, self.batch_size, self.num_threads = device, int(batch_size), int(num_threads)
        self.memo: dict[tuple, torch.Tensor] = {}
        self.computed = 0  # clips run through a network
        self.requested = 0  # clips the protocols asked for (the sharing saves the difference)

    def features(
        self,
        net: Network,
        dataset,
        picked: Sequence[Clip],
        *,
        loader: str,
        step: str,
        loader_resolution: int | None = None,
    ) -> torch.Tensor:
        """Features ``[len(picked), d]``; ``loader_resolution``: the loader's R (None: the dataset's own)."""
        resolution = int(loader_resolution or dataset.resolution)
        if loader in pixels.IDENTITY_AT_RESOLUTION and resolution == int(dataset.resolution):
            loader = "none"  # our datasets yield square frames at their resolution: nothing to do
        base = (net.key, id(dataset), loader, step, resolution)
        self.requested += len(picked)
        missing = list(dict.fromkeys(c for c in picked if (*base, c) not in self.memo))
        # clips of one length per batch (the curve truncates clips; a batch must stack)
        by_length: dict[int, list[Clip]] = {}
        for c in missing:
            by_length.setdefault(len(c.frames), []).append(c)
        for group in by_length.values():
            batches = sources.iter_dataset_batches(
                dataset, group, batch_size=self.batch_size, device=self.device, num_threads=self.num_threads
            )
            for start, x in zip(range(0, len(group), self.batch_size), batches):  # x: uint8 [B, 3, T, H, W]
                x = pixels.LOADERS[loader](x, resolution)
                feats = net(pixels.DETECTOR_STEPS[step](x, net.size), step).float().cpu()
                for clip, row in zip(group[start : start + self.batch_size], feats):
                    self.memo[(*base, clip)] = row
                self.computed += len(feats)
        return torch.stack([self.memo[(*base, c)] for c in picked])


@dataclasses.dataclass
class ProtocolResult:
    """One protocol's value (mean over its draws), each draw's value, counts, and the FVD-vs-length curve if any."""

    protocol: PublishedProtocol
    value: float
    values: list[float]
    num_real: int
    num_fake: int
    stand_in: bool
    detector: str
    curve: dict[int, float] | None = None
    seconds: float = 0.0

    @property
    def std(self) -> float:
        return float(np.std(self.values)) if len(self.values) > 1 else 0.0

    def record(self, *, seed: int, real_fingerprint: str | None = None) -> MetricRecord:
        p = self.protocol
        protocol = {
            "protocol_id": p.protocol_id,
            "protocol_hash": p.protocol_id.split("/")[-1],
            "protocol_version": PROTOCOL_VERSION,
            "stand_in": self.stand_in,
            "implementation": p.implementation,
            "definition": p.definition(),
            "aspects": p.describe(),
            "detector": self.detector,
            "num_real": self.num_real,
            "num_fake": self.num_fake,
            "seed": seed,
            "fake_source": "videos",
        }
        if self.curve is not None:
            protocol["curve"] = {str(k): v for k, v in self.curve.items()}
        runs = [{"seed": run_seed(seed, t), "value": v} for t, v in enumerate(self.values)] if p.trials > 1 else None
        return MetricRecord(
            metric=f"fvd_{p.name}",
            value=self.value,
            results={f"fvd_{p.name}": self.value},
            protocol=protocol,
            wall_time_s=self.seconds,
            versions=versions(),
            real_fingerprint=real_fingerprint,
            value_std=self.std if p.trials > 1 else None,
            runs=runs,
        )


@dataclasses.dataclass
class ComparisonResult:
    results: list[ProtocolResult]
    clips_computed: int
    clips_requested: int
    seconds: float

    def by_name(self) -> dict[str, ProtocolResult]:
        return {r.protocol.name: r for r in self.results}


def differences(a: PublishedProtocol, b: PublishedProtocol) -> list[str]:
    """The aspects (``PublishedProtocol.describe``) in which ``a`` and ``b`` differ."""
    da, db = a.describe(), b.describe()
    return [k for k in da if da[k] != db[k]]


def comparable(a: PublishedProtocol, b: PublishedProtocol) -> str | None:
    """None when both values live in one feature space; else why they cannot be compared."""
    if a.backbone == b.backbone:
        return None
    i3ds = {"i3d", "i3d_pytorch"}
    if {a.backbone, b.backbone} <= i3ds:
        return (
            f"different I3D files ({a.backbone} vs {b.backbone}): the same TF-Hub weights through two ports, so "
            "the values also differ by the port"
        )
    return f"not comparable: different backbones ({a.backbone} vs {b.backbone}), different feature spaces"


def _real_count(p: PublishedProtocol) -> int | None:
    """Clips on the real side: ``num_videos``, or ``num_real`` when the protocol sets it (None: every video once)."""
    return p.num_videos if p.num_real == "same" else p.num_real  # type: ignore[return-value]


def with_overrides(p: PublishedProtocol, *, num_videos: int | None, trials: int | None) -> PublishedProtocol:
    """``p`` as it is run: another N or number of draws is another protocol (its id and record say so)."""
    changes = {k: int(v) for k, v in (("num_videos", num_videos), ("trials", trials)) if v is not None}
    return dataclasses.replace(p, **changes) if changes else p


def _draw(rule: str, dataset, *, n, num_frames: int, seed: int, options, subsample: int = 1) -> list[Clip]:
    return clip_rules.select(
        rule, dataset, num_videos=n, num_frames=num_frames, subsample=subsample, seed=seed, **dict(options)
    )


def run_protocol(
    p: PublishedProtocol,
    store: FeatureStore,
    networks: dict[str, Network],
    *,
    real,
    fake,
    num_frames: int,
    seed: int = 0,
) -> ProtocolResult:
    """One protocol as it is stated (``with_overrides`` first for another N or number of draws)."""
    start = time.perf_counter()
    net = networks[p.backbone]
    n_real, n_fake = _real_count(p), p.num_videos
    fake_clips = _draw(p.fake_clips, fake, n=n_fake, num_frames=num_frames, seed=seed, options=p.clip_options)
    values, counts = [], (0, 0)
    curve = None
    for t in range(p.trials):
        real_clips = _draw(
            p.real_clips,
            real,
            n=n_real,
            num_frames=num_frames,
            seed=run_seed(seed, t),
            options=p.clip_options,
            subsample=p.real_subsample,
        )
        rf = store.features(
            net, real, real_clips, loader=p.real_loader, step=p.detector_step, loader_resolution=p.loader_resolution
        )
        ff = store.features(net, fake, fake_clips, loader=p.fake_loader, step=p.detector_step)
        values.append(estimators.estimate(p.estimator, ff, rf))
        counts = (len(real_clips), len(fake_clips))
        if p.curve_from is not None and t == 0:
            curve = {}
            for length in range(p.curve_from, num_frames + 1):
                r = store.features(
                    net,
                    real,
                    [Clip(c.video, c.frames[:length]) for c in real_clips],
                    loader=p.real_loader,
                    step=p.detector_step,
                    loader_resolution=p.loader_resolution,
                )
                f = store.features(
                    net,
                    fake,
                    [Clip(c.video, c.frames[:length]) for c in fake_clips],
                    loader=p.fake_loader,
                    step=p.detector_step,
                )
                curve[length] = estimators.estimate(p.estimator, f, r)
    det = net.detector
    return ProtocolResult(
        protocol=p,
        value=float(np.mean(values)),
        values=[float(v) for v in values],
        num_real=counts[0],
        num_fake=counts[1],
        stand_in=bool(det.stand_in),
        detector=det.name,
        curve=curve,
        seconds=time.perf_counter() - start,
    )


def load_networks(
    names: Sequence[str], *, device, detector_path=None, allow_stand_in: bool = False, stand_in_resolution=None
) -> dict[str, Network]:
    extra = {"stand_in_resolution": int(stand_in_resolution)} if stand_in_resolution else {}
    return {
        n: Network(load_detector(n, path=detector_path, device=device, allow_stand_in=allow_stand_in, **extra))
        for n in dict.fromkeys(names)
    }


def compare_protocols(
    real,
    fake,
    *,
    protocols: Sequence[str] | None = None,
    num_frames: int = 16,
    num_videos: int | None = None,
    trials: int | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
    detector_path=None,
    allow_stand_in: bool = False,
    stand_in_resolution: int | None = None,
    batch_size: int = 8,
) -> ComparisonResult:
    """Run ``protocols`` (default: all of ``PROTOCOLS``) on ``real`` and ``fake`` (video datasets at one resolution),
    sharing features. ``num_videos`` / ``trials`` override every protocol's own (small data, quick looks)."""
    if int(real.resolution) != int(fake.resolution):
        raise ValueError(
            f"real ({real.resolution}px) and fake ({fake.resolution}px) videos must have one resolution; build both "
            "datasets at the same dataset.resolution"
        )
    chosen = [
        with_overrides(get_protocol(n), num_videos=num_videos, trials=trials) for n in (protocols or list(PROTOCOLS))
    ]
    for p in chosen:
        check_clip_length(p, num_frames)
    device = torch.device(device)
    networks = load_networks(
        [p.backbone for p in chosen],
        device=device,
        detector_path=detector_path,
        allow_stand_in=allow_stand_in,
        stand_in_resolution=stand_in_resolution,
    )
    store = FeatureStore(device=device, batch_size=batch_size)
    start = time.perf_counter()
    results = [run_protocol(p, store, networks, real=real, fake=fake, num_frames=num_frames, seed=seed) for p in chosen]
    return ComparisonResult(results, store.computed, store.requested, time.perf_counter() - start)
