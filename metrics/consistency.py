"""Long-video consistency score (LVC): how a model's videos change over long horizons, relative to real videos.

Definition
----------
Every frame x_t of a video (t = 0..T-1, T = 128 by default, up to 1024+) is embedded with DINO ViT-S/16
(CLS token, whole frame resized to 224², L2-normalised): f_t. For each video v and lag Δ the
*dissimilarity profile* is D_v(Δ) = mean_t [1 - cos(f_t, f_{t+Δ})]; D(Δ) is its mean over videos. The
same profile is measured on real clips of the same length and frame spacing from the same dataset (one
random-offset clip from each of the first N long-enough videos, as for FVD), so the dataset's own,
legitimate change over time is the target, not "no change".

    LVC = min(1, [ Σ_{Δ=1}^{T-1} w_Δ |D_gen(Δ) - D_real(Δ)|  +  max(0, R_gen - R_real) ]
                 / Σ_Δ w_Δ max(D_gen(Δ), D_real(Δ))),
    w_Δ ∝ 1/Δ

Lower is better; 0 = the generated videos change over time exactly as real ones do. The error is relative
to the *larger* of the two amounts of change, so both failure directions are bounded by 1: **a frozen
video scores exactly 1** (it misses all of the data's change), a video changing twice as much as the
data scores 0.5, and one whose frames are unrelated approaches 1 from below; nothing scores worse than
no change at all (the cap at 1 is reached only by frozen videos, loops so short they are nearly frozen,
and the limit of unbounded change). The 1/Δ weights give every octave of lags (1-2, 2-4, ..., 64-128
frames) equal weight, so short-term smoothness and long-range drift count equally. R is the *loop
rebound* of the mean profile: the largest drop of D(Δ) below its running maximum over Δ ≤ T/2 (content
that comes back after it had changed). Real videos decorrelate roughly monotonically; a video that
loops or oscillates (a known StyleGAN-V failure mode) returns to earlier content and rebounds; only an
excess over the data's own rebound is penalised. (Per-video rebounds are kept in the statistics and
curves; the score uses the mean profile's, since incoherent videos' single profiles rebound by chance.)

What it sees and what it cannot (validated with ``sgvb audit``, README "Metric audit"): it rises with
every change of frame order or timing; it cannot see a time reversal of a whole video (every frame-pair
distance is kept: the profile is symmetric in time); and a per-frame change that moves all the
detector's features closer together or apart (blur, noise) changes D at every lag, which LVC reports as
too little or too much change: it measures change *in the detector's feature space*.

Why this design: one embedding pass per frame and an FFT autocorrelation keep 1024-frame videos cheap
(frames are rendered and embedded chunk by chunk, constant memory); lags separate short-term from
long-range behaviour and, unlike similarity to the first frame, no single bad frame dominates;
referencing real clips removes the dataset's natural drift; every statistic is a sum over videos, so
shards, processes and the real-data cache combine exactly.

Sub-scores in ``results`` (``<name>_<key>``), all relative to real data:
  * ``short`` = D_gen(1) / D_real(1) - 1: < 0 too static, > 0 flicker;
  * ``long``  = mean_{Δ ≥ T/4} D_gen / mean_{Δ ≥ T/4} D_real - 1: < 0 too static/repetitive, > 0 drifts more
    than the data;
  * ``under`` and ``over``: the parts of the profile term where generated videos change less / more than real ones;
  * ``loop``  = (R_gen - R_real) in LVC units;
  * ``jump_p99`` (and ``jump_p99_real``) = 99th percentile of the step dissimilarity 1 - cos(f_t, f_{t+1})
    divided by D_real(1): single-frame jumps;
  * a windowed Fréchet drift: Fréchet distance of generated frames in each of 8 consecutive windows to
    all real frames (DINO features): ``fd_first``, ``fd_last``, ``fd_drift`` = fd_last - fd_first
    (quality degrading over time, which the profile cannot see);
  * ``v_real`` (``v_gen``) = 1 - ||mean f||²: how different two random real (generated) frames are (diversity).
The per-lag and per-time curves (and their real counterparts) are saved as ``metric-<name>/<tag>.npz``
with a PNG plot next to the metric's JSONL.
"""

from __future__ import annotations

import collections
import hashlib
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from einops import rearrange

from registry import METRICS

from . import sources
from .base import (
    EvalContext,
    Metric,
    MetricOutput,
    check_same_resolution,
    detector_protocol,
    is_dataset,
    is_generator,
    name_pattern,
    parse_count,
    preset,
)
from .distributed import all_reduce_
from .stats import FeatureStats, frechet_distance

# Histogram of 1 - cos(f_t, f_t+1) on log-spaced bins from 1e-12 to 2 (mergeable percentiles at ~1% resolution).
STEP_EDGES = torch.logspace(-12, math.log10(2.0), 2401, dtype=torch.float64)


def lag_profiles(features: torch.Tensor) -> torch.Tensor:
    """c_v(Δ) for Δ = 0..T-1 from L2-normalised features ``[B, T, d]`` by FFT autocorrelation -> ``[B, T]``."""
    b, t, d = features.shape
    f = features.to(torch.float64)
    spec = torch.fft.rfft(f, n=2 * t, dim=1)  # [B, T+1, d]
    power = (spec * spec.conj()).real.sum(-1)  # [B, T+1]: Σ over feature dims
    corr = torch.fft.irfft(power, n=2 * t, dim=1)[:, :t]  # Σ_t f_t · f_{t+Δ}, [B, T]
    pairs = torch.arange(t, 0, -1, dtype=torch.float64, device=f.device)  # T - Δ
    return corr / pairs


def loop_rebound(profiles: torch.Tensor) -> torch.Tensor:
    """Per video: max over Δ ≤ T/2 of c(Δ) - min_{Δ' ≤ Δ} c(Δ') for similarity profiles c -> ``[B]``.

    Equal to the drop of the dissimilarity 1 - c below its running maximum; 0 for a monotone profile.
    """
    half = profiles[:, 1 : profiles.shape[1] // 2 + 1]
    running_min = torch.cummin(half, dim=1).values
    return (half - running_min).amax(dim=1)


class ConsistencyAccumulator:
    """Mergeable float64 sums of one side's statistics (so shards and processes combine by addition)."""

    def __init__(self, num_frames: int, num_windows: int, dim: int, device: torch.device):
        z = lambda *shape: torch.zeros(*shape, dtype=torch.float64, device=device)  # noqa: E731
        self.num_frames, self.num_windows = num_frames, num_windows
        self.sums = {
            "n": z(()),
            "lag_sum": z(num_frames),
            "lag_sq": z(num_frames),
            "anchor_sum": z(num_frames),
            "anchor_sq": z(num_frames),
            "rebound_sum": z(()),
            "rebound_sq": z(()),
            "step_hist": z(len(STEP_EDGES) + 1),
            "unit_sum": z(dim),
            "win_n": z(num_windows),
            "win_sum": z(num_windows, dim),
            "win_outer": z(num_windows, dim, dim),
        }

    def update(self, features: torch.Tensor) -> None:
        """Features ``[B, T, d]`` of whole videos."""
        f = torch.nn.functional.normalize(features.to(torch.float64), dim=-1)
        s = self.sums
        prof = lag_profiles(f)
        anchor = (f[:, :1] * f).sum(-1)  # cos(f_0, f_t), [B, T]
        reb = loop_rebound(prof)
        step = (1 - (f[:, 1:] * f[:, :-1]).sum(-1)).clamp(0, 2).reshape(-1)
        s["n"] += f.shape[0]
        s["lag_sum"] += prof.sum(0)
        s["lag_sq"] += (prof**2).sum(0)
        s["anchor_sum"] += anchor.sum(0)
        s["anchor_sq"] += (anchor**2).sum(0)
        s["rebound_sum"] += reb.sum()
        s["rebound_sq"] += (reb**2).sum()
        bins = torch.bucketize(step, STEP_EDGES.to(step.device))
        s["step_hist"] += torch.bincount(bins, minlength=len(STEP_EDGES) + 1).to(torch.float64)
        s["unit_sum"] += f.sum(dim=(0, 1))
        raw = rearrange(
            features.to(torch.float64), "b (k w) d -> k (b w) d", k=self.num_windows
        )  # frames of each window
        s["win_n"] += raw.shape[1]
        s["win_sum"] += raw.sum(1)
        s["win_outer"] += torch.einsum("kni,knj->kij", raw, raw)


def _window_stats(arrays: dict[str, np.ndarray], k: int | None) -> FeatureStats:
    """FeatureStats of window k, or of all windows pooled (k=None)."""
    if k is None:
        state = {"n": arrays["win_n"].sum(), "sum": arrays["win_sum"].sum(0), "sum_outer": arrays["win_outer"].sum(0)}
    else:
        state = {"n": arrays["win_n"][k], "sum": arrays["win_sum"][k], "sum_outer": arrays["win_outer"][k]}
    return FeatureStats.from_state_dict(state)


def _percentile(hist: np.ndarray, q: float) -> float:
    """Upper edge of the bin holding quantile ``q`` of the step histogram."""
    cdf = np.cumsum(hist) / max(hist.sum(), 1)
    idx = int(np.searchsorted(cdf, q))
    edges = STEP_EDGES.numpy()
    return float(edges[min(idx, len(edges) - 1)]) if idx > 0 else 0.0


def diversity(sums: dict[str, np.ndarray], num_frames: int) -> float:
    """v = 1 - ||mean f||²: the mean 1 - cos of two independent frames of one side (its content variety)."""
    unit_mean = sums["unit_sum"] / (float(sums["n"]) * num_frames)
    return float(1.0 - unit_mean @ unit_mean)


def window_distances(sums: dict[str, np.ndarray], mu_r, cov_r, *, unbiased: bool) -> np.ndarray:
    """Fréchet distance of each window of one side's frames to all real frames ``[num_windows]``."""
    values = []
    for k in range(sums["win_n"].shape[0]):
        mu, cov = _window_stats(sums, k).mean_cov(unbiased=unbiased)
        values.append(frechet_distance(mu, cov, mu_r, cov_r))
    return np.asarray(values)


_REAL_WINDOWS: collections.OrderedDict[tuple, tuple] = collections.OrderedDict()


def real_windows(real: dict[str, np.ndarray], *, unbiased: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(μ, Σ of all real frames, the real windows' Fréchet distances to them): a function of the real sums alone,
    computed once per content and kept (small LRU), as the real statistics themselves are cached."""
    digest = hashlib.blake2b(digest_size=16)
    for key in ("win_n", "win_sum", "win_outer"):
        digest.update(np.ascontiguousarray(real[key], np.float64).tobytes())
    key = (digest.hexdigest(), bool(unbiased))
    if key not in _REAL_WINDOWS:
        mu_r, cov_r = _window_stats(real, None).mean_cov(unbiased=unbiased)
        _REAL_WINDOWS[key] = (mu_r, cov_r, window_distances(real, mu_r, cov_r, unbiased=unbiased))
        while len(_REAL_WINDOWS) > 4:
            _REAL_WINDOWS.popitem(last=False)
    _REAL_WINDOWS.move_to_end(key)
    return _REAL_WINDOWS[key]


def summarize(
    gen: dict[str, np.ndarray], real: dict[str, np.ndarray], *, unbiased: bool = True
) -> tuple[float, dict[str, float], dict[str, np.ndarray]]:
    """Headline LVC, sub-scores and curves from the two sides' summed statistics."""
    t = gen["lag_sum"].shape[0]
    curves: dict[str, np.ndarray] = {"lags": np.arange(t), "times": np.arange(t)}
    for side, a in (("gen", gen), ("real", real)):
        n = float(a["n"])
        for key in ("lag", "anchor"):
            mean = a[f"{key}_sum"] / n
            curves[f"{key}_{side}"] = mean
            curves[f"{key}_{side}_std"] = np.sqrt(np.clip(a[f"{key}_sq"] / n - mean**2, 0, None))
        curves[f"rebound_{side}"] = np.asarray(a["rebound_sum"] / n)
    v_gen, v_real = diversity(gen, t), diversity(real, t)
    d_gen, d_real = 1.0 - curves["lag_gen"][1:], 1.0 - curves["lag_real"][1:]  # dissimilarity profiles, Δ = 1..T-1
    lags = np.arange(1, t)
    w = 1.0 / lags
    w /= w.sum()
    if float((w * d_real).sum()) <= 1e-12:
        raise ValueError(
            "consistency: the real clips do not change at all over time (frozen dataset?); the score is undefined"
        )
    # relative to the larger of the two amounts of change: too little and too much change are both bounded by 1
    scale = float((w * np.maximum(d_gen, d_real)).sum())
    under = float((w * np.clip(d_real - d_gen, 0.0, None)).sum()) / scale
    over = float((w * np.clip(d_gen - d_real, 0.0, None)).sum()) / scale
    # rebound of the mean profiles (per-video profiles of incoherent videos rebound by chance)
    rebound_gen, rebound_real = (
        float(loop_rebound(torch.from_numpy(1.0 - np.concatenate([[0.0], d]))[None])) for d in (d_gen, d_real)
    )
    rebound_excess = (rebound_gen - rebound_real) / scale
    value = min(1.0, under + over + max(0.0, rebound_excess))
    mu_r, cov_r, fd_real = real_windows(real, unbiased=unbiased)
    fd = {"gen": window_distances(gen, mu_r, cov_r, unbiased=unbiased), "real": fd_real.copy()}
    num_windows = gen["win_n"].shape[0]
    curves["fd_window_gen"], curves["fd_window_real"] = fd["gen"], fd["real"]
    curves["window_starts"] = np.arange(num_windows) * (t // num_windows)
    curves["step_hist_gen"], curves["step_hist_real"], curves["step_edges"] = (
        gen["step_hist"],
        real["step_hist"],
        STEP_EDGES.numpy(),
    )
    curves["v_real"], curves["v_gen"], curves["weights"] = (
        np.asarray(v_real),
        np.asarray(v_gen),
        np.concatenate([[0.0], w]),
    )

    long_from = max(1, t // 4)
    results = {
        "short": float(d_gen[0] / max(d_real[0], 1e-12) - 1.0),
        "long": float(d_gen[long_from - 1 :].mean() / max(d_real[long_from - 1 :].mean(), 1e-12) - 1.0),
        "under": under,
        "over": over,
        "loop": rebound_excess,
        "jump_p99": _percentile(gen["step_hist"], 0.99) / max(d_real[0], 1e-12),
        "jump_p99_real": _percentile(real["step_hist"], 0.99) / max(d_real[0], 1e-12),
        "fd_first": float(fd["gen"][0]),
        "fd_last": float(fd["gen"][-1]),
        "fd_drift": float(fd["gen"][-1] - fd["gen"][0]),
        "v_real": v_real,
        "v_gen": v_gen,
    }
    return value, results, curves


def plot_curves(curves: dict[str, np.ndarray], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    lags = curves["lags"][1:]
    for side, color in (("real", "tab:blue"), ("gen", "tab:red")):
        m, s = curves[f"lag_{side}"][1:], curves[f"lag_{side}_std"][1:]
        axes[0].plot(lags, m, color=color, label=side)
        axes[0].fill_between(lags, m - s, m + s, color=color, alpha=0.15)
        m, s = curves[f"anchor_{side}"], curves[f"anchor_{side}_std"]
        axes[1].plot(curves["times"], m, color=color, label=side)
        axes[1].fill_between(curves["times"], m - s, m + s, color=color, alpha=0.15)
        axes[2].plot(curves["window_starts"], curves[f"fd_window_{side}"], "o-", color=color, label=side)
    axes[0].set(
        xscale="log",
        xlabel="lag Δ (frames)",
        ylabel="mean cos(f_t, f_t+Δ)",
        title="self-similarity profile c(Δ) = 1 - D(Δ)",
    )
    axes[1].set(xlabel="frame t", ylabel="cos(f_0, f_t)", title="similarity to the first frame")
    axes[2].set(
        xlabel="window start (frames)", ylabel="Fréchet distance to all real frames", title="windowed Fréchet drift"
    )
    for ax in axes:
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)


@METRICS.register("consistency", aliases=["lvc"])
class LongVideoConsistency(Metric):
    """LVC of ``num_videos`` videos of ``num_frames`` frames (spacing ``subsample``); see the module docstring."""

    value_range = {  # the range of each result key (`<name>_<suffix>`; "" = the headline)
        "": (0.0, 1.0),
        "under": (0.0, 1.0),
        "over": (0.0, 1.0),
        "short": (-1.0, None),
        "long": (-1.0, None),
        "jump_p99": (0.0, None),
        "jump_p99_real": (0.0, None),
        "fd_first": (0.0, None),
        "fd_last": (0.0, None),
        "v_real": (0.0, 1.0),
        "v_gen": (0.0, 1.0),
    }
    # v2 (issue 24): detector inputs made contiguous (DINO features change in the last bits); v3 (issue 25): the real
    # windows' statistics computed once per real side and kept (same numbers as v2)
    PROTOCOL_VERSION = 3

    def __init__(
        self,
        num_videos: int = 256,
        num_frames: int = 128,
        subsample: int = 1,
        num_windows: int = 8,
        chunk_size: int = 16,
        detector: Any = "dino_vits16",
        stand_in_resolution: int | None = None,
    ):
        if num_frames < 2 * num_windows or num_frames % num_windows:
            raise ValueError(
                f"consistency: num_frames ({num_frames}) must be a multiple of num_windows ({num_windows}) "
                "and >= 2 frames per window"
            )
        if num_videos < 2:
            raise ValueError(f"consistency: num_videos must be >= 2, got {num_videos}")
        self.num_videos, self.num_frames, self.subsample = int(num_videos), int(num_frames), int(subsample)
        self.num_windows, self.chunk_size = int(num_windows), int(chunk_size)
        self.detector_spec, self.stand_in_resolution = detector, stand_in_resolution
        self.name = (
            f"consistency{self.num_frames}f"
            if self.num_videos == 256
            else f"consistency{self.num_videos}_{self.num_frames}f"
        ) + (f"_subsample{self.subsample}f" if self.subsample > 1 else "")

    def _embed(self, detector, chunks) -> torch.Tensor:
        """Per-frame features ``[B, T, d]`` of one batch of videos, given its uint8 chunks ``[B, 3, t, H, W]``."""
        pieces = []
        for chunk in chunks:
            b = chunk.shape[0]
            feats = detector(rearrange(chunk, "b c t h w -> (b t) c h w"))
            pieces.append(rearrange(feats, "(b t) d -> b t d", b=b))
        return torch.cat(pieces, dim=1)

    def _dataset_chunks(self, dataset, clips, ctx: EvalContext):
        batch = self._videos_per_batch(ctx)
        for i in range(0, len(clips), batch):
            group = clips[i : i + batch]

            def chunks(group=group):
                for s in range(0, self.num_frames, self.chunk_size):
                    pieces = [sources.Clip(c.video, c.frames[s : s + self.chunk_size]) for c in group]
                    yield next(
                        sources.iter_dataset_batches(
                            dataset, pieces, batch_size=len(pieces), device=ctx.device, num_threads=ctx.num_threads
                        )
                    )

            yield chunks()

    def _videos_per_batch(self, ctx: EvalContext) -> int:
        return ctx.batch_size or max(1, 256 // self.chunk_size)

    def compute(self, ctx: EvalContext, fake: Any, real: Any) -> MetricOutput:
        check_same_resolution(self.name, fake, real)
        detector = ctx.detector(
            self.detector_spec, stand_in_resolution=self.stand_in_resolution, metric=self.name, video=False
        )
        real_clips = sources.select_real_clips(
            real,
            num_videos=self.num_videos,
            num_frames=self.num_frames,
            subsample=self.subsample,
            seed=ctx.seed,
            mode=ctx.mode,
        )
        ctx.check_count(self.name, "real videos", self.num_videos, len(real_clips))

        def accumulate(batches) -> dict[str, torch.Tensor]:
            acc = ConsistencyAccumulator(self.num_frames, self.num_windows, detector.feature_dim, ctx.device)
            for chunks in batches:
                acc.update(self._embed(detector, chunks))
            return acc.sums

        def real_sums():
            mine = sources.shard(real_clips, ctx.rank, ctx.world_size)
            return accumulate(self._dataset_chunks(real, mine, ctx))

        fields = {
            "metric": "consistency",
            "fingerprint": real.fingerprint(),
            "clips": [(c.video, c.frames[0]) for c in real_clips],
            "num_frames": self.num_frames,
            "subsample": self.subsample,
            "windows": self.num_windows,
            "mode": ctx.mode,
            "seed": ctx.seed,
            "detector": detector.identity,
        }
        real_arrays, cache_hit = ctx.cached_real(f"{self.name}-real", fields, real_sums)

        times = [i * self.subsample for i in range(self.num_frames)]
        if is_generator(fake):
            with sources.eval_mode(fake):
                gen_sums = accumulate(
                    sources.iter_generated(
                        fake,
                        num_videos=sources.quota(self.num_videos, ctx.rank, ctx.world_size),
                        times=times,
                        batch_size=self._videos_per_batch(ctx),
                        generator=ctx.torch_generator(),
                        device=ctx.device,
                        chunk_size=self.chunk_size,
                    )
                )
            fake_desc = "generator"
        elif is_dataset(fake):
            clips = sources.select_folder_clips(
                fake, num_videos=self.num_videos, num_frames=self.num_frames, subsample=self.subsample, mode=ctx.mode
            )
            ctx.check_count(self.name, "fake videos", self.num_videos, len(clips))
            gen_sums = accumulate(self._dataset_chunks(fake, sources.shard(clips, ctx.rank, ctx.world_size), ctx))
            fake_desc = "videos"
        else:
            raise TypeError(
                f"{self.name}: 'fake' must be a VideoGenerator or a VideoDataset, got {type(fake).__name__}"
            )
        gen_arrays = {k: v.detach().cpu().numpy() for k, v in all_reduce_(gen_sums).items()}
        value, sub, curves = summarize(gen_arrays, real_arrays, unbiased=ctx.unbiased_cov)

        artifacts = {}
        if ctx.run_dir is not None and ctx.rank == 0:
            folder = Path(ctx.run_dir) / f"metric-{self.name}"
            folder.mkdir(parents=True, exist_ok=True)
            npz = folder / f"{ctx.artifact_tag}.npz"
            tmp = folder / f".{ctx.artifact_tag}.tmp.npz"
            np.savez(tmp, **curves)
            tmp.replace(npz)
            png = folder / f"{ctx.artifact_tag}.png"
            plot_curves(curves, png, f"{self.name}: LVC = {value:.4f} ({detector.name})")
            artifacts = {"curves": str(npz.relative_to(ctx.run_dir)), "plot": str(png.relative_to(ctx.run_dir))}

        protocol = {
            "num_real": int(real_arrays["n"]),
            "num_fake": int(gen_arrays["n"]),
            "frames": self.num_frames,
            "subsample": self.subsample,
            "resolution": int(real.resolution),
            **detector_protocol(detector),
            "mode": ctx.mode,
            "seed": ctx.seed,
            "windows": self.num_windows,
            "lag_weights": "1/lag",
            "fake_source": fake_desc,
            "real_cache_hit": cache_hit,
            "world_size": ctx.world_size,
        }
        results = {self.name: value, **{f"{self.name}_{k}": v for k, v in sub.items()}}
        return MetricOutput(value=value, results=results, protocol=protocol, artifacts=artifacts)


@name_pattern(r"(?:consistency|lvc)(?:(\d+k?)_)?(\d+)f(?:_subsample(\d+)f)?")
def _consistency_from_name(match, **kwargs) -> LongVideoConsistency:
    num_videos = parse_count(match.group(1)) if match.group(1) else 256
    return LongVideoConsistency(
        num_videos=num_videos, num_frames=int(match.group(2)), subsample=int(match.group(3) or 1), **kwargs
    )


for _frames in (128, 256, 1024):
    preset(f"consistency{_frames}f", LongVideoConsistency, num_frames=_frames)
