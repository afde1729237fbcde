"""Feature detectors: the networks whose features FVD, FID and the consistency score compare.

Every detector takes **uint8** input (the metric boundary) and does its own scaling and resizing, as
the official TorchScript files do, so real and fake go through the identical path:
  * video detectors: ``[B, 3, T, H, W]`` uint8 -> ``[B, d]`` float32;
  * image detectors: ``[N, 3, H, W]`` uint8 -> ``[N, d]`` float32.

Registered (``DETECTORS.build(name, path=..., device=..., allow_stand_in=..., ...)``):
  * ``i3d``          StyleGAN-V's ``i3d_torchscript.pt`` (400-d logits), called exactly as the official code does;
  * ``i3d_pytorch``  our ``InceptionI3d`` + the VideoGPT/TATS state dict ``i3d_pretrained_400.pt``
                     (same TF-Hub weights; BatchNorm eps 1e-5 as cd-fvd/TATS/DIGAN run it);
  * ``inception``    NVIDIA's ``inception-2015-12-05.pt`` (2048-d pool features, TF-compatible resize inside);
  * ``inception`` with ``output="probs"``: its 1008 class probabilities (no output bias) for the Inception Score;
  * ``c3d_ucf101``   StyleGAN-V's C3D UCF-101 TorchScript (101 probabilities) for the video Inception Score;
  * ``i3d_videogpt`` ``i3d_pretrained_400.pt`` with TATS/DIGAN's preprocessing and fake quantisation (truncation);
  * ``videomae_v2``  VideoMAE-v2 ViT-g (SSv2 fine-tuned) 1408-d features, content-debiased FVD (metrics/videomae.py);
  * ``vjepa_ssv2``   V-JEPA ViT-H/16 + SSv2 attentive probe, 1280-d pooled token, JEDi's features (metrics/vjepa.py);
  * ``dino_vits16``  timm ``vit_small_patch16_224.dino`` (384-d CLS) for the consistency score;
  * ``pips2``        PIPs++ point tracks -> FVMD's motion histograms (metrics/fvmd.py, metrics/pips.py);
  * ``torchscript``  any TorchScript file with the official interface, by path.

Stand-ins (``allow_stand_in=True`` and no weight file offline): the same architecture, randomly
initialised from a fixed seed, run at a small ``stand_in_resolution`` so CPU smoke runs are cheap
(defaults: I3D and DINO 32x32, Inception 75x75 = its minimum; a metric spec's ``stand_in_resolution``
changes it, and every record's ``protocol.detector_resolution`` says what was used). Their
numbers are only comparable with other stand-in numbers of the same seed, resolution and torch version;
records say ``stand_in: true`` and the detector is named e.g. ``i3d[stand-in]``.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from registry import DETECTORS
from registry.interfaces import Detector

from . import weights
from .c3d import C3D
from .i3d import InceptionI3d, init_stand_in_

# The stand-in of the TorchScript ``i3d`` keeps the TF BatchNorm epsilon it always had (its numbers must not move);
# ``i3d_pytorch``/``i3d_videogpt`` use InceptionI3d's default 1e-5, as TATS, DIGAN, VideoGPT and cd-fvd do.
TF_BN_EPS = 1e-3

# sha256 as two third-party repositories agree; git blob id as committed in JunyaoHu/common_metrics_on_video_quality.
I3D_TORCHSCRIPT = weights.WeightsFile(
    "i3d_torchscript.pt",
    "https://www.dropbox.com/s/ge9e5ujwgetktms/i3d_torchscript.pt?dl=1",
    "bec6519f66ea534e953026b4ae2c65553c17bf105611c746d904657e5860a5e2",
    git_blob_sha1="93daef59c7ae0e9e8f76225521407e60cbafa6aa",
)
# No sha256 of this file is published (unverified: not pinned); its git blob id, identical in songweige/TATS and
# JunyaoHu/common_metrics_on_video_quality, is checked instead.
I3D_STATE_DICT = weights.WeightsFile(
    "i3d_pretrained_400.pt",
    "https://github.com/songweige/TATS/raw/main/tats/fvd/i3d_pretrained_400.pt",
    git_blob_sha1="a867b87ac3a9097d200598b1d48a1b890d8ec744",
)
# sha256 not published anywhere we could verify: recorded with each result, not checked.
INCEPTION_TORCHSCRIPT = weights.WeightsFile(
    "inception-2015-12-05.pt",
    "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt",
)
# sha256 not published anywhere we could verify (HF shows an LFS sha256 on the file page; not checked here):
# recorded, not enforced.
VIDEOMAE_V2_G = weights.WeightsFile(
    "vit_g_hybrid_pt_1200e_ssv2_ft.pth",
    "https://huggingface.co/OpenGVLab/InternVideoMAE_models/resolve/main/mae-g/vit_g_hybrid_pt_1200e_ssv2_ft.pth",
)
# V-JEPA ViT-H/16 and its SSv2 attentive probe (JEDi): no sha256 published; recorded with each result, not checked.
VJEPA_VITH16 = weights.WeightsFile("vith16.pth.tar", "https://dl.fbaipublicfiles.com/jepa/vith16/vith16.pth.tar")
VJEPA_SSV2_PROBE = weights.WeightsFile(
    "ssv2-probe.pth.tar", "https://dl.fbaipublicfiles.com/jepa/vith16/ssv2-probe.pth.tar"
)
# sha256 not published anywhere we could verify: recorded with each result, not checked.
C3D_UCF101 = weights.WeightsFile("c3d_ucf101.pt", "https://www.dropbox.com/s/jxpu7avzdc9n97q/c3d_ucf101.pt?dl=1")
DINO_VITS16 = weights.WeightsFile(
    "vit_small_patch16_224.dino.safetensors",
    "https://huggingface.co/timm/vit_small_patch16_224.dino/resolve/main/model.safetensors",
)
# PIPs++ as FVMD's reference package downloads it (its keypoint_tracking.PIPS_WEIGHTS). FVMD publishes no sha256 and
# the file (421,766,633 bytes) could not be fetched here; one third-party package (ayase) pins sha256
# 74dd05ba7f85a34784851f50fede610a99f9acdeb20620b134596837021de3d1, no second source confirms it: recorded, not checked.
PIPS2 = weights.WeightsFile(
    "pips2_weights.pth",
    "https://github.com/ljh0v0/FVMD-frechet-video-motion-distance/releases/download/pips2_weights/pips2_weights.pth",
)

STAND_IN_WARNING = (
    "USING A STAND-IN DETECTOR: '{name}' weights are not available offline, so a randomly initialised {arch} "
    "(seed {seed}, input {res}x{res}) is used instead. Its numbers are NOT comparable with published ones; "
    "the record is marked stand_in=true. Put {file} in $SGVB_WEIGHTS_DIR or ~/.cache/sgvb for real numbers."
)


class TorchScriptDetector(Detector):
    """An official TorchScript detector, called with the official keyword arguments."""

    def __init__(
        self,
        module: torch.jit.ScriptModule,
        *,
        name: str,
        sha256: str | None,
        video: bool,
        feature_dim: int,
        call_kwargs: dict | None = None,
    ):
        super().__init__()
        self.module = module
        self.name, self.sha256, self.video, self.feature_dim = name, sha256, video, feature_dim
        self.input_resolution = {"i3d": 224, "inception": 299, "inception_probs": 299, "c3d_ucf101": 112}.get(
            name
        )  # resized inside the file
        self.call_kwargs = official_call_kwargs(video) if call_kwargs is None else dict(call_kwargs)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        with (
            torch.autocast(device_type=x.device.type, enabled=False),
            torch.jit.fuser("none") if x.is_cuda else contextlib.nullcontext(),
        ):
            features = self.module(x.contiguous(), **self.call_kwargs)  # as the official code passes it
        return features.reshape(x.shape[0], -1).float()


def official_call_kwargs(video: bool) -> dict:
    """How the official code calls a TorchScript feature detector (FVD's I3D; FID/KID's Inception)."""
    return dict(rescale=True, resize=True, return_features=True) if video else dict(return_features=True)


class I3DPytorchDetector(Detector):
    """``InceptionI3d`` with TATS's ``preprocess``: frames stretched to ``resolution`` (bilinear, half-pixel,
    no crop) on [0, 255] floats, then ``2 * x / 255 - 1`` -> [-1, 1] (NOT VideoGPT's [-0.5, 0.5]); logits averaged
    over time.

    ``fake_quantization`` tells the FVD metric how generated frames become uint8 for this backbone.
    """

    def __init__(
        self,
        model: InceptionI3d,
        *,
        name: str,
        sha256: str | None,
        resolution: int = 224,
        stand_in: bool = False,
        seed: int = 0,
        fake_quantization: str = "round",
    ):
        super().__init__()
        self.model = model.eval().requires_grad_(False)
        self.name, self.sha256, self.stand_in, self.seed = name, sha256, stand_in, seed
        self.video, self.feature_dim, self.input_resolution = True, model.num_classes, resolution
        self.fake_quantization = fake_quantization

    @property
    def identity(self) -> str:
        """The weights (or stand-in construction) plus the BatchNorm epsilon: features computed before the
        epsilon became 1e-5 (PyTorch I3D) never share a cache entry or a reference file with later ones."""
        return f"{super().identity}:bn-eps{self.model.bn_eps:g}"

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        b, _, t, h, w = x.shape
        frames = x.transpose(1, 2).reshape(b * t, 3, h, w).float()  # [B*T, 3, H, W]
        if (h, w) != (self.input_resolution,) * 2:
            frames = F.interpolate(frames, size=(self.input_resolution,) * 2, mode="bilinear", align_corners=False)
        video = frames.reshape(b, t, 3, *frames.shape[-2:]).transpose(1, 2)  # [B, 3, T, r, r]
        return self.model((2.0 * video / 255.0 - 1).contiguous()).float()


class C3DDetector(Detector):
    """The C3D stand-in: uint8 ``[B, 3, T, H, W]`` -> probabilities; frames resized to ``resolution``,
    mapped to [-1, 1]."""

    def __init__(self, model: C3D, *, name: str, resolution: int, seed: int = 0):
        super().__init__()
        self.model = model.eval().requires_grad_(False)
        self.name, self.input_resolution, self.seed, self.stand_in = name, resolution, seed, True
        self.video, self.feature_dim = True, model.fc8.out_features

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        t, (h, w) = x.shape[2], x.shape[-2:]
        v = x.contiguous().float()  # a permuted clip view would change the float rounding of the convolutions
        if (h, w) != (self.input_resolution,) * 2:
            v = F.interpolate(
                v, size=(t, self.input_resolution, self.input_resolution), mode="trilinear", align_corners=False
            )
        return self.model(v / 127.5 - 1.0).float()


class VideoMAEDetector(Detector):
    """VideoMAE-v2 features with cd-fvd's preprocessing; bf16 on CUDA, clips in chunks that fit free memory."""

    def __init__(self, model, *, name: str, sha256: str | None, stand_in: bool = False, seed: int = 0):
        super().__init__()
        self.model = model.eval().requires_grad_(False)
        self.name, self.sha256, self.stand_in, self.seed = name, sha256, stand_in, seed
        self.video, self.feature_dim, self.input_resolution = True, model.embed_dim, model.img_size
        self._chunk: int | None = None  # clips per forward, sized once from free memory: every batch is chunked alike

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from .videomae import clips_per_chunk, preprocess

        self.check_input(x)
        if self._chunk is None:
            self._chunk = clips_per_chunk(self.model, x.device)
        chunk = self._chunk
        out = []
        for part in x.split(chunk):
            with torch.autocast(device_type=x.device.type, dtype=torch.bfloat16, enabled=x.is_cuda):
                out.append(self.model(preprocess(part.contiguous(), self.input_resolution)).float())
        return torch.cat(out)


class ImageNetworkDetector(Detector):
    """An image backbone returning pooled features: resize, normalise, forward."""

    def __init__(
        self,
        model: nn.Module,
        *,
        name: str,
        sha256: str | None,
        feature_dim: int,
        resolution: int,
        mean: tuple,
        std: tuple,
        interpolation: str = "bilinear",
        stand_in: bool = False,
        seed: int = 0,
        autocast: bool = False,
        probabilities: bool = False,
    ):
        super().__init__()
        self.model = model.eval().requires_grad_(False)
        self.name, self.sha256, self.stand_in, self.seed = name, sha256, stand_in, seed
        self.video, self.feature_dim, self.input_resolution = False, feature_dim, resolution
        self.interpolation, self.autocast, self.probabilities = interpolation, autocast, probabilities
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1) * 255.0, persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1) * 255.0, persistent=False)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = x.contiguous().float()  # channels-last views (rearrange/cat) round differently: official inputs are dense
        if x.shape[-2:] != (self.input_resolution,) * 2:
            x = F.interpolate(
                x, size=(self.input_resolution,) * 2, mode=self.interpolation, align_corners=False, antialias=True
            )
        x = (x - self.mean) / self.std
        with torch.autocast(device_type=x.device.type, dtype=torch.bfloat16, enabled=self.autocast and x.is_cuda):
            features = self.model(x)
        return features.float().softmax(dim=1) if self.probabilities else features.float()


# ----------------------------------------------------------------------------------------- loading helpers
def _seeded(build, seed: int) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def _stand_in_or_raise(error: Exception, *, allow: bool, name: str, arch: str, seed: int, res: int, file: str) -> None:
    if not allow:
        raise error
    warnings.warn(
        STAND_IN_WARNING.format(name=name, arch=arch, seed=seed, res=res, file=file), RuntimeWarning, stacklevel=3
    )


def _resolve_file(spec: weights.WeightsFile, path: str | os.PathLike | None) -> tuple[Path, str, bool]:
    """(file, sha256, canonical) for an explicit path or the lookup chain.

    An explicit file named like the canonical one must match its published checksum; a file with
    another name is taken as a custom detector (its sha256 is recorded, not checked). A folder is
    searched for the canonical file name first.
    """
    path = _in_folder(spec, path)
    if path is not None and Path(path).name != spec.file_name:
        p = Path(path).expanduser()
        if not p.is_file():
            raise weights.MissingWeightsError(f"detector file '{p}' does not exist")
        return p, weights.cached_sha256(p), False
    file, sha = weights.resolve(spec, path)
    return file, sha, True


def _in_folder(spec: weights.WeightsFile, path: str | os.PathLike | None) -> str | os.PathLike | None:
    """A folder given as ``detector_path`` holds the files of several detectors: pick this one's (None: not there)."""
    if path is not None and Path(path).expanduser().is_dir():
        candidate = Path(path).expanduser() / spec.file_name
        return candidate if candidate.is_file() else None
    return path


def _load_torchscript(file: Path, device: torch.device) -> torch.jit.ScriptModule:
    try:
        module = torch.jit.load(str(file), map_location=device)
    except Exception as exc:  # noqa: BLE001
        raise weights.WeightsError(
            f"'{file}' is not a loadable TorchScript file: {type(exc).__name__}: {exc}"
        ) from None
    return module.eval()


def _is_torchscript(path) -> bool:
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith("constants.pkl") or "/code/" in n for n in z.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def _device(device) -> torch.device:
    return torch.device(device) if device is not None else torch.device("cpu")


# ----------------------------------------------------------------------------------------- registered detectors
def _official_torchscript(
    spec: weights.WeightsFile,
    path,
    device,
    *,
    name: str,
    video: bool,
    feature_dim: int,
    arch: str,
    allow_stand_in: bool,
    seed: int,
    stand_in_resolution: int,
    stand_in: Callable[[], Detector],
    call_kwargs: dict | None = None,
) -> Detector:
    """The official TorchScript detector ``spec`` (another TorchScript file by path works too); offline,
    ``stand_in()`` if allowed."""
    device = _device(device)
    path = _in_folder(spec, path)
    if path is not None and Path(path).name != spec.file_name:
        return torchscript(path=path, device=device, video=video, call_kwargs=call_kwargs)
    try:
        file, sha, _ = _resolve_file(spec, path)
    except weights.MissingWeightsError as exc:
        _stand_in_or_raise(
            exc, allow=allow_stand_in, name=name, arch=arch, seed=seed, res=stand_in_resolution, file=spec.file_name
        )
        return stand_in().to(device)
    return TorchScriptDetector(
        _load_torchscript(file, device),
        name=name,
        sha256=sha,
        video=video,
        feature_dim=feature_dim,
        call_kwargs=call_kwargs,
    ).to(device)


@DETECTORS.register("i3d", aliases=["i3d_torchscript"])
def i3d(
    path: str | None = None, device=None, allow_stand_in: bool = False, stand_in_resolution: int = 32, seed: int = 0
) -> Detector:
    """StyleGAN-V's FVD detector: TorchScript I3D, ``(x, rescale=True, resize=True, return_features=True)``, 400-d."""

    def stand_in() -> Detector:
        model = init_stand_in_(InceptionI3d(400, bn_eps=TF_BN_EPS), seed)
        return I3DPytorchDetector(
            model, name="i3d[stand-in]", sha256=None, resolution=stand_in_resolution, stand_in=True, seed=seed
        )

    return _official_torchscript(
        I3D_TORCHSCRIPT,
        path,
        device,
        name="i3d",
        video=True,
        feature_dim=400,
        arch="InceptionI3d",
        allow_stand_in=allow_stand_in,
        seed=seed,
        stand_in_resolution=stand_in_resolution,
        stand_in=stand_in,
    )


def _i3d_state_dict(
    name: str, path, device, allow_stand_in: bool, stand_in_resolution: int, seed: int, fake_quantization: str
) -> Detector:
    """``InceptionI3d`` + ``i3d_pretrained_400.pt`` (or its seeded stand-in), named ``name``."""
    device = _device(device)
    try:
        file, sha, _ = _resolve_file(I3D_STATE_DICT, path)
    except weights.MissingWeightsError as exc:
        _stand_in_or_raise(
            exc,
            allow=allow_stand_in,
            name=name,
            arch="InceptionI3d",
            seed=seed,
            res=stand_in_resolution,
            file=I3D_STATE_DICT.file_name,
        )
        model = init_stand_in_(InceptionI3d(400), seed)
        return I3DPytorchDetector(
            model,
            name=f"{name}[stand-in]",
            sha256=None,
            resolution=stand_in_resolution,
            stand_in=True,
            seed=seed,
            fake_quantization=fake_quantization,
        ).to(device)
    model = InceptionI3d(400)
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as exc:  # noqa: BLE001
        raise weights.WeightsError(
            f"'{file}' is not an InceptionI3d state dict (like i3d_pretrained_400.pt): {type(exc).__name__}: {exc}"
        ) from None
    return I3DPytorchDetector(model, name=name, sha256=sha, resolution=224, fake_quantization=fake_quantization).to(
        device
    )


@DETECTORS.register("i3d_pytorch", aliases=["i3d_pretrained_400"])
def i3d_pytorch(
    path: str | None = None, device=None, allow_stand_in: bool = False, stand_in_resolution: int = 32, seed: int = 0
) -> Detector:
    """Our ``InceptionI3d`` with ``i3d_pretrained_400.pt``, fed like the StyleGAN-V detector (fakes rounded):
    cross-checks ``i3d``."""
    return _i3d_state_dict(
        "i3d_pytorch", path, device, allow_stand_in, stand_in_resolution, seed, fake_quantization="round"
    )


@DETECTORS.register("i3d_videogpt", aliases=["i3d_tats", "i3d_digan"])
def i3d_videogpt(
    path: str | None = None, device=None, allow_stand_in: bool = False, stand_in_resolution: int = 32, seed: int = 0
) -> Detector:
    """The TATS / DIGAN FVD path: ``i3d_pretrained_400.pt``, TATS ``preprocess`` (stretch to 224,
    ``2x/255 - 1``), and generated frames quantised by truncation ``((x + 1) / 2 * 255).to(uint8)`` as DIGAN does,
    so numbers compare with papers on those repos."""
    return _i3d_state_dict(
        "i3d_videogpt", path, device, allow_stand_in, stand_in_resolution, seed, fake_quantization="truncate"
    )


@DETECTORS.register("inception", aliases=["inception_v3", "inception_2015_12_05"])
def inception(
    path: str | None = None,
    device=None,
    allow_stand_in: bool = False,
    stand_in_resolution: int = 75,
    seed: int = 0,
    output: str = "features",
) -> Detector:
    """StyleGAN2-ADA's Inception (TorchScript). ``output="features"``: 2048-d pool (FID, KID; ``return_features=True``);
    ``output="probs"``: 1008 class probabilities without the output bias (IS; ``no_output_bias=True``, as the
    official code).
    Stand-in: a random torchvision Inception-v3 (fc bias-free, 1008 classes for ``probs``)."""
    if output not in ("features", "probs"):
        raise ValueError(f"detector 'inception': output must be 'features' or 'probs', got {output!r}")
    probs = output == "probs"
    name = "inception_probs" if probs else "inception"

    def stand_in() -> Detector:
        if stand_in_resolution < 75:
            raise ValueError(
                "inception stand-in needs stand_in_resolution >= 75 (Inception-v3's minimum), "
                f"got {stand_in_resolution}"
            )
        import torchvision

        def build():
            net = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False)
            net.fc = nn.Linear(2048, 1008, bias=False) if probs else nn.Identity()
            return net

        model = init_stand_in_(_seeded(build, seed), seed)
        return ImageNetworkDetector(
            model,
            name=f"{name}[stand-in]",
            sha256=None,
            feature_dim=1008 if probs else 2048,
            resolution=stand_in_resolution,
            mean=(0.5, 0.5, 0.5),
            std=(0.5, 0.5, 0.5),
            stand_in=True,
            seed=seed,
            probabilities=probs,
        )

    return _official_torchscript(
        INCEPTION_TORCHSCRIPT,
        path,
        device,
        name=name,
        video=False,
        feature_dim=1008 if probs else 2048,
        arch="Inception-v3",
        allow_stand_in=allow_stand_in,
        seed=seed,
        stand_in_resolution=stand_in_resolution,
        stand_in=stand_in,
        call_kwargs=dict(no_output_bias=True) if probs else None,
    )


@DETECTORS.register("c3d_ucf101", aliases=["c3d"])
def c3d_ucf101(
    path: str | None = None, device=None, allow_stand_in: bool = False, stand_in_resolution: int = 32, seed: int = 0
) -> Detector:
    """StyleGAN-V's video Inception Score detector: the C3D UCF-101 TorchScript (TGAN2's chainer model), called as
    the official code does (``detector(x)`` on uint8 ``[B, 3, 16, H, W]``, resize and mean subtraction inside)
    -> 101 probabilities.
    Stand-in: our C3D layout at ``stand_in_resolution``, randomly initialised."""

    def stand_in() -> Detector:
        model = init_stand_in_(C3D(num_classes=101), seed)
        return C3DDetector(model, name="c3d_ucf101[stand-in]", resolution=stand_in_resolution, seed=seed)

    return _official_torchscript(
        C3D_UCF101,
        path,
        device,
        name="c3d_ucf101",
        video=True,
        feature_dim=101,
        arch="C3D",
        allow_stand_in=allow_stand_in,
        seed=seed,
        stand_in_resolution=stand_in_resolution,
        stand_in=stand_in,
        call_kwargs={},
    )


@DETECTORS.register("videomae_v2", aliases=["videomae", "cdfvd_videomae"])
def videomae_v2(
    path: str | None = None, device=None, allow_stand_in: bool = False, stand_in_resolution: int = 32, seed: int = 0
) -> Detector:
    """Content-debiased FVD's backbone: VideoMAE-v2 ViT-g/14 fine-tuned on SSv2
    (``vit_g_hybrid_pt_1200e_ssv2_ft.pth``), 1408-d.
    Stand-in: the same layout at width 64, depth 2, patch 8 (ViT-g is ~1B parameters, too big for CPU smoke runs)."""
    from .videomae import VideoMAEv2

    device = _device(device)
    try:
        file, sha, _ = _resolve_file(VIDEOMAE_V2_G, path)
    except weights.MissingWeightsError as exc:
        _stand_in_or_raise(
            exc,
            allow=allow_stand_in,
            name="videomae_v2",
            arch="VideoMAE-v2 (tiny)",
            seed=seed,
            res=stand_in_resolution,
            file=VIDEOMAE_V2_G.file_name,
        )
        model = _seeded(
            lambda: VideoMAEv2(
                embed_dim=64,
                depth=2,
                num_heads=4,
                mlp_ratio=48 / 11,
                patch_size=8,
                tubelet_size=2,
                img_size=stand_in_resolution,
                num_frames=16,
            ),
            seed,
        )
        return VideoMAEDetector(model, name="videomae_v2[stand-in]", sha256=None, stand_in=True, seed=seed).to(device)
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
        layer_scale = (
            1.0 if any(k.endswith(".gamma_1") for k in state.get("model", state.get("module", state))) else None
        )
        with torch.device("meta"):
            model = VideoMAEv2.giant(layer_scale=layer_scale)
        model.from_published(state, assign=True)
    except Exception as exc:  # noqa: BLE001
        raise weights.WeightsError(
            f"'{file}' is not a VideoMAE-v2 ViT-g checkpoint (like {VIDEOMAE_V2_G.file_name}): "
            f"{type(exc).__name__}: {exc}"
        ) from None
    model.pos_embed = VideoMAEv2.giant_position_table()
    if device.type == "cuda":
        model = model.to(
            torch.bfloat16
        )  # ~2 GB of weights instead of ~4 GB; the forward runs under bf16 autocast anyway
    return VideoMAEDetector(model, name="videomae_v2", sha256=sha).to(device)


@DETECTORS.register("vjepa_ssv2", aliases=["vjepa", "jedi"])
def vjepa_ssv2(
    path: str | None = None, device=None, allow_stand_in: bool = False, stand_in_resolution: int = 32, seed: int = 0
) -> Detector:
    """JEDi's backbone: V-JEPA ViT-H/16 (``vith16.pth.tar``) + its SSv2 attentive probe (``ssv2-probe.pth.tar``),
    the probe's 1280-d pooled token (metrics/vjepa.py). ``path``: a folder holding both files.
    Stand-in: the same layout at width 64, depth 2, patch 8, frames resized to ``stand_in_resolution``."""
    from .vjepa import VJEPADetector, VJEPAFeatures

    device = _device(device)
    if path is not None and not Path(path).expanduser().is_dir():
        raise weights.WeightsError(
            f"detector 'vjepa_ssv2' reads two files ({VJEPA_VITH16.file_name} and {VJEPA_SSV2_PROBE.file_name}): "
            f"detector_path='{path}' is not a folder; pass the folder that holds both"
        )
    try:
        files = [_resolve_file(spec, path) for spec in (VJEPA_VITH16, VJEPA_SSV2_PROBE)]
    except weights.MissingWeightsError as exc:
        _stand_in_or_raise(
            exc,
            allow=allow_stand_in,
            name="vjepa_ssv2",
            arch="V-JEPA ViT + attentive probe (tiny)",
            seed=seed,
            res=stand_in_resolution,
            file=f"{VJEPA_VITH16.file_name} and {VJEPA_SSV2_PROBE.file_name}",
        )
        model = _seeded(
            lambda: VJEPAFeatures.build(
                embed_dim=64, depth=2, num_heads=4, patch_size=8, img_size=stand_in_resolution, num_frames=16
            ),
            seed,
        )
        return VJEPADetector(
            model, name="vjepa_ssv2[stand-in]", sha256=None, resolution=stand_in_resolution, stand_in=True, seed=seed
        ).to(device)
    (encoder_file, encoder_sha, _), (probe_file, probe_sha, _) = files
    try:
        with torch.device("meta"):
            model = VJEPAFeatures.huge()
        model.load_published(
            torch.load(encoder_file, map_location="cpu", weights_only=True),
            torch.load(probe_file, map_location="cpu", weights_only=True),
            assign=True,
        )
    except Exception as exc:  # noqa: BLE001
        raise weights.WeightsError(
            f"'{encoder_file}' + '{probe_file}' are not V-JEPA ViT-H/16 + SSv2 probe checkpoints (like "
            f"{VJEPA_VITH16.file_name}, {VJEPA_SSV2_PROBE.file_name}): {type(exc).__name__}: {exc}"
        ) from None
    return VJEPADetector(model, name="vjepa_ssv2", sha256=combined_sha256(encoder_sha, probe_sha)).to(device)


def combined_sha256(*digests: str) -> str:
    """One digest that pins several weight files (the detector's identity in records and cache keys)."""
    import hashlib

    return hashlib.sha256("+".join(digests).encode()).hexdigest()


@DETECTORS.register("dino_vits16", aliases=["dino", "vit_small_patch16_224.dino"])
def dino_vits16(
    path: str | None = None, device=None, allow_stand_in: bool = False, stand_in_resolution: int = 32, seed: int = 0
) -> Detector:
    """DINO ViT-S/16 CLS features (384-d): whole frame resized to 224 (bicubic, antialiased, no crop),
    ImageNet mean/std."""
    import timm

    device = _device(device)
    path = _in_folder(DINO_VITS16, path)
    if path is not None and Path(path).name != DINO_VITS16.file_name and _is_torchscript(path):
        return torchscript(path=path, device=device, video=False)
    arch = "vit_small_patch16_224.dino"
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    try:
        file, sha, _ = _resolve_file(DINO_VITS16, path)
    except weights.MissingWeightsError as exc:
        _stand_in_or_raise(
            exc,
            allow=allow_stand_in,
            name="dino_vits16",
            arch=arch,
            seed=seed,
            res=stand_in_resolution,
            file=DINO_VITS16.file_name,
        )
        model = _seeded(
            lambda: timm.create_model(arch, pretrained=False, num_classes=0, img_size=stand_in_resolution), seed
        )
        return ImageNetworkDetector(
            model,
            name="dino_vits16[stand-in]",
            sha256=None,
            feature_dim=384,
            resolution=stand_in_resolution,
            mean=mean,
            std=std,
            interpolation="bicubic",
            stand_in=True,
            seed=seed,
            autocast=True,
        ).to(device)
    try:
        model = timm.create_model(arch, pretrained=True, num_classes=0, pretrained_cfg_overlay=dict(file=str(file)))
    except Exception as exc:  # noqa: BLE001
        raise weights.WeightsError(
            f"'{file}' could not be loaded as {arch} weights: {type(exc).__name__}: {exc}"
        ) from None
    return ImageNetworkDetector(
        model,
        name="dino_vits16",
        sha256=sha,
        feature_dim=384,
        resolution=224,
        mean=mean,
        std=std,
        interpolation="bicubic",
        autocast=True,
    ).to(device)


@DETECTORS.register("pips2", aliases=["pips_plus_plus", "fvmd_pips2"])
def pips2(
    path: str | None = None,
    device=None,
    allow_stand_in: bool = False,
    stand_in_resolution: int = 64,
    seed: int = 0,
    num_frames: int = 16,
) -> Detector:
    """FVMD's features: PIPs++ (``pips2_weights.pth``) tracks of a 20 x 20 grid through ``num_frames``-frame
    clips resized to 256, summarised as velocity and acceleration histograms (metrics/fvmd.py).
    Stand-in: the same network classes, narrow (``metrics.pips.STAND_IN``), at ``stand_in_resolution``."""
    from .fvmd import MotionHistogramDetector
    from .pips import PUBLISHED, STAND_IN, PIPsPlusPlus, load_published

    device = _device(device)
    try:
        file, sha, _ = _resolve_file(PIPS2, path)
    except weights.MissingWeightsError as exc:
        _stand_in_or_raise(
            exc,
            allow=allow_stand_in,
            name="pips2",
            arch="PIPs++ (narrow)",
            seed=seed,
            res=stand_in_resolution,
            file=PIPS2.file_name,
        )
        # stride-8 feature maps average-pooled corr_levels times: below this the coarsest level is under 2 x 2 and the
        # tracks turn NaN (a cryptic scatter index error in the histograms)
        smallest = 8 * 2 ** STAND_IN["corr_levels"]
        if stand_in_resolution < smallest:
            raise ValueError(
                f"pips2 stand-in: stand_in_resolution={stand_in_resolution} is too small for its correlation pyramid "
                f"({STAND_IN['corr_levels']} levels at stride 8); use {smallest} or more"
            )
        model = _seeded(lambda: PIPsPlusPlus(**STAND_IN), seed)
        return MotionHistogramDetector(
            model,
            name="pips2[stand-in]",
            sha256=None,
            num_frames=num_frames,
            resolution=stand_in_resolution,
            stand_in=True,
            seed=seed,
        ).to(device)
    try:
        model = load_published(PIPsPlusPlus(**PUBLISHED), torch.load(file, map_location="cpu", weights_only=True))
    except Exception as exc:  # noqa: BLE001
        raise weights.WeightsError(
            f"'{file}' is not a PIPs++ checkpoint (like {PIPS2.file_name}): {type(exc).__name__}: {exc}"
        ) from None
    return MotionHistogramDetector(model, name="pips2", sha256=sha, num_frames=num_frames).to(device)


@DETECTORS.register("torchscript")
def torchscript(path: str, device=None, video: bool = True, call_kwargs: dict | None = None, **_ignored) -> Detector:
    """Any TorchScript detector with the official interface (video: ``x, rescale, resize, return_features``;
    image: ``x, return_features``), or called with ``call_kwargs`` instead."""
    device = _device(device)
    if path is None:
        raise ValueError("detector 'torchscript' needs path=<file.pt>")
    file = Path(path).expanduser()
    if not file.is_file():
        raise weights.MissingWeightsError(f"detector file '{file}' does not exist")
    module = _load_torchscript(file, device)
    probe = torch.zeros((1, 3, 16, 32, 32) if video else (1, 3, 32, 32), dtype=torch.uint8, device=device)
    kwargs = official_call_kwargs(video) if call_kwargs is None else dict(call_kwargs)
    try:
        with torch.no_grad():
            dim = int(module(probe, **kwargs).reshape(1, -1).shape[1])
    except Exception as exc:  # noqa: BLE001
        raise weights.WeightsError(
            f"TorchScript detector '{file}' does not accept the official call {kwargs}: {type(exc).__name__}: {exc}"
        ) from None
    return TorchScriptDetector(
        module,
        name=f"torchscript:{file.stem}",
        sha256=weights.cached_sha256(file),
        video=video,
        feature_dim=dim,
        call_kwargs=kwargs,
    ).to(device)


# ----------------------------------------------------------------------------------------- in-process cache
_LOADED: dict[tuple, Detector] = {}


def load_detector(spec, *, path: str | None = None, device=None, allow_stand_in: bool = False, **kwargs) -> Detector:
    """Build a registered detector once per process (re-evaluating snapshots must not reload 100 MB)."""
    from registry.core import split_spec

    name, spec_kwargs = split_spec(spec, "detector")
    merged = {**kwargs, **spec_kwargs}
    if path is not None:
        merged["path"] = str(path)
    key = (
        DETECTORS.get(name),
        str(_device(device)),
        bool(allow_stand_in),
        tuple(sorted((k, str(v)) for k, v in merged.items())),
    )
    if key not in _LOADED:
        _LOADED[key] = DETECTORS.build(
            {"_name_": name, **merged}, device=_device(device), allow_stand_in=allow_stand_in
        )
    return _LOADED[key]
