"""Fixture pickles in the StyleGAN2-ADA persistence format, written without any official code.

``official_generator_shapes``/``official_discriminator_shapes`` give the official tensor names and
shapes of a StyleGAN-V network (naming rules of the official architecture, independent of our
loader's name map). ``write_snapshot`` pickles a ``network-snapshot`` dict whose networks are
persistent-object records: a reconstruct hook ``src.torch_utils.persistence._reconstruct_persistent_obj``
and a ``module_src`` text. Both write ``marker`` if they are ever executed, so a test can prove the
loader never ran them. By-reference classes (``nn.Sequential``, ``nn.Embedding``, ``Adam``,
``EasyDict``, omegaconf configs, ``training.layers.TemporalDifferenceEncoder``) are pickled by name
as in the official files; fake modules exist only while writing.
"""

from __future__ import annotations

import contextlib
import math
import pickle
import sys
import types
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf


def channels(res: int, channel_base: int, channel_max: int) -> int:
    return min(channel_base // res, channel_max)


def official_generator_shapes(
    res: int,
    *,
    channel_base=16384,
    channel_max=512,
    z_dim=512,
    w_dim=512,
    motion_dim=512,
    kernel=11,
    time_dim=256,
    mapping_layers=2,
    stylegan_v=True,
    noise=False,
) -> tuple[dict, dict]:
    """(parameters, buffers): official name -> shape, in the official module order.

    ``noise``: every conv layer has StyleGAN2's noise input (a scalar ``noise_strength`` parameter and
    a ``noise_const`` buffer of the layer's resolution), as every standard StyleGAN2-ADA network.
    """
    p: dict[str, list[int]] = OrderedDict()
    b: dict[str, list[int]] = OrderedDict()
    if stylegan_v:
        te = "synthesis.motion_encoder.time_encoder."
        p[te + "periods_predictor.weight"] = [time_dim, motion_dim]
        p[te + "phase_predictor.weight"] = [time_dim, motion_dim]
        p[te + "aligners_predictor.weight"] = [2 * time_dim, motion_dim]
        b[te + "freqs"] = [1, time_dim]
        b[te + "phase_scales"] = [1, time_dim]
        for j in range(2):
            p[f"synthesis.motion_encoder.conv.{j}.weight"] = [motion_dim, motion_dim, kernel]
            p[f"synthesis.motion_encoder.conv.{j}.bias"] = [motion_dim]
    extra = 2 * time_dim if stylegan_v else 0
    for log2 in range(2, int(math.log2(res)) + 1):
        r = 2**log2
        out = channels(r, channel_base, channel_max)
        pre = f"synthesis.b{r}."
        b[pre + "resample_filter"] = [4, 4]
        if r == 4:
            p[pre + ("input.input.const" if stylegan_v else "const")] = [1, out, 4, 4] if stylegan_v else [out, 4, 4]
            convs = [("conv1", out + extra)]
        else:
            convs = [("conv0", channels(r // 2, channel_base, channel_max)), ("conv1", out)]
        for name, cin in convs:
            p[pre + f"{name}.weight"] = [out, cin, 3, 3]
            if noise:
                p[pre + f"{name}.noise_strength"] = []
                b[pre + f"{name}.noise_const"] = [r, r]
            p[pre + f"{name}.bias"] = [out]
            p[pre + f"{name}.affine.weight"] = [cin, w_dim]
            p[pre + f"{name}.affine.bias"] = [cin]
            b[pre + f"{name}.resample_filter"] = [4, 4]
        p[pre + "torgb.weight"] = [3, out, 1, 1]
        p[pre + "torgb.bias"] = [3]
        p[pre + "torgb.affine.weight"] = [out, w_dim]
        p[pre + "torgb.affine.bias"] = [out]
    for i in range(mapping_layers):
        p[f"mapping.fc{i}.weight"] = [w_dim, z_dim if i == 0 else w_dim]
        p[f"mapping.fc{i}.bias"] = [w_dim]
    b["mapping.w_avg"] = [w_dim]
    return p, b


def official_discriminator_shapes(
    res: int, *, channel_base=16384, channel_max=512, num_frames=3, max_gap=1024, concat_res=16
) -> tuple[dict, dict]:
    p: dict[str, list[int]] = OrderedDict()
    b: dict[str, list[int]] = OrderedDict()

    def ch(r):
        return channels(r, channel_base, channel_max)

    p["time_encoder.const_embed.weight"] = [max_gap, 256]
    b["time_encoder.time_encoder.fourier_coefs"] = [1, 10]
    r = res
    while r > 4:
        out = ch(r // 2)
        if r // 2 == concat_res:
            out //= 2
        cin = ch(r) if r > concat_res else (num_frames * (ch(r) // 2) if r == concat_res else ch(r))
        pre = f"b{r}."
        b[pre + "resample_filter"] = [4, 4]
        if r == res:
            p[pre + "fromrgb.weight"] = [ch(r), 3, 1, 1]
            p[pre + "fromrgb.bias"] = [ch(r)]
            b[pre + "fromrgb.resample_filter"] = [4, 4]
            cin = ch(r)
        p[pre + "conv0.weight"] = [ch(r), cin, 3, 3]
        p[pre + "conv0.bias"] = [ch(r)]
        b[pre + "conv0.resample_filter"] = [4, 4]
        p[pre + "conv1.weight"] = [out, ch(r), 3, 3]
        p[pre + "conv1.bias"] = [out]
        b[pre + "conv1.resample_filter"] = [4, 4]
        p[pre + "skip.weight"] = [out, cin, 1, 1]
        b[pre + "skip.resample_filter"] = [4, 4]
        r //= 2
    cmap = ch(4)
    p["mapping.embed.weight"] = [cmap, (num_frames - 1) * (256 + 20)]
    p["mapping.embed.bias"] = [cmap]
    for i in range(2):
        p[f"mapping.fc{i}.weight"] = [cmap, cmap]
        p[f"mapping.fc{i}.bias"] = [cmap]
    p["b4.conv.weight"] = [ch(4), ch(4) + 1, 3, 3]
    p["b4.conv.bias"] = [ch(4)]
    b["b4.conv.resample_filter"] = [4, 4]
    p["b4.fc.weight"] = [ch(4), ch(4) * 16]
    p["b4.fc.bias"] = [ch(4)]
    p["b4.out.weight"] = [cmap, ch(4)]
    p["b4.out.bias"] = [cmap]
    return p, b


def fixed_buffer(
    name: str, shape: list[int], *, time_dim=256, min_period=16.0, max_period=1024.0, max_gap=1024
) -> torch.Tensor:
    """The deterministic official buffers (resample filters, frequencies) computed from their definitions."""
    if name.endswith("resample_filter"):
        f = torch.tensor([1.0, 3.0, 3.0, 1.0])
        f = torch.outer(f, f)
        return f / f.sum()
    if name.endswith("freqs"):
        periods = 2 ** torch.linspace(math.log2(min_period), math.log2(max_period), time_dim, dtype=torch.float64)
        return (2 * math.pi / periods).flip(0).float()[None]
    if name.endswith("phase_scales"):
        freqs = fixed_buffer("freqs", shape, time_dim=time_dim, min_period=min_period, max_period=max_period)
        return max_period / (2 * math.pi / freqs)
    if name.endswith("fourier_coefs"):
        return (math.pi * 2.0 ** torch.arange(shape[1]) / max_gap)[None].float()
    return torch.randn(shape)


# ----------------------------------------------------------------------------------------- writing
@contextlib.contextmanager
def fake_official_modules(marker: Path):
    """``src.torch_utils.persistence``, ``torch_utils.persistence``, ``dnnlib.util``, ``training.layers``
    while pickling."""
    names = [
        "src",
        "src.torch_utils",
        "src.torch_utils.persistence",
        "torch_utils",
        "torch_utils.persistence",
        "dnnlib",
        "dnnlib.util",
        "training",
        "training.layers",
    ]
    saved = {n: sys.modules.get(n) for n in names}
    mods = {n: types.ModuleType(n) for n in names}

    def _reconstruct_persistent_obj(meta):  # would run if a loader called the hook
        Path(marker).write_text("reconstruct hook ran")
        raise RuntimeError("fixture reconstruct hook executed")

    class EasyDict(dict):
        pass

    class TemporalDifferenceEncoder:
        pass

    for modname in ("src.torch_utils.persistence", "torch_utils.persistence"):
        fn = types.FunctionType(
            _reconstruct_persistent_obj.__code__,
            {"Path": Path, "marker": marker},
            "_reconstruct_persistent_obj",
            closure=_reconstruct_persistent_obj.__closure__,
        )
        fn.__module__, fn.__qualname__ = modname, "_reconstruct_persistent_obj"
        mods[modname]._reconstruct_persistent_obj = fn
    EasyDict.__module__, EasyDict.__qualname__ = "dnnlib.util", "EasyDict"
    mods["dnnlib.util"].EasyDict = EasyDict
    TemporalDifferenceEncoder.__module__, TemporalDifferenceEncoder.__qualname__ = (
        "training.layers",
        "TemporalDifferenceEncoder",
    )
    mods["training.layers"].TemporalDifferenceEncoder = TemporalDifferenceEncoder
    sys.modules.update(mods)
    try:
        yield mods
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m


class _Persistent:
    """Pickles as the persistence hook call with a ``meta`` dict (what ``persistent_class.__reduce__`` writes)."""

    def __init__(self, hook, class_name: str, state: dict, module_src: str):
        self.hook, self.class_name, self.state, self.module_src = hook, class_name, state, module_src

    def __reduce__(self):
        meta = dict(type="class", version=6, module_src=self.module_src, class_name=self.class_name, state=self.state)
        return self.hook, (meta,)


def _module_state(params: dict, buffers: dict, modules: dict, **attrs) -> dict:
    return {
        "training": False,
        "_parameters": OrderedDict(params),
        "_buffers": OrderedDict(buffers),
        "_non_persistent_buffers_set": set(),
        "_modules": OrderedDict(modules),
        "_forward_hooks": OrderedDict(),
        "_forward_pre_hooks": OrderedDict(),
        "_backward_hooks": OrderedDict(),
        **attrs,
    }


def build_module_tree(
    tensors: dict[str, tuple[torch.Tensor, bool]],
    *,
    hook,
    module_src: str,
    by_reference: dict[str, Any],
    root_class: str,
    root_attrs: dict,
) -> Any:
    """Nested module records from flat official names; ``by_reference`` maps a path to a factory of a real object."""
    tree: dict = {}
    for name, (tensor, is_param) in tensors.items():
        *path, leaf = name.split(".")
        node = tree
        for part in path:
            node = node.setdefault(part, {})
        node[leaf] = (tensor, is_param)

    def build(node: dict, path: str, class_name: str, attrs: dict) -> Any:
        params = {k: v[0] for k, v in node.items() if isinstance(v, tuple) and v[1]}
        buffers = {k: v[0] for k, v in node.items() if isinstance(v, tuple) and not v[1]}
        children = {k: build(v, f"{path}{k}.", k.capitalize(), {}) for k, v in node.items() if isinstance(v, dict)}
        state = _module_state(params, buffers, children, **attrs)
        if path.rstrip(".") in by_reference:
            obj = by_reference[path.rstrip(".")]()
            obj.__dict__.update(state)
            return obj
        return _Persistent(hook, class_name, state, module_src)

    return build(tree, "", root_class, root_attrs)


def _as_parameters(shapes: dict, gen: torch.Generator) -> dict[str, tuple[torch.Tensor, bool]]:
    return {
        n: (torch.nn.Parameter(torch.randn(s, generator=gen) * 0.5, requires_grad=False), True)
        for n, s in shapes.items()
    }


def network_tensors(params: dict, buffers: dict, *, seed: int, **buffer_kwargs) -> dict[str, tuple[torch.Tensor, bool]]:
    """Random official parameters plus the official fixed buffers (``w_avg`` random)."""
    gen = torch.Generator().manual_seed(seed)
    out = _as_parameters(params, gen)
    for n, s in buffers.items():
        out[n] = (fixed_buffer(n, s, **buffer_kwargs), False)
    return out


def stylegan_v_cfg(
    *,
    z_dim=512,
    w_dim=512,
    motion_dim=512,
    kernel=11,
    time_dim=256,
    min_period=16,
    max_period=1024,
    spacing=16,
    num_frames=3,
    **overrides,
) -> Any:
    cfg = {
        "source": "networks",
        "use_noise": False,
        "w_dim": w_dim,
        "c_dim": 0,
        "z_dim": z_dim,
        "input": {"type": "temporal"},
        "motion": {
            "time_enc": {},
            "z_dim": motion_dim,
            "v_dim": motion_dim,
            "motion_z_distance": spacing,
            "gen_strategy": "conv",
            "kernel_size": kernel,
            "use_fractional_t": True,
            "fourier": True,
        },
        "sampling": {
            "name": "random3_max32",
            "fps": 30,
            "max_num_frames": 1024,
            "num_frames_per_video": num_frames,
            "type": "random",
            "total_dists": [1, 2, 4, 8, 16, 32],
            "max_dist": 32,
        },
        "time_enc": {
            "cond_type": "concat_const",
            "dim": time_dim,
            "min_period_len": min_period,
            "max_period_len": max_period,
            "phase_dropout_std": 1.0,
        },
        "concat_res": 16,
        "num_frames_div_factor": 2,
        "dummy_c": False,
        "mbstd_group_size": 4,
    }
    for dotted, value in overrides.items():
        node = cfg
        *path, leaf = dotted.split("__")
        for part in path:
            node = node[part]
        node[leaf] = value
    return OmegaConf.create(cfg)


def write_snapshot(
    path: Path,
    *,
    res: int,
    marker: Path,
    channel_base=16384,
    channel_max=512,
    z_dim=512,
    w_dim=512,
    motion_dim=512,
    time_dim=256,
    kernel=11,
    mapping_layers=2,
    seed=0,
    with_optimizers=True,
    cfg_overrides: dict | None = None,
    extra_payload: Any = None,
    c_dim: int = 0,
    dataset_path: str = "/data/sky_timelapse_256.zip",
) -> dict[str, dict[str, torch.Tensor]]:
    """A StyleGAN-V ``network-snapshot`` pickle; returns the official tensors written (G, D, G_ema by name)."""
    g_shapes = official_generator_shapes(
        res,
        channel_base=channel_base,
        channel_max=channel_max,
        z_dim=z_dim,
        w_dim=w_dim,
        motion_dim=motion_dim,
        kernel=kernel,
        time_dim=time_dim,
        mapping_layers=mapping_layers,
    )
    d_shapes = official_discriminator_shapes(res, channel_base=channel_base, channel_max=channel_max)
    cfg = stylegan_v_cfg(
        z_dim=z_dim, w_dim=w_dim, motion_dim=motion_dim, kernel=kernel, time_dim=time_dim, **(cfg_overrides or {})
    )
    written: dict[str, dict[str, torch.Tensor]] = {}
    with fake_official_modules(marker) as mods:
        hook = mods["src.torch_utils.persistence"]._reconstruct_persistent_obj
        EasyDict = mods["dnnlib.util"].EasyDict
        src = f"open({str(marker)!r}, 'w').write('module_src ran')\n"
        g_kwargs = EasyDict(
            z_dim=z_dim,
            c_dim=c_dim,
            w_dim=w_dim,
            img_resolution=res,
            img_channels=3,
            mapping_kwargs=EasyDict(num_layers=mapping_layers, cfg=cfg),
            synthesis_kwargs=EasyDict(
                channel_base=channel_base, channel_max=channel_max, num_fp16_res=4, conv_clamp=256
            ),
            cfg=cfg,
        )
        d_kwargs = EasyDict(
            c_dim=c_dim,
            img_resolution=res,
            img_channels=3,
            block_kwargs=EasyDict(freeze_layers=0),
            mapping_kwargs=EasyDict(num_layers=2),
            epilogue_kwargs=EasyDict(mbstd_group_size=4),
            channel_base=channel_base,
            channel_max=channel_max,
            num_fp16_res=4,
            conv_clamp=256,
            cfg=cfg,
        )
        g_refs = {"synthesis.motion_encoder.conv": torch.nn.Sequential}
        d_refs = {
            "time_encoder": mods["training.layers"].TemporalDifferenceEncoder,
            "time_encoder.const_embed": lambda: torch.nn.Embedding(1, 1),
        }
        nets = {}
        for key, shapes, kwargs, refs, cls, s in (
            ("G", g_shapes, g_kwargs, g_refs, "Generator", seed),
            ("G_ema", g_shapes, g_kwargs, g_refs, "Generator", seed + 1),
            ("D", d_shapes, d_kwargs, d_refs, "Discriminator", seed + 2),
        ):
            tensors = network_tensors(
                *shapes,
                seed=s,
                time_dim=time_dim,
                min_period=float(cfg.time_enc.min_period_len),
                max_period=float(cfg.time_enc.max_period_len),
            )
            written[key] = {n: t for n, (t, _) in tensors.items()}
            nets[key] = build_module_tree(
                tensors,
                hook=hook,
                module_src=src,
                by_reference=refs,
                root_class=cls,
                root_attrs={"_init_args": (), "_init_kwargs": kwargs, "img_resolution": res},
            )
        augment = _Persistent(hook, "AugmentPipe", _module_state({}, {"p": torch.tensor(0.375)}, {}), src)
        snapshot = {
            "training_set_kwargs": EasyDict(
                class_name="training.dataset.VideoFramesFolderDataset",
                path=dataset_path,
                cfg=OmegaConf.create({"name": "sky", "max_num_frames": 1024}),
                use_labels=False,
                max_size=None,
                xflip=True,
                resolution=res,
            ),
            "G": nets["G"],
            "D": nets["D"],
            "G_ema": nets["G_ema"],
            "augment_pipe": augment,
        }
        if with_optimizers:
            for key, opt_key in (("G", "G_opt"), ("D", "D_opt")):
                live = [
                    torch.nn.Parameter(t.detach().clone())
                    for n, t in written[key].items()
                    if n in (g_shapes if key == "G" else d_shapes)[0]
                ]
                opt = torch.optim.Adam(live, lr=0.002, betas=(0.0, 0.99))
                for p in live:
                    p.grad = torch.randn_like(p) * 1e-3
                opt.step()
                snapshot[opt_key] = opt
            snapshot["stats"] = {"cur_nimg": 123_000, "cur_tick": 7, "batch_idx": 41}
            snapshot["vis"] = {"z": torch.randn(2, z_dim)}
        if extra_payload is not None:
            snapshot["extra"] = extra_payload
        with open(path, "wb") as f:
            pickle.dump(snapshot, f, protocol=pickle.HIGHEST_PROTOCOL)
    return written


def write_image_generator(
    path: Path,
    *,
    res: int,
    marker: Path,
    channel_base=512,
    channel_max=32,
    z_dim=32,
    w_dim=32,
    mapping_layers=3,
    seed=0,
    noise=False,
) -> dict[str, torch.Tensor]:
    """A StyleGAN2-ADA image ``G_ema`` pickle (``b4.const``, no motion); returns the official tensors.

    ``noise``: with the per-layer noise inputs (random non-zero ``noise_strength``, random ``noise_const``).
    """
    params, buffers = official_generator_shapes(
        res,
        channel_base=channel_base,
        channel_max=channel_max,
        z_dim=z_dim,
        w_dim=w_dim,
        mapping_layers=mapping_layers,
        stylegan_v=False,
        noise=noise,
    )
    tensors = network_tensors(params, buffers, seed=seed)
    with fake_official_modules(marker) as mods:
        hook = mods["torch_utils.persistence"]._reconstruct_persistent_obj
        EasyDict = mods["dnnlib.util"].EasyDict
        kwargs = EasyDict(
            z_dim=z_dim,
            c_dim=0,
            w_dim=w_dim,
            img_resolution=res,
            img_channels=3,
            mapping_kwargs=EasyDict(num_layers=mapping_layers),
            synthesis_kwargs=EasyDict(
                channel_base=channel_base, channel_max=channel_max, num_fp16_res=4, conv_clamp=256
            ),
        )
        G = build_module_tree(
            tensors,
            hook=hook,
            module_src="raise SystemExit('module_src ran')\n",
            by_reference={},
            root_class="Generator",
            root_attrs={"_init_args": (), "_init_kwargs": kwargs},
        )
        with open(path, "wb") as f:
            pickle.dump(
                {
                    "G": G,
                    "D": None,
                    "G_ema": G,
                    "augment_pipe": None,
                    "training_set_kwargs": EasyDict(path="/data/ffhq.zip"),
                },
                f,
                protocol=4,
            )
    return {n: t for n, (t, _) in tensors.items()}
