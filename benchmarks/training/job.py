"""One training job from a composed config: run folder, resume, components, loop, status.

``train(cfg, run_dir)`` is the entry ``sgvb train`` calls (and tests call directly with a config from
Hydra's compose API). It reads the config and passes plain keyword arguments on; no component ever
sees the config object.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from . import checkpoint as ckpt
from . import dist
from .components import (
    ConfigError,
    build_augmentation,
    build_dataset,
    build_discriminators,
    build_generator,
    check_compatibility,
    ema_kimg_value,
    r1_gamma_value,
    smoke_test,
)
from .run_folder import RunFolder, now_iso, read_status, setup_logging

log = logging.getLogger("sgvb")

# Keys that say where/how a run executes, not what it trains: left out of the config hash.
NON_IDENTITY_KEYS = ("run_dir", "resume", "nproc", "device")


def pick_device(choice: str, local_rank: int = 0) -> torch.device:
    choice = str(choice or "auto").lower()
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    if choice.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device={choice} but CUDA is not available here; use device=cpu or device=auto")
        if choice == "cuda":
            choice = f"cuda:{local_rank}"
        torch.cuda.set_device(torch.device(choice))
        return torch.device(choice)
    if choice != "cpu":
        raise ConfigError(f"device must be auto, cpu or cuda[:N], got {choice!r}")
    return torch.device("cpu")


def config_hash(cfg: DictConfig) -> str:
    container = OmegaConf.to_container(cfg, resolve=True)
    for key in NON_IDENTITY_KEYS:
        container.pop(key, None)
    return hashlib.sha256(json.dumps(container, sort_keys=True, default=str).encode()).hexdigest()[:16]


def resolve_run_dir(cfg: DictConfig, run_dir: str | os.PathLike | None = None) -> Path:
    if run_dir is None:
        run_dir = cfg.get("run_dir")
    if run_dir is None:
        try:
            from hydra.core.hydra_config import HydraConfig

            run_dir = HydraConfig.get().runtime.output_dir
        except Exception:
            raise ConfigError("no run folder: set run_dir=<path> (outside Hydra there is no output directory)") from None
    return Path(run_dir).absolute()


def is_done(run_dir: str | os.PathLike) -> bool:
    status = read_status(run_dir)
    return bool(status and status.get("state") == "done")


def train(cfg: DictConfig, run_dir: str | os.PathLike | None = None) -> Path:
    """Train (or resume, or skip a finished run). Raises on failure after recording it in ``status.json``."""
    run_dir = resolve_run_dir(cfg, run_dir)
    nproc = int(cfg.get("nproc", 1) or 1)
    if str(cfg.get("resume")) == "auto" and is_done(run_dir):
        print(f"sgvb train: {run_dir} is already done (status.json); nothing to do", file=sys.stderr)
        return run_dir
    if nproc > 1 and dist.env_world_size() == 1:
        _spawn(cfg, run_dir, nproc)
        return run_dir
    _train_process(cfg, run_dir)
    return run_dir


def _spawn(cfg: DictConfig, run_dir: Path, nproc: int) -> None:
    """``nproc`` processes on this machine, each running ``_train_process`` (rank from the environment)."""
    port = dist.free_port()
    try:
        torch.multiprocessing.spawn(_spawned_entry, args=(nproc, port, cfg, str(run_dir)), nprocs=nproc, join=True)
    except torch.multiprocessing.ProcessRaisedException as exc:
        status = read_status(run_dir) or {}
        raise RuntimeError(status.get("error") or f"a training process failed:\n{exc}") from None


def _spawned_entry(rank: int, world: int, port: int, cfg: DictConfig, run_dir: str) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    _train_process(cfg, Path(run_dir))


def _train_process(cfg: DictConfig, run_dir: Path) -> None:
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(cfg.get("device", "auto"), local_rank)
    threads = torch.get_num_threads()
    if cfg.get("cpu_threads"):
        torch.set_num_threads(int(cfg.cpu_threads))
    try:
        _train_on(cfg, run_dir, device)
    finally:
        torch.set_num_threads(threads)


def _train_on(cfg: DictConfig, run_dir: Path, device: torch.device) -> None:
    rank, world = dist.init_from_env(device.type)
    run_dir = Path(dist.broadcast_object(str(run_dir)))
    main = rank == 0
    run = RunFolder(run_dir, writer=main)
    setup_logging(run_dir if main else None, main=main)
    try:
        resume_path = _resume_source(cfg.get("resume"), run_dir)  # before touching status.json
    except BaseException:
        run.close()
        dist.destroy()
        raise
    loop = None
    try:
        run.set_status("running", kimg=0.0)
        loop = _prepare(cfg, run, device, rank, world, resume_path)
        run.set_status("running", kimg=loop.kimg)
        loop.run_training()
        run.set_status("done", kimg=loop.kimg)
        log.info("done at kimg %.3f: %s", loop.kimg, run_dir)
    except BaseException as exc:
        kimg = loop.kimg if loop is not None else 0.0
        message = "interrupted (KeyboardInterrupt)" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
        run.set_status("failed", kimg=kimg, error=message)
        if main:
            log.error("training failed at kimg %.3f: %s", kimg, message)
            with open(run_dir / "log.txt", "a") as f:
                f.write(traceback.format_exc())
        raise
    finally:
        run.close()
        dist.destroy()


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def _prepare(cfg: DictConfig, run: RunFolder, device: torch.device, rank: int, world: int, resume_path: Path | None):
    from .loop import TrainingLoop

    t = cfg.trainer
    seed = int(cfg.get("seed", 0))

    init_from = cfg.get("init_from")  # --- official network pickle: its architecture and state (stylegan_v.official)
    if init_from:
        from stylegan_v import official_finetune
        for key, value in official_finetune.training_overrides(init_from).items():
            OmegaConf.update(cfg, key, value, merge=False)  # --- end init_from
    _seed_everything(seed)  # identical initialisation on every rank
    dataset = build_dataset(cfg.dataset)
    resolution = int(dataset.resolution)
    batch_size = int(t.batch_size)
    G = build_generator(cfg.generator, resolution=resolution)
    slots = build_discriminators(
        cfg.discriminator, resolution=resolution, default_sampler=cfg.get("sampler"), default_loss=cfg.get("loss") or "non_saturating",
        r1_gamma=r1_gamma_value(t.get("r1_gamma", "auto"), resolution=resolution, batch_size=batch_size),
    )
    augment = build_augmentation(cfg.get("augmentation"))
    stages = tuple(getattr(G, "training_stages", ("main",)))
    stage_kimg = _container(t.get("stage_kimg"), {})
    check_compatibility(G, slots, dataset, stages=stages, stage_kimg=stage_kimg, max_num_frames=int(t.get("max_num_frames", 1024)))
    metrics = _metric_list(cfg.get("metrics"))
    _check_metrics(metrics)
    G.to(device)
    for s in slots:
        s.D.to(device)
    G.eval(), [s.D.eval() for s in slots]
    smoke_test(G, slots, dataset, device)
    G.train(), [s.D.train() for s in slots]
    dist.broadcast_module(G)
    for s in slots:
        dist.broadcast_module(s.D)
    _seed_everything(seed * world + rank)  # per-rank training randomness (StyleGAN2-ADA)

    components = {
        "generator": ckpt.spec_of(G),
        "discriminator": [ckpt.spec_of(s.D) for s in slots],
        "sampler": [_plain_spec(s.sampler) for s in slots],
        "loss": [_plain_spec(s.loss) for s in slots],
        "augmentation": _plain_spec(augment),
        "dataset": _plain_spec(dataset),
    }
    config_text = OmegaConf.to_yaml(cfg, resolve=True)
    evaluate_kwargs = {"allow_stand_in_detectors": bool(cfg.get("allow_stand_in_detectors", False))}
    for key in ("cache_dir", "detector_path"):
        if cfg.get(key) is not None:
            evaluate_kwargs[key] = str(cfg.get(key))
    loop = TrainingLoop(
        G=G, slots=slots, dataset=dataset, augment=augment, run=run, device=device, seed=seed,
        precision=str(cfg.get("precision", "bf16")), channels_last=bool(cfg.get("channels_last", False)), compile=bool(cfg.get("compile", False)),
        total_kimg=float(t.total_kimg), stage_kimg=stage_kimg, stage_optim=_container(t.get("stage_optim"), {}),
        batch_size=batch_size, batch_gpu=int(t.batch_gpu),
        kimg_per_tick=float(t.kimg_per_tick), snapshot_kimg=float(t.snapshot_kimg), eval_kimg=float(t.eval_kimg),
        keep_checkpoints=int(t.keep_checkpoints), best_metric=t.get("best_metric"),
        g_lr=float(t.g_lr), d_lr=float(t.d_lr), betas=tuple(float(b) for b in t.betas), g_reg_interval=t.get("g_reg_interval"),
        r1_interval=int(t.r1_interval), ema_kimg=ema_kimg_value(t.get("ema_kimg", "auto"), batch_size=batch_size),
        num_workers=int(t.num_workers), max_num_frames=int(t.get("max_num_frames", 1024)), metrics=metrics,
        evaluate_kwargs=evaluate_kwargs, samples=_container(cfg.get("samples"), {}),
        components=components, config_text=config_text, progress=bool(cfg.get("progress", True)),
    )
    if resume_path is not None:
        state = ckpt.load_checkpoint(resume_path, map_location="cpu")
        loop.load_state_dict(state, source=str(resume_path))
        log.info("resumed from %s at kimg %.3f (step %d)", resume_path, loop.kimg, loop.step)
    elif init_from:  # --- official network pickle (stylegan_v.official)
        started = official_finetune.init_training_loop(loop, init_from)
        log.info("initialised from %s at kimg %.3f", init_from, loop.kimg)
    if run.writer:
        run.write_text("config.yaml", config_text)
        _write_run_json(run, cfg, components, device=device, world=world, seed=seed, resolution=resolution, resumed_from=resume_path)
        if init_from and resume_path is None:
            official_finetune.record_init_source(run.path / "run.json", started)  # --- end init_from
        log.info("run folder %s", run.path)
    return loop


def _resume_source(resume: Any, run_dir: Path) -> Path | None:
    """Which checkpoint to continue from: rank 0 decides, every rank loads the same file."""
    choice, error = None, None
    if dist.is_main():
        try:
            choice = _choose_checkpoint(resume, run_dir)
        except (ConfigError, FileNotFoundError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"
    choice, error = dist.broadcast_object((choice, error))
    if error is not None:
        raise ConfigError(error)
    return Path(choice) if choice else None


def _choose_checkpoint(resume: Any, run_dir: Path) -> str | None:
    if resume in (None, False, "none", "null", "no"):
        if ckpt.list_checkpoints(run_dir):
            raise ConfigError(f"run folder {run_dir} already holds checkpoints: continue it with resume=auto, or choose another run_dir")
        return None
    if str(resume) == "auto":
        found = ckpt.latest_checkpoint(run_dir)
        return str(found[0]) if found else None
    path = ckpt.resolve_checkpoint_path(resume)
    if not path.is_file():
        raise ConfigError(f"resume={resume}: no such checkpoint file or run folder")
    return str(path)


def _container(node: Any, default: Any) -> Any:
    if node is None:
        return default
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def _metric_list(node: Any) -> list[Any]:
    if node is None:
        return []
    value = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
    if isinstance(value, (str, dict)):
        value = [value]
    if isinstance(value, dict) and "metrics" in value:
        value = value["metrics"]
    return list(value)


def _check_metrics(metrics: list[Any]) -> None:
    """Unknown metric names fail now, not after hours of training."""
    if not metrics:
        return
    from metrics import build_metric
    from registry import UnknownComponentError

    for metric in metrics:
        try:
            build_metric(metric)
        except (UnknownComponentError, KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"config 'metrics': {exc}") from None


def _plain_spec(obj: Any) -> dict[str, Any]:
    spec = getattr(obj, "_sgvb_spec", None)
    return dict(spec) if spec is not None else {"_name_": type(obj).__name__, "kwargs": {}}


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def _component_record(spec: dict[str, Any]) -> dict[str, Any]:
    return {"name": spec.get("_name_"), "provider": spec.get("provider"), "version": spec.get("version"), "kwargs": spec.get("kwargs", {})}


def _write_run_json(run: RunFolder, cfg: DictConfig, components: dict[str, Any], *, device, world, seed, resolution, resumed_from) -> None:
    from registry import POSITIONAL_ENCODINGS, split_spec
    from registry.core import _own_version

    record: dict[str, Any] = {}
    for kind in ("generator", "dataset", "augmentation"):
        record[kind] = _component_record(components[kind])
    for kind in ("discriminator", "sampler", "loss"):
        for i, spec in enumerate(components[kind]):
            record[kind if i == 0 else f"{kind}_{i}"] = _component_record(spec)
    pe = components["generator"].get("kwargs", {}).get("positional_encoding")
    if pe is not None:
        name = split_spec(pe, "positional_encoding")[0]
        try:
            info = POSITIONAL_ENCODINGS.info(name)
            record["positional_encoding"] = {"name": info.name, "provider": info.provider, "version": info.version,
                                             "kwargs": pe if isinstance(pe, dict) else {}}
        except Exception:
            record["positional_encoding"] = {"name": name, "provider": None, "version": None, "kwargs": {}}
    previous = {}
    path = run.path / "run.json"
    if path.is_file():
        try:
            previous = json.loads(path.read_text())
        except json.JSONDecodeError:
            previous = {}
    info = {
        "package_version": _own_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda if device.type == "cuda" else None,
        "git_commit": _git_commit(),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "world_size": world,
        "precision": str(cfg.get("precision", "bf16")) if device.type == "cuda" else "fp32",
        "seed": seed,
        "config_hash": config_hash(cfg),
        "dataset": components["dataset"].get("_name_"),
        "resolution": resolution,
        "components": record,
        "started": previous.get("started", now_iso()),
    }
    if resumed_from is not None:
        info["resumed"] = [*previous.get("resumed", []), {"at": now_iso(), "from": str(resumed_from)}]
    run.write_json("run.json", info)
