"""Published StyleGAN-V / StyleGAN2-ADA network pickles as our registered modules, without their source code.

``load_network_pkl(path)`` (the official name) reads a ``network-snapshot-*.pkl`` through the safe
reader (:mod:`stylegan_v.legacy_pickle`: nothing from the file is imported or executed), derives our
generator and discriminator settings from the pickle's init kwargs, builds them through the registry
and copies the official tensors in by a name map:

    mapping.fc{i}.*                                  -> mapping.layers.{i}.*      (+ mapping.w_avg)
    synthesis.motion_encoder.conv.{j}.*              -> motion.conv{j}.*
    synthesis.motion_encoder.time_encoder.{periods,phase,aligners}_predictor.weight
        -> time_encoder.{frequency_predictor,phase_predictor,aligner}.weight
    synthesis.motion_encoder.time_encoder.{freqs,phase_scales} [1, F] -> time_encoder.{omega,phase_scales} [F]
    synthesis.b4.input.input.const [1, C, 4, 4]      -> synthesis.blocks.0.const [C, 4, 4]
    synthesis.b{res}.*                               -> synthesis.blocks.{log2(res) - 2}.*
       (StyleGAN2-ADA image pickles: b4.const and conv{0,1}.noise_{strength,const} keep their names;
        the noise loads into MoCoGAN-HD's image generator with image_noise, see image_generator_state)
    D: b{res}.* -> frame_blocks / clip_blocks (by resolution), b4.* -> epilogue.*,
       time_encoder.const_embed.weight -> time_encoder.embedding.weight, mapping.{embed,fc0,fc1}.* -> time_mapping.*

Fixed ``resample_filter`` buffers and D's Fourier coefficients are not copied; they are checked
against ours instead. Settings our modules cannot express are refused naming the key.
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from .legacy_pickle import ObjectRecord, PersistentRecord, load_pickle, plain

__all__ = [
    "OfficialCheckpointError",
    "discriminator_spec",
    "generator_spec",
    "image_generator_state",
    "load_network_pkl",
    "map_discriminator_names",
    "map_generator_names",
    "official_tensors",
    "snapshot_kimg",
]

SWAPPED_LABELS_NOTE = (
    "the official FFS and SkyTimelapse checkpoints were once published with swapped labels "
    "(stylegan-v issue #10): trust this path, not the file name"
)
DEFAULT_MAX_NUM_FRAMES = 1024
OFFICIAL_SNAPSHOT_NAME = re.compile(
    r"network-snapshot-(\d{6,})\.pkl"
)  # the official loops: f'network-snapshot-{cur_nimg // 1000:06d}.pkl'


class OfficialCheckpointError(ValueError):
    """An official pickle our modules cannot represent; the message names the file and the setting."""


# ----------------------------------------------------------------------------------------- records -> tensors
def _module_parts(record: Any) -> dict[str, Any]:
    """The ``__dict__`` of a pickled module record (persistent or by-reference)."""
    if isinstance(record, PersistentRecord):
        return record.state if isinstance(record.state, dict) else {}
    if isinstance(record, ObjectRecord):
        return record.state if isinstance(record.state, dict) else {}
    return {}


def official_tensors(record: Any, prefix: str = "") -> Iterator[tuple[str, torch.Tensor, bool]]:
    """``(name, tensor, is_parameter)`` of a module record in ``named_parameters``/``named_buffers`` order."""
    parts = _module_parts(record)
    for kind, is_param in (("_parameters", True), ("_buffers", False)):
        for name, value in (parts.get(kind) or {}).items():
            if isinstance(value, torch.Tensor):
                yield f"{prefix}{name}", value, is_param
    for name, child in (parts.get("_modules") or {}).items():
        if child is not None:
            yield from official_tensors(child, f"{prefix}{name}.")


def official_parameter_names(record: Any) -> list[str]:
    """Parameter names in the order the official module (and its optimizer) lists them."""
    params: list[str] = []

    def walk(rec: Any, prefix: str) -> None:
        parts = _module_parts(rec)
        params.extend(
            f"{prefix}{n}" for n, v in (parts.get("_parameters") or {}).items() if isinstance(v, torch.Tensor)
        )
        for name, child in (parts.get("_modules") or {}).items():
            if child is not None:
                walk(child, f"{prefix}{name}.")

    walk(record, "")
    return params


def init_kwargs(record: Any) -> dict[str, Any]:
    """The constructor kwargs the persistence wrapper kept (``_init_kwargs``), as plain Python."""
    return dict(plain(_module_parts(record).get("_init_kwargs")) or {})


# ----------------------------------------------------------------------------------------- settings
def _get(tree: Any, dotted: str, default: Any = None) -> Any:
    node = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def _refuse(source: str, key: str, value: Any, why: str) -> OfficialCheckpointError:
    return OfficialCheckpointError(f"{source}: unsupported setting {key}={value!r}: {why}")


def _resolution_from_names(names: list[str], source: str) -> int:
    res = [int(m.group(1)) for n in names if (m := re.match(r"^(?:synthesis\.)?b(\d+)\.", n))]
    if not res:
        raise OfficialCheckpointError(f"{source}: no b<res> blocks found: not a StyleGAN2-ADA-format network")
    return max(res)


def generator_spec(G_record: Any, source: str = "pickle") -> dict[str, Any]:
    """Our ``stylegan_v`` generator spec from an official StyleGAN-V Generator record; refuses what we cannot
    express."""
    kw = init_kwargs(G_record)
    names = [n for n, _, _ in official_tensors(G_record)]
    if not any(n.startswith("synthesis.motion_encoder.") for n in names):
        raise OfficialCheckpointError(
            f"{source}: this is an image generator (no synthesis.motion_encoder): a StyleGAN2-ADA pickle loads as "
            f"MoCoGAN-HD's image generator (generator=mocogan_hd generator.pretrained_image_generator={source})"
        )
    cfg = kw.get("cfg") or {}
    c_dim = int(kw.get("c_dim", cfg.get("c_dim", 0)) or 0)
    checks = [
        ("c_dim", c_dim, c_dim == 0, "conditional (class-label) generators are not supported"),
        (
            "cfg.use_noise",
            cfg.get("use_noise", False),
            not cfg.get("use_noise", False),
            "our StyleGAN-V synthesis has no spatial noise",
        ),
        (
            "cfg.input.type",
            _get(cfg, "input.type", "temporal"),
            _get(cfg, "input.type", "temporal") == "temporal",
            "only the temporal input is supported",
        ),
        (
            "cfg.motion.gen_strategy",
            _get(cfg, "motion.gen_strategy", "conv"),
            _get(cfg, "motion.gen_strategy", "conv") == "conv",
            "only the conv1d motion mapping (StyleGAN-V) is supported",
        ),
        (
            "cfg.motion.fourier",
            _get(cfg, "motion.fourier", True),
            bool(_get(cfg, "motion.fourier", True)),
            "only the acyclic (fourier) time encoder is supported",
        ),
        (
            "cfg.time_enc.cond_type",
            _get(cfg, "time_enc.cond_type", "concat_const"),
            _get(cfg, "time_enc.cond_type", "concat_const") == "concat_const",
            "only concat_const (time embedding at the 4x4 input) is mapped",
        ),
        (
            "synthesis_kwargs.architecture",
            _get(kw, "synthesis_kwargs.architecture", "skip"),
            _get(kw, "synthesis_kwargs.architecture", "skip") == "skip",
            "only the 'skip' synthesis network is supported",
        ),
    ]
    for key, value, ok, why in checks:
        if not ok:
            raise _refuse(source, key, value, why)
    resolution = int(
        kw.get("img_resolution") or _resolution_from_names([n for n in names if n.startswith("synthesis.")], source)
    )
    synthesis = kw.get("synthesis_kwargs") or {}
    return {
        "_name_": "stylegan_v",
        "resolution": resolution,
        "z_dim": int(kw.get("z_dim", cfg.get("z_dim", 512))),
        "w_dim": int(kw.get("w_dim", cfg.get("w_dim", 512))),
        "img_channels": int(kw.get("img_channels", 3)),
        "motion_z_dim": int(_get(cfg, "motion.z_dim", 512)),
        "motion_dim": int(_get(cfg, "motion.v_dim", 512)),
        "motion_spacing": float(_get(cfg, "motion.motion_z_distance", 16)),
        "motion_kernel_size": int(_get(cfg, "motion.kernel_size", 11)),
        "positional_encoding": {
            "_name_": "acyclic",
            "num_frequencies": int(_get(cfg, "time_enc.dim", 256)),
            "min_period": float(_get(cfg, "time_enc.min_period_len", 16)),
            "max_period": float(_get(cfg, "time_enc.max_period_len", 1024)),
        },
        "time_injection": "input",
        "mapping_layers": int(_get(kw, "mapping_kwargs.num_layers", 2)),
        "w_avg_beta": float(_get(kw, "mapping_kwargs.w_avg_beta", 0.995)),
        "channel_base": int(synthesis.get("channel_base", 16384 if resolution < 512 else 32768)),
        "channel_max": int(synthesis.get("channel_max", 512)),
        "conv_clamp": synthesis.get("conv_clamp", 256),
    }


def discriminator_spec(D_record: Any, source: str = "pickle") -> dict[str, Any]:
    """Our ``stylegan_v`` discriminator spec (plus ``num_frames``) from an official Discriminator record."""
    kw = init_kwargs(D_record)
    cfg = kw.get("cfg") or {}
    tensors = {n: t for n, t, _ in official_tensors(D_record)}
    c_dim = int(kw.get("c_dim", 0) or 0)
    embed = tensors.get("time_encoder.const_embed.weight")
    checks = [
        ("c_dim", c_dim, c_dim == 0, "conditional (class-label) discriminators are not supported"),
        (
            "cfg.concat_res",
            cfg.get("concat_res", 16),
            int(cfg.get("concat_res", 16)) == 16,
            "our discriminator fuses frames at 16x16",
        ),
        (
            "cfg.num_frames_div_factor",
            cfg.get("num_frames_div_factor", 2),
            int(cfg.get("num_frames_div_factor", 2)) == 2,
            "our discriminator halves the fused width",
        ),
        (
            "cfg.dummy_c",
            cfg.get("dummy_c", False),
            not cfg.get("dummy_c", False),
            "the zeroed-condition ablation is not supported",
        ),
        (
            "cfg.hyper_type",
            cfg.get("hyper_type", "no_hyper"),
            cfg.get("hyper_type", "no_hyper") == "no_hyper",
            "only the concat + projection discriminator is mapped",
        ),
        (
            "mapping_kwargs.num_layers",
            _get(kw, "mapping_kwargs.num_layers", 2),
            int(_get(kw, "mapping_kwargs.num_layers", 2)) == 2,
            "our time-gap mapping has 2 layers",
        ),
        (
            "architecture",
            kw.get("architecture", "resnet"),
            kw.get("architecture", "resnet") == "resnet",
            "only the 'resnet' discriminator is supported",
        ),
        (
            "time_encoder.const_embed.weight",
            None if embed is None else list(embed.shape),
            embed is None or embed.shape[1] == 256,
            "our time-gap embedding has 256 dims",
        ),
    ]
    for key, value, ok, why in checks:
        if not ok:
            raise _refuse(source, key, value, why)
    resolution = int(kw.get("img_resolution") or _resolution_from_names(list(tensors), source))
    num_frames = int(_get(cfg, "sampling.num_frames_per_video", 3))
    spec = {
        "_name_": "stylegan_v",
        "resolution": resolution,
        "num_frames": num_frames,
        "conditioning": "projection" if num_frames > 1 else "none",
        "channel_base": int(kw.get("channel_base", 16384 if resolution < 512 else 32768)),
        "channel_max": int(kw.get("channel_max", 512)),
        "conv_clamp": kw.get("conv_clamp", 256),
        "mbstd_group_size": int(_get(kw, "epilogue_kwargs.mbstd_group_size", cfg.get("mbstd_group_size", 4))),
        "max_gap": int(embed.shape[0]) if embed is not None else int(_get(cfg, "sampling.max_num_frames", 1024)),
        "img_channels": int(kw.get("img_channels", 3)),
    }
    return spec


# ----------------------------------------------------------------------------------------- name maps
_G_RENAMES: list[tuple[str, str]] = [
    (r"^mapping\.fc(\d+)\.", r"mapping.layers.\1."),
    (r"^synthesis\.motion_encoder\.conv\.(\d+)\.", r"motion.conv\1."),
    (r"^synthesis\.motion_encoder\.time_encoder\.periods_predictor\.", "time_encoder.frequency_predictor."),
    (r"^synthesis\.motion_encoder\.time_encoder\.phase_predictor\.", "time_encoder.phase_predictor."),
    (r"^synthesis\.motion_encoder\.time_encoder\.aligners_predictor\.", "time_encoder.aligner."),
    (r"^synthesis\.motion_encoder\.time_encoder\.freqs$", "time_encoder.omega"),
    (r"^synthesis\.motion_encoder\.time_encoder\.phase_scales$", "time_encoder.phase_scales"),
    (r"^synthesis\.b4\.input\.input\.const$", "synthesis.blocks.0.const"),
    (r"^synthesis\.b4\.const$", "synthesis.blocks.0.const"),  # StyleGAN2-ADA image generators
]


def _synthesis_block(match: re.Match) -> str:
    return f"synthesis.blocks.{int(math.log2(int(match.group(1)))) - 2}."


def map_generator_names(name: str) -> str | None:
    """Our state-dict key for an official generator tensor name; None for fixed filters (not copied)."""
    if name.endswith("resample_filter"):
        return None
    for pattern, repl in _G_RENAMES:
        if re.match(pattern, name):
            return re.sub(pattern, repl, name)
    if re.match(r"^synthesis\.b(\d+)\.", name):
        return re.sub(r"^synthesis\.b(\d+)\.", _synthesis_block, name)
    return name


def map_discriminator_names(name: str, D: torch.nn.Module) -> str | None:
    """Our state-dict key for an official discriminator tensor name (blocks located by resolution)."""
    if name.endswith("resample_filter") or name == "time_encoder.time_encoder.fourier_coefs":
        return None
    if name.startswith("time_encoder.const_embed."):
        return "time_encoder.embedding." + name.split(".", 2)[2]
    m = re.match(r"^mapping\.(embed|fc(\d+))\.(.*)$", name)
    if m:
        return (
            f"time_mapping.embed.{m.group(3)}"
            if m.group(1) == "embed"
            else f"time_mapping.layers.{m.group(2)}.{m.group(3)}"
        )
    m = re.match(r"^b(\d+)\.(.*)$", name)
    if m:
        res, rest = int(m.group(1)), m.group(2)
        if res == 4:
            return f"epilogue.{rest}"
        for group in ("frame_blocks", "clip_blocks"):
            for i, block in enumerate(getattr(D, group, [])):
                if int(getattr(block, "resolution", -1)) == res:
                    return f"{group}.{i}.{rest}"
    return name


def _fixed_buffer_checks(
    source: str, tensors: dict[str, torch.Tensor], ours: dict[str, torch.Tensor], pairs: list[tuple[str, str]]
) -> None:
    """Official buffers we compute ourselves must agree (else the pickle was made with other settings)."""
    for official, mine in pairs:
        if official in tensors and mine in ours:
            a, b = tensors[official].flatten().double(), ours[mine].flatten().double().cpu()
            if a.shape != b.shape or not torch.allclose(a, b, rtol=1e-5, atol=1e-7):
                raise OfficialCheckpointError(
                    f"{source}: buffer '{official}' differs from ours ({mine}); "
                    "the pickle's settings are not ones we can express"
                )


def _load_mapped(
    module: torch.nn.Module, record: Any, rename: Callable[[str], str | None], source: str, what: str
) -> None:
    """Copy every official tensor into ``module`` by ``rename``; both sides must be covered exactly."""
    ours = module.state_dict()
    new_state: dict[str, torch.Tensor] = {}
    for name, tensor, _ in official_tensors(record):
        key = rename(name)
        if key is None:
            continue
        if key not in ours:
            raise OfficialCheckpointError(
                f"{source}: {what} tensor '{name}' has no counterpart in our module (mapped to '{key}')"
            )
        if tensor.numel() != ours[key].numel() or tensor.squeeze().shape != ours[key].squeeze().shape:
            raise OfficialCheckpointError(
                f"{source}: {what} '{name}' has shape {list(tensor.shape)}, ours ('{key}') {list(ours[key].shape)}"
            )
        new_state[key] = tensor.detach().reshape(ours[key].shape).to(ours[key].dtype)
    missing = sorted(set(ours) - set(new_state))
    if missing:
        raise OfficialCheckpointError(
            f"{source}: {what} has no official tensor for {missing[:5]}{' ...' if len(missing) > 5 else ''}"
        )
    module.load_state_dict(new_state, assign=True)  # the file's tensors become the module's: no second copy


# ----------------------------------------------------------------------------------------- loading
class _NoRandomInit(TorchFunctionMode):
    """While building modules whose every parameter is then replaced: ``torch.randn`` (and the scaling of
    its result, ``randn(...) / lr_mult``) only allocates.

    Drawing and scaling the initial values costs seconds at 256² (tens of millions of normals) for
    nothing; :func:`_load_mapped` checks that every parameter and buffer is then set from the file.
    """

    _SCALING = (torch.Tensor.div, torch.Tensor.__truediv__, torch.Tensor.mul, torch.Tensor.__mul__)

    def __init__(self):
        super().__init__()
        self.fresh: dict[int, torch.Tensor] = {}  # id -> tensor, kept alive so no other tensor reuses the id

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if func is torch.randn:
            kwargs.pop("generator", None)
            out = torch.empty(*args, **kwargs)
            self.fresh[id(out)] = out
            return out
        if func in self._SCALING and args and self.fresh.get(id(args[0])) is args[0]:
            return args[0]  # still uninitialised memory, about to be replaced
        return func(*args, **kwargs)


def _find_networks(data: Any, source: str) -> dict[str, Any]:
    if not isinstance(data, dict) or not any(k in data for k in ("G", "G_ema")):
        raise OfficialCheckpointError(f"{source}: not a network snapshot (expected a dict with 'G', 'D', 'G_ema')")
    return data


def _build_generator(record: Any, source: str) -> torch.nn.Module:
    from registry import GENERATORS

    spec = generator_spec(record, source)
    with _NoRandomInit():
        G = GENERATORS.build(spec)
    tensors = {n: t for n, t, _ in official_tensors(record)}
    _load_mapped(G, record, map_generator_names, source, "G")
    _fixed_buffer_checks(
        source,
        tensors,
        dict(G.named_buffers()),
        [("synthesis.b8.conv0.resample_filter", "synthesis.blocks.1.conv0.resample_filter")],
    )
    G.official_max_num_frames = int(_get(init_kwargs(record), "cfg.sampling.max_num_frames", DEFAULT_MAX_NUM_FRAMES))
    return G.eval().requires_grad_(False)


def _build_discriminator(record: Any, source: str) -> torch.nn.Module:
    from registry import DISCRIMINATORS

    with _NoRandomInit():
        D = DISCRIMINATORS.build(discriminator_spec(record, source))
    tensors = {n: t for n, t, _ in official_tensors(record)}
    _load_mapped(D, record, lambda n: map_discriminator_names(n, D), source, "D")
    _fixed_buffer_checks(
        source,
        tensors,
        dict(D.named_buffers()),
        [("time_encoder.time_encoder.fourier_coefs", "time_encoder.frequencies")],
    )
    return D.eval().requires_grad_(False)


def _augment_p(record: Any) -> float | None:
    buffers = _module_parts(record).get("_buffers") or {}
    p = buffers.get("p")
    return float(p) if isinstance(p, torch.Tensor) else None


def _adam_state(
    opt_record: Any,
    net_record: Any,
    module: torch.nn.Module,
    rename: Callable[[str], str | None],
    source: str,
    what: str,
):
    """Adam moments of a pickled ``torch.optim.Adam`` keyed by our parameter names (None when absent)."""
    if not isinstance(opt_record, ObjectRecord) or not isinstance(opt_record.state, dict):
        return None
    groups = opt_record.state.get("param_groups") or []
    params = [p for g in groups for p in (g.get("params") or [])]
    names = official_parameter_names(net_record)
    if len(params) != len(names):
        raise OfficialCheckpointError(
            f"{source}: {what} optimizer holds {len(params)} parameters, the network {len(names)}"
        )
    ours = dict(module.named_parameters())
    per_param = opt_record.state.get("state") or {}
    out: dict[str, dict[str, Any]] = {}
    for official_name, param in zip(names, params):
        entry = per_param.get(param) if isinstance(param, torch.Tensor) else per_param.get(id(param))
        key = rename(official_name)
        if not entry or key is None or key not in ours:
            continue
        moments = {
            k: entry[k].detach().reshape(ours[key].shape).float() for k in ("exp_avg", "exp_avg_sq") if k in entry
        }
        if len(moments) == 2:
            out[key] = {"step": torch.tensor(float(entry.get("step", 0))), **moments}
    return out


def load_network_pkl(path: str | os.PathLike, *, verbose: bool = True) -> dict[str, Any]:
    """An official StyleGAN-V snapshot as ``{G, D, G_ema, augment_p, training_set_kwargs, G_opt, D_opt, stats, ...}``.

    ``G``/``D``/``G_ema`` are our registered modules (CPU, eval mode) with the official weights;
    ``G_opt``/``D_opt`` are Adam moments keyed by our parameter names (None when the file has none);
    ``stats`` holds ``cur_nimg``/``cur_tick``/``batch_idx`` when present. Nothing from the file runs.
    """
    source = str(path)
    data = _find_networks(load_pickle(path), source)
    out: dict[str, Any] = {"source": source}
    for key in ("G", "G_ema"):
        out[key] = _build_generator(data[key], source) if data.get(key) is not None else None
    out["G"] = out["G"] or out["G_ema"]
    out["G_ema"] = out["G_ema"] or out["G"]
    out["D"] = _build_discriminator(data["D"], source) if data.get("D") is not None else None
    out["augment_p"] = _augment_p(data.get("augment_pipe"))
    out["training_set_kwargs"] = plain(data.get("training_set_kwargs")) or {}
    out["stats"] = {
        k: v for k, v in (plain(data.get("stats")) or {}).items() if k in ("cur_nimg", "cur_tick", "batch_idx")
    }
    out["G_opt"] = (
        _adam_state(data.get("G_opt"), data.get("G"), out["G"], map_generator_names, source, "G")
        if data.get("G") is not None
        else None
    )
    out["D_opt"] = (
        _adam_state(
            data.get("D_opt"), data.get("D"), out["D"], lambda n: map_discriminator_names(n, out["D"]), source, "D"
        )
        if out["D"] is not None
        else None
    )
    if verbose:
        dataset = out["training_set_kwargs"].get("path")
        print(f"{source}: trained on '{dataset or 'unknown dataset'}' ({SWAPPED_LABELS_NOTE})", file=sys.stderr)
    return out


def snapshot_kimg(loaded: dict[str, Any]) -> float | None:
    """The kimg a loaded snapshot was saved at, or None when the file does not say (nothing is guessed).

    StyleGAN-V snapshots carry ``stats.cur_nimg`` (exact); StyleGAN2-ADA ones do not, but the official
    training loop names them ``network-snapshot-<kimg, 6 digits>.pkl`` (whole kimg), so the name is used
    next. A renamed file without ``stats`` has no knowable kimg.
    """
    nimg = loaded.get("stats", {}).get("cur_nimg")
    if nimg is not None:
        return float(nimg) / 1000.0
    m = OFFICIAL_SNAPSHOT_NAME.fullmatch(Path(str(loaded.get("source", ""))).name)
    return float(m.group(1)) if m else None


# -------------------------------------------------------------------------------------- StyleGAN2-ADA image generators
def image_generator_state(
    path: str | os.PathLike,
    *,
    resolution: int,
    z_dim: int,
    w_dim: int,
    mapping_layers: int,
    channel_base: int,
    channel_max: int,
    use_noise: bool = False,
) -> dict[str, torch.Tensor]:
    """``mapping.*``/``synthesis.*`` weights of a StyleGAN2-ADA image pickle's ``G_ema``, named as our StyleGAN2
    generator.

    The expected settings are checked against the pickle's init kwargs first, so a mismatch names the key.
    ``use_noise``: our synthesis has the noise input, so each layer's ``noise_strength``/``noise_const``
    is copied (same names); without it, a pickle whose noise strengths are all zero still loads (the
    noise adds nothing) and one with real noise is refused.
    """
    source = str(path)
    data = _find_networks(load_pickle(path), source)
    record = data.get("G_ema") if data.get("G_ema") is not None else data["G"]
    kw = init_kwargs(record)
    tensors = list(official_tensors(record))
    names = [n for n, _, _ in tensors]
    if any(n.startswith("synthesis.motion_encoder.") for n in names):
        raise OfficialCheckpointError(
            f"{source}: this is a StyleGAN-V video generator, not an image generator; "
            f"use it directly (checkpoint={source})"
        )
    found = {
        "img_resolution": int(kw.get("img_resolution") or _resolution_from_names(names, source)),
        "z_dim": int(kw.get("z_dim", z_dim)),
        "w_dim": int(kw.get("w_dim", w_dim)),
        "mapping_kwargs.num_layers": int(
            _get(kw, "mapping_kwargs.num_layers", len([n for n in names if re.match(r"^mapping\.fc\d+\.weight$", n)]))
        ),
        "synthesis_kwargs.channel_base": int(_get(kw, "synthesis_kwargs.channel_base", channel_base)),
        "synthesis_kwargs.channel_max": int(_get(kw, "synthesis_kwargs.channel_max", channel_max)),
        "c_dim": int(kw.get("c_dim", 0) or 0),
    }
    wanted = {
        "img_resolution": resolution,
        "z_dim": z_dim,
        "w_dim": w_dim,
        "mapping_kwargs.num_layers": mapping_layers,
        "synthesis_kwargs.channel_base": channel_base,
        "synthesis_kwargs.channel_max": channel_max,
        "c_dim": 0,
    }
    for key, value in found.items():
        if value != wanted[key]:
            raise _refuse(
                source,
                key,
                value,
                f"this image generator is built with {wanted[key]} (set the generator's matching option)",
            )
    noise_names = ("noise_strength", "noise_const")
    strengths = [n for n, t, _ in tensors if n.endswith("noise_strength") and float(t.detach().abs().max()) != 0.0]
    has_noise = any(n.endswith(noise_names) for n in names)
    if not use_noise and strengths:
        raise _refuse(
            source,
            "synthesis_kwargs.use_noise",
            True,
            f"the image generator was trained with spatial noise ({len(strengths)} layers, e.g. '{strengths[0]}'): "
            f"set generator.image_noise=true",
        )
    if use_noise and not has_noise:
        raise _refuse(
            source,
            "synthesis_kwargs.use_noise",
            False,
            "the image generator has no noise inputs (no noise_strength/noise_const): set generator.image_noise=false",
        )
    state: dict[str, torch.Tensor] = {}
    for name, tensor, _ in tensors:
        key = map_generator_names(name)
        if key is None or (not use_noise and name.endswith(noise_names)):
            continue
        state[key] = tensor.detach().float()
    return state
