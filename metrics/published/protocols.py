"""One named protocol per implementation that published FVD numbers, stated field by field.

Each field names a rule of ``clips``, ``pixels`` or ``estimators``; ``describe`` turns them into the words the
comparison prints, and ``protocol_id`` hashes every field that changes a number (not the prose). What each
implementation does was read from its code at the commit named in ``implementation`` (cd-fvd: the installed
``cd-fvd==0.1.1``, run in tests/test_published_protocols.py); docs/protocols.md lists the papers behind them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

from . import clips, estimators, pixels


@dataclasses.dataclass(frozen=True)
class PublishedProtocol:
    """An FVD pipeline: clip rules, loader and detector pixel steps, quantisation of generated frames, estimator.

    ``num_videos``: clips per side (``num_real`` for the real side when it differs; ``None`` = every video once,
    cd-fvd's ``n_real='full'``). ``trials``: repeated draws reported as mean ± population std (DIGAN, VideoGPT).
    ``curve_from``: also FVD of every prefix length from this many frames (common_metrics ``only_final=False``).
    ``clip_frames``: the one clip length the backbone accepts (cd-fvd's VideoMAE-v2: 16).
    ``loader_resolution``: the real loader's resolution R when the implementation fixes it (None: the data's own).
    ``real_subsample``: real clips take every k-th frame while generated clips stay consecutive (Latte).
    ``batch_size``: videos per detector call in the published code (changes only float rounding; not hashed).
    """

    name: str
    implementation: str
    backbone: str  # detector registry name: i3d (TorchScript), i3d_pytorch (i3d_pretrained_400.pt), videomae_v2
    real_clips: str
    fake_clips: str
    real_loader: str
    fake_loader: str
    detector_step: str
    quantisation: str  # how the implementation makes generated frames uint8 (pixels.quantize_generated; 'given')
    estimator: str
    num_videos: int = 2048
    num_real: int | None | str = "same"
    trials: int = 1
    clip_options: tuple[tuple[str, int], ...] = ()
    curve_from: int | None = None
    clip_frames: int | None = None  # the only clip length the network takes (VideoMAE-v2: 16)
    loader_resolution: int | None = None  # the real loader's R when the implementation fixes it (DIGAN: 128)
    real_subsample: int = 1  # real clips take every k-th frame (Latte: 3 on Sky), generated ones are consecutive
    batch_size: int = 16
    note: str = ""

    def __post_init__(self):
        for field, table in (
            ("real_clips", clips.RULES),
            ("fake_clips", clips.RULES),
            ("real_loader", pixels.LOADERS),
            ("fake_loader", pixels.LOADERS),
            ("detector_step", pixels.DETECTOR_STEPS),
            ("estimator", estimators.ESTIMATORS),
        ):
            if getattr(self, field) not in table:
                raise ValueError(f"protocol {self.name}: {field}={getattr(self, field)!r} is not one of {list(table)}")

    def definition(self) -> dict:
        """Every field that changes a number."""
        skip = {"name", "implementation", "note", "batch_size"}
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in skip}

    @property
    def protocol_id(self) -> str:
        digest = hashlib.sha256(json.dumps(self.definition(), sort_keys=True, default=str).encode()).hexdigest()
        return f"{self.name}/{digest[:10]}"

    def describe(self) -> dict[str, str]:
        """Aspect -> words; two protocols differ in an aspect exactly when these words differ."""
        real_n = {"same": "N", None: "all videos"}.get(self.num_real, str(self.num_real))  # type: ignore[arg-type]
        opts = "".join(f" {k}={v}" for k, v in self.clip_options)
        opts += f", 1 frame in {self.real_subsample}" if self.real_subsample > 1 else ""
        return {
            "backbone": self.backbone,
            "clip rule": (
                f"real: {clips.DESCRIPTIONS[self.real_clips]}{opts} ({real_n}); "
                f"fake: {clips.DESCRIPTIONS[self.fake_clips]}"
            ),
            "resize": (
                f"loader real: {pixels.DESCRIPTIONS[self.real_loader]}"
                f"{f' (R={self.loader_resolution})' if self.loader_resolution else ''}, "
                f"fake: {pixels.DESCRIPTIONS[self.fake_loader]}; detector: {pixels.DESCRIPTIONS[self.detector_step]}"
            ),
            "range": (
                "[0,1] (x/255, no mean/std)"
                if self.detector_step == "official" and self.backbone.startswith("videomae")
                else pixels.RANGES[self.detector_step]
            ),
            "quantisation": self.quantisation,
            "estimator": estimators.DESCRIPTIONS[self.estimator],
            "draws": f"{self.trials} draw(s) of N={self.num_videos}"
            + (f", FVD at every length >= {self.curve_from}" if self.curve_from else ""),
        }


_I3D_TS = "i3d"
_I3D_SD = "i3d_pytorch"

PROTOCOLS: dict[str, PublishedProtocol] = {
    p.name: p
    for p in (
        PublishedProtocol(
            "stylegan_v",
            "universome/stylegan-v src/metrics/frechet_video_distance.py @3fecd69 (sgvb mode=official)",
            _I3D_TS,
            "stylegan_v",
            "first_frames",
            "none",
            "none",
            "official",
            "round: (x*127.5+128).clamp(0,255)",
            "stylegan_v",
            batch_size=8,
        ),
        PublishedProtocol(
            "stylegan_v_4clips",
            "stylegan-v issue #37: real set of up to 4 non-overlapping 128-frame clips per video",
            _I3D_TS,
            "k_per_video",
            "first_frames",
            "none",
            "none",
            "official",
            "round: (x*127.5+128).clamp(0,255)",
            "stylegan_v",
            clip_options=(("k", 4), ("chunk", 128)),
            batch_size=8,
        ),
        PublishedProtocol(
            "latte",
            "Vchitect/Latte: its copy of StyleGAN-V's FVD code, compute_fvd(realdata_subsample_factor=3)",
            _I3D_TS,
            "stylegan_v",
            "first_frames",
            "none",
            "none",
            "official",
            "round: (x*127.5+128).clamp(0,255)",
            "stylegan_v",
            real_subsample=3,
            batch_size=8,
            note="Sky: 3 (the default); Taichi: 6 (Latte #115)",
        ),
        PublishedProtocol(
            "tats",
            "SongweiGe/TATS tats/fvd/fvd.py + scripts/sample_vqgan_transformer_short_videos.py @26c33f5",
            _I3D_SD,
            "all_windows",
            "first_frames",
            "pm05_roundtrip",
            "none",
            "stretch_pm1",
            "half_truncate: ((x/2).clamp(-.5,.5)+.5)*255 cast",
            "tfgan_float32",
        ),
        PublishedProtocol(
            "digan",
            "sihyun-yu/digan src/scripts/fvd/fvd.py + src/scripts/compute_fvd_kvd.py",
            _I3D_SD,
            "chunks",
            "first_frames",
            "digan_resize_crop",
            "none",
            "shorter_crop_pm1",
            "truncate: ((x+1)/2*255) cast",
            "tfgan_float32",
            trials=10,
            batch_size=1,
            loader_resolution=128,  # compute_fvd_kvd.py builds its real dataset at 128 px
            note="fresh generated videos each trial; from a folder only the real side is redrawn",
        ),
        PublishedProtocol(
            "videogpt",
            "wilson1yan/VideoGPT videogpt/fvd/fvd.py + scripts/compute_fvd.py @765a245",
            _I3D_SD,
            "all_windows",
            "first_frames",
            "pm05_roundtrip",
            "none",
            "shorter_crop_pm1",
            "half_truncate: ((x/2).clamp(-.5,.5)+.5)*255 cast",
            "tfgan_float32",
            num_videos=256,
            batch_size=32,
        ),
        PublishedProtocol(
            "videogpt_pm05",
            "wilson1yan/VideoGPT videogpt/fvd/fvd.py before ce18ae8 (c6655e8, 3eee7ec): no *2",
            _I3D_SD,
            "all_windows",
            "first_frames",
            "pm05_roundtrip",
            "none",
            "shorter_crop_pm05",
            "half_truncate: ((x/2).clamp(-.5,.5)+.5)*255 cast",
            "tfgan_float32",
            num_videos=256,
            batch_size=32,
        ),
        PublishedProtocol(
            "cdfvd_i3d",
            "songweige/content-debiased-fvd cd-fvd==0.1.1 cdfvd(model='i3d'), load_videos(video_folder)",
            _I3D_SD,
            "cdfvd_loader",
            "cdfvd_loader",
            "cdfvd_resize_crop",
            "cdfvd_resize_crop",
            "stretch_pm1",
            "given: uint8 arrays as the caller made them",
            "cdfvd",
            num_real=None,
        ),
        PublishedProtocol(
            "cdfvd_videomae",
            "songweige/content-debiased-fvd cd-fvd==0.1.1 cdfvd(model='videomae'), load_videos(video_folder)",
            "videomae_v2",
            "cdfvd_loader",
            "cdfvd_loader",
            "cdfvd_resize_crop",
            "cdfvd_resize_crop",
            "official",
            "given: uint8 arrays as the caller made them",
            "cdfvd",
            num_real=None,
            clip_frames=16,
        ),
        PublishedProtocol(
            "cm_styleganv",
            "JunyaoHu/common_metrics_on_video_quality calculate_fvd(method='styleganv') @5f75173",
            _I3D_TS,
            "first_frames",
            "first_frames",
            "none",
            "none",
            "cm_styleganv",
            "float: [0,1] frames, never uint8",
            "numpy_cov_sqrtm",
            batch_size=10,
        ),
        PublishedProtocol(
            "cm_styleganv_curve",
            "JunyaoHu/common_metrics_on_video_quality calculate_fvd(method='styleganv', only_final=False)",
            _I3D_TS,
            "first_frames",
            "first_frames",
            "none",
            "none",
            "cm_styleganv",
            "float: [0,1] frames, never uint8",
            "numpy_cov_sqrtm",
            curve_from=10,
            batch_size=10,
        ),
        PublishedProtocol(
            "cm_videogpt",
            "JunyaoHu/common_metrics_on_video_quality calculate_fvd(method='videogpt') @5f75173",
            _I3D_SD,
            "first_frames",
            "first_frames",
            "none",
            "none",
            "shorter_crop_pm1",
            "truncate: ([0,1]*255) cast",
            "tfgan_float32",
            batch_size=10,
        ),
        PublishedProtocol(
            "tf_fvd",
            "google-research frechet_video_distance (TF1 + TF-Hub i3d-kinetics-400/1); network: the converted "
            "i3d_pretrained_400.pt",
            _I3D_SD,
            "first_frames",
            "first_frames",
            "none",
            "none",
            "tf1_stretch_pm1",
            "given: 0..255 videos as the caller made them",
            "tfgan_float64",
            note="TF-Hub's I3D is not run: its PyTorch conversion stands in; videos in batches of exactly 16",
        ),
    )
}


def check_clip_length(protocol: PublishedProtocol, num_frames: int) -> None:
    """Refuse, before any work, a clip length the protocol's network cannot take (or its curve cannot start at)."""
    if protocol.clip_frames is not None and num_frames != protocol.clip_frames:
        raise ValueError(
            f"protocol {protocol.name} takes {protocol.clip_frames}-frame clips only ({protocol.backbone}); got "
            f"num_frames={num_frames}: use {protocol.clip_frames} or leave {protocol.name} out of the protocols"
        )
    if protocol.curve_from is not None and num_frames < protocol.curve_from:
        raise ValueError(
            f"protocol {protocol.name} computes FVD from {protocol.curve_from} frames on (I3D needs >= 10); got "
            f"num_frames={num_frames}: use at least {protocol.curve_from}"
        )


def get_protocol(name: str) -> PublishedProtocol:
    try:
        return PROTOCOLS[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(PROTOCOLS), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ValueError(f"unknown FVD protocol {name!r}.{hint} Known: {', '.join(PROTOCOLS)}") from None
