"""Continue a published run: ``sgvb train init_from=network-snapshot-*.pkl``.

The harness asks twice: :func:`training_overrides` (before building, so the config builds the
pickle's generator and discriminator) and :func:`init_training_loop` (after, to place the state:
G, G_ema, D, ADA p, Adam moments, kimg). One loaded snapshot is cached in between. What was taken goes
into ``run.json`` (``RunInfo.init_from``), written by the job with the rest of the record.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from stylegan_v.official import OfficialCheckpointError, load_network_pkl

__all__ = ["check_source", "check_total_kimg", "init_training_loop", "training_overrides"]

_snapshot_cache: dict[tuple, dict[str, Any]] = {}


def check_source(path: str | os.PathLike) -> None:
    """``init_from`` takes an official network pickle; one of our own checkpoints (a torch zip, ``.pt``) is refused
    in one line saying what continues it instead (``resume=<checkpoint>``)."""
    import zipfile

    from benchmarks.config.training import ConfigError

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"init_from={p}: no such file (init_from takes an official network-snapshot-*.pkl)")
    if p.suffix == ".pt" or zipfile.is_zipfile(p):
        raise ConfigError(
            f"init_from={p} is an sgvb checkpoint, and init_from takes an official network-snapshot-*.pkl; continue "
            f"the checkpoint with resume={p} (with run_dir=<a new folder> to keep the old run as it is)"
        )


def check_total_kimg(path: str | os.PathLike, total_kimg: float) -> None:
    """Refuse a start whose pickle has already trained ``trainer.total_kimg`` or more (``stats.cur_nimg``, where the
    loop starts counting): the run would end at once, ``done`` with nothing trained and no checkpoint."""
    from benchmarks.config.training import ConfigError

    stats = _cached_snapshot(path).get("stats") or {}
    if "cur_nimg" not in stats:
        return  # the loop starts at kimg 0
    start = int(stats["cur_nimg"]) / 1000.0
    if start >= float(total_kimg) - 1e-9:
        raise ConfigError(
            f"init_from={path} has trained {start:g} kimg, and trainer.total_kimg={float(total_kimg):g} is not more: "
            f"nothing would be trained; set trainer.total_kimg above {start:g} (it counts from the pickle's kimg, "
            f"e.g. trainer.total_kimg={start + 1000:g} for 1000 kimg more)"
        )


def _cached_snapshot(path: str | os.PathLike) -> dict[str, Any]:
    """One loaded snapshot per process: ``sgvb train`` reads the architecture first, then the weights."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"init_from: '{p}' does not exist")
    key = (str(p.resolve()), p.stat().st_mtime_ns, p.stat().st_size)
    if key not in _snapshot_cache:
        _snapshot_cache.clear()
        _snapshot_cache[key] = load_network_pkl(p)
    return _snapshot_cache[key]


def training_overrides(path: str | os.PathLike, sampler: dict[str, Any] | None = None) -> dict[str, Any]:
    """Config keys that make ``sgvb train`` build the pickle's networks: generator, discriminator, and the frames per
    clip of ``sampler`` (the run's sampler settings; none chosen = StyleGAN-V's sparse_random)."""
    loaded = _cached_snapshot(path)
    d_kwargs = dict(loaded["D"]._sgvb_spec["kwargs"]) if loaded.get("D") is not None else {}
    num_frames = d_kwargs.pop("num_frames", None)
    d_kwargs.pop("resolution", None)
    g_kwargs = {k: v for k, v in loaded["G"]._sgvb_spec["kwargs"].items() if k != "resolution"}
    out: dict[str, Any] = {"generator": {"_name_": "stylegan_v", **g_kwargs}}
    if d_kwargs:
        out["discriminator"] = {"_name_": "stylegan_v", **d_kwargs}
    if num_frames is not None:
        out["sampler"] = {**(sampler or {"_name_": "sparse_random"}), "num_frames": int(num_frames)}
    return out


def init_training_loop(loop: Any, path: str | os.PathLike) -> dict[str, Any]:
    """Start a training loop from an official snapshot: G, G_ema, D, ADA p, Adam moments and kimg where present.

    Returns what was taken (recorded in ``run.json``). The loop's networks must have been built from
    :func:`training_overrides`; a mismatch (e.g. another dataset resolution) is refused naming the key.
    """
    source = str(path)
    loaded = _cached_snapshot(path)
    if int(loop.G.resolution) != int(loaded["G"].resolution):
        raise OfficialCheckpointError(
            f"{source}: trained at {loaded['G'].resolution}x{loaded['G'].resolution}, but dataset.resolution "
            f"is {loop.G.resolution}: set dataset.resolution={loaded['G'].resolution}"
        )
    if len(loop.slots) != 1 or loaded.get("D") is None:
        raise OfficialCheckpointError(
            f"{source}: an official snapshot has one discriminator; the config 'discriminator' builds {len(loop.slots)}"
        )
    D = loop.slots[0].D
    try:
        loop.G.load_state_dict(loaded["G"].state_dict())
        loop.G_ema.load_state_dict(loaded["G_ema"].state_dict())
        D.load_state_dict(loaded["D"].state_dict())
    except RuntimeError as exc:
        raise OfficialCheckpointError(
            f"{source}: the configured networks differ from the snapshot's (leave generator/discriminator "
            f"settings to init_from): {str(exc).splitlines()[0]}"
        ) from None
    taken: dict[str, Any] = {"source": source, "training_set_path": str(loaded["training_set_kwargs"].get("path", ""))}
    if loaded.get("augment_p") is not None and hasattr(loop.augment, "p"):
        loop.augment.p = float(loaded["augment_p"])
        taken["augment_p"] = loop.augment.p
    for name, opt, moments, module in (
        ("G_opt", loop.opt_G, loaded.get("G_opt"), loop.G),
        ("D_opt", loop.opt_D[0], loaded.get("D_opt"), D),
    ):
        if moments:
            params = dict(module.named_parameters())
            for key, entry in moments.items():
                p = params[key]
                opt.state[p] = {
                    "step": entry["step"].clone(),
                    "exp_avg": entry["exp_avg"].to(p.device).clone(),
                    "exp_avg_sq": entry["exp_avg_sq"].to(p.device).clone(),
                }
            taken[name] = len(moments)
    stats = loaded.get("stats") or {}
    if "cur_nimg" in stats:
        loop.nimg = int(stats["cur_nimg"])
        loop.tick = int(stats.get("cur_tick", 0))
        loop.step = int(stats.get("batch_idx", 0))
        loop.snapshots.restart_at(loop.kimg)
        taken["kimg"] = loop.kimg
    _snapshot_cache.clear()
    return taken
