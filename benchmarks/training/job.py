"""One training job from a composed config: run folder, resume, components, loop, status.

``train(cfg, run_dir)`` is the entry ``sgvb train`` calls (and tests call directly with a config from
Hydra's compose API). It reads the config and passes plain keyword arguments on; no component ever
sees the config object.
"""
from __future__ import annotations

import dataclasses
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

from benchmarks.records import checkpoint as ckpt
from benchmarks.training import dist
from benchmarks.training.components import (
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
from benchmarks.config.training import EvalSettings, Provenance, RuntimeSettings, SampleSettings, TrainerSettings
from benchmarks.records.run_folder import (
    CONFIG,
    RUN_INFO,
    RunFolder,
    RunFolderBusy,
    RunLock,
    config_hash,
    identity_keys,
    now_iso,
    read_json,
    read_status,
    setup_logging,
)

log = logging.getLogger("sgvb")


def pick_device(choice: str, local_rank: int = 0) -> torch.device:
    """The run's device (``registry.devices.resolve_device``); a GPU becomes this process's current device."""
    from registry.devices import DeviceError, resolve_device

    try:
        device = resolve_device(choice, local_rank=local_rank)
    except DeviceError as exc:
        raise ConfigError(str(exc)) from None
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


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


def _die_with_parent() -> None:
    """A worker of a multi-process run is killed when its launcher (torchrun, ``sgvb train nproc=N``) dies,
    so it can never keep training beside a resume in the same folder (Linux ``PR_SET_PDEATHSIG``)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    parent = os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the launcher died before prctl took effect
        os._exit(1)


def _train_process(cfg: DictConfig, run_dir: Path) -> None:
    if dist.env_world_size() > 1:
        _die_with_parent()
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
    lock = None
    try:
        lock = _lock_run_folder(run_dir, rank)  # before anything in the folder is touched
        run = RunFolder(run_dir, writer=main)
        run.remove_stale_temp_files()
        setup_logging(run_dir if main else None, main=main)
        resume_path = _resume_source(cfg.get("resume"), run_dir)  # before touching status.json
        _apply_init_from_architecture(cfg)  # before the drift check: config.yaml holds the pickle's architecture
        drift = _config_drift(cfg, run_dir) if resume_path is not None else {}  # a refused resume leaves the run as it was
    except BaseException:
        if lock is not None:
            lock.release()
        dist.destroy()
        raise
    loop = None
    try:
        run.set_status("running", kimg=0.0)
        loop = _prepare(cfg, run, device, rank, world, resume_path, drift)
        run.set_status("running", kimg=loop.kimg)
        loop.run_training()
        run.set_status("done", kimg=loop.kimg)
        log.info("done at kimg %.3f: %s", loop.kimg, run_dir)
    except BaseException as exc:
        kimg = loop.kimg if loop is not None else 0.0
        message = "interrupted (KeyboardInterrupt)" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
        run.set_status("failed", kimg=kimg, error=message)
        if main:  # the file only: the console gets one line from the caller (sgvb train)
            with open(run_dir / "log.txt", "a") as f:
                f.write(f"{now_iso()} ERROR training failed at kimg {kimg:.3f}: {message}\n{traceback.format_exc()}")
        raise
    finally:
        run.close()
        lock.release()
        dist.destroy()


def _lock_run_folder(run_dir: Path, rank: int) -> RunLock:
    """Rank 0 takes the folder (or fails naming the holder); then every other rank holds its own lock."""
    lock, error = None, None
    if rank == 0:
        try:
            lock = RunLock(run_dir, 0).acquire()
        except RunFolderBusy as exc:
            error = str(exc)
    error = dist.broadcast_object(error)
    if error is not None:
        raise RunFolderBusy(error)
    return lock if lock is not None else RunLock(run_dir, rank).acquire()


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def _apply_init_from_architecture(cfg: DictConfig) -> None:
    """``init_from=x.pkl``: the pickle's generator, discriminator and frames per clip go into the config."""
    if cfg.get("init_from"):
        from benchmarks.training import init_from as official_start

        for key, value in official_start.training_overrides(cfg.init_from, _container(cfg.get("sampler"), None)).items():
            OmegaConf.update(cfg, key, value, merge=False)


def _prepare(cfg: DictConfig, run: RunFolder, device: torch.device, rank: int, world: int, resume_path: Path | None,
             drift: dict[str, list[Any]]):
    from benchmarks.training.loop import TrainingLoop

    seed = int(cfg.seed)
    _check_sampler_choice(cfg)

    init_from = cfg.get("init_from")  # an official network pickle (init_from.py); its architecture is in cfg already
    _seed_everything(seed)  # identical initialisation on every rank
    dataset = build_dataset(cfg.dataset)
    resolution = int(dataset.resolution)
    t = TrainerSettings(**_container(cfg.trainer, {}))
    # 'auto' values become numbers once the resolution is known
    t = dataclasses.replace(t, r1_gamma=r1_gamma_value(t.r1_gamma, resolution=resolution, batch_size=t.batch_size),
                            ema_kimg=ema_kimg_value(t.ema_kimg, batch_size=t.batch_size))
    G = build_generator(cfg.generator, resolution=resolution)
    slots = build_discriminators(
        cfg.discriminator, resolution=resolution, default_sampler=cfg.get("sampler"), default_loss=cfg.get("loss") or "non_saturating",
        r1_gamma=t.r1_gamma,
    )
    augment = build_augmentation(cfg.get("augmentation"))
    stages = tuple(G.training_stages)
    check_compatibility(G, slots, dataset, stages=stages, stage_kimg=t.stage_kimg, max_num_frames=t.max_num_frames)
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
    evaluate_kwargs = {"allow_stand_in_detectors": bool(cfg.allow_stand_in_detectors), "allow_fewer": bool(cfg.allow_fewer)}
    for key in ("cache_dir", "detector_path"):
        if cfg.get(key) is not None:
            evaluate_kwargs[key] = str(cfg.get(key))
    loop = TrainingLoop(
        G=G, slots=slots, dataset=dataset, augment=augment, run=run, device=device, trainer=t,
        runtime=RuntimeSettings(seed=seed, precision=str(cfg.precision), channels_last=bool(cfg.channels_last),
                                compile=bool(cfg.compile), fused_adam=bool(cfg.fused_adam), progress=bool(cfg.progress)),
        samples=SampleSettings(**_container(cfg.samples, {})),
        evaluation=EvalSettings(metrics=tuple(metrics), options=evaluate_kwargs),
        provenance=Provenance(components=components, config_text=config_text),
    )
    if resume_path is not None:
        state = ckpt.load_checkpoint(resume_path, map_location="cpu")
        loop.load_state_dict(state, source=str(resume_path))
        dropped = run.rewind_logs(loop.kimg)
        log.info("resumed from %s at kimg %.3f (step %d)%s", resume_path, loop.kimg, loop.step,
                 f"; {dropped} stats row(s) past it dropped" if dropped else "")
    elif init_from:  # an official network pickle (init_from.py)
        from benchmarks.training import init_from as official_start

        started = official_start.init_training_loop(loop, init_from)
        log.info("initialised from %s at kimg %.3f", init_from, loop.kimg)
    if run.writer:
        first_start = _read_run_json(run.path).get("init_from")  # _write_run_json rewrites run.json
        if resume_path is None or not (run.path / CONFIG).is_file():
            run.write_text(CONFIG, config_text)  # a resume never rewrites the original; changes go to run.json's history
        _write_run_json(run, cfg, components, device=device, world=world, seed=seed, resolution=resolution,
                        resumed_from=resume_path, drift=drift)
        taken = started if init_from and resume_path is None else first_start  # where the run started, kept on resume
        if taken:
            from benchmarks.training import init_from as official_start

            official_start.record_init_source(run.path / RUN_INFO, taken)
        log.info("run folder %s", run.path)
    return loop


def _check_sampler_choice(cfg: DictConfig) -> None:
    """``sampler`` serves the first discriminator only when it brings no ``_sampler_`` of its own; a choice that
    would be ignored is refused, so config.yaml and run.json always agree with what ran."""
    from benchmarks.training.components import discriminator_entries

    if cfg.get("sampler") is None:
        return
    first = discriminator_entries(_container(cfg.discriminator, {}))[0]
    if first.get("_sampler_") is not None:
        own = first["_sampler_"]
        own = own.get("_name_") if isinstance(own, dict) else own
        raise ConfigError(
            f"sampler={_container(cfg.sampler, {}).get('_name_')} would be ignored: discriminator '{first.get('_name_')}' brings its own "
            f"sampler ({own}, its '_sampler_' key); choose it there instead (discriminator._sampler_=... or the entry's '_sampler_')"
        )


def _config_drift(cfg: DictConfig, run_dir: Path) -> dict[str, list[Any]]:
    """Experiment-defining keys that differ from the run's (its config.yaml plus the changes already allowed).
    Refused unless every one is named in ``allow_change``; the allowed ones are returned for the history."""
    path = run_dir / CONFIG
    if not path.is_file():
        return {}
    before = identity_keys(_container(OmegaConf.load(path), {}), with_seed=True)
    for entry in (_read_run_json(run_dir).get("history") or []):
        for key, (_, new) in entry.get("changes", {}).items():
            before.pop(key, None) if new == "<absent>" else before.__setitem__(key, new)
    now = identity_keys(_container(cfg, {}), with_seed=True)
    changes = {k: [before.get(k, "<absent>"), now.get(k, "<absent>")] for k in sorted(set(before) | set(now)) if before.get(k, "<absent>") != now.get(k, "<absent>")}
    allowed = [str(k) for k in (_container(cfg.get("allow_change"), []) or [])]
    refused = {k: v for k, v in changes.items() if not any(k == a or k.startswith(f"{a}.") for a in allowed)}
    if refused:
        listed = "; ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in refused.items())
        names = ",".join(sorted({k.split(".")[0] if k.split(".")[0] == "metrics" else k for k in refused}))
        raise ConfigError(
            f"resuming {run_dir} with a different configuration ({listed}); use a new run_dir, or allow the change "
            f"with allow_change=[{names}] (recorded in run.json's history; config.yaml keeps the original)"
        )
    return changes


def _read_run_json(run_dir: Path) -> dict[str, Any]:
    return read_json(run_dir / RUN_INFO) or {}


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
    from registry import build_record

    spec = build_record(obj)
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


def _write_run_json(run: RunFolder, cfg: DictConfig, components: dict[str, Any], *, device, world, seed, resolution, resumed_from, drift) -> None:
    from registry.core import _own_version

    record: dict[str, Any] = {}
    for kind in ("generator", "dataset", "augmentation"):
        record[kind] = _component_record(components[kind])
    for kind in ("discriminator", "sampler", "loss"):
        for i, spec in enumerate(components[kind]):
            record[kind if i == 0 else f"{kind}_{i}"] = _component_record(spec)
    record.update(_nested_components(components["generator"].get("kwargs", {})))
    previous = _read_run_json(run.path)
    info = {
        "package_version": _own_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda if device.type == "cuda" else None,
        "git_commit": _git_commit(),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "world_size": world,
        "precision": str(cfg.get("precision", "bf16")) if device.type == "cuda" else "fp32",
        "seed": seed,
        "config_hash": previous.get("config_hash", config_hash(_container(cfg, {}))),  # the run's identity, from its first start
        "dataset": components["dataset"].get("_name_"),
        "resolution": resolution,
        "components": record,
        "started": previous.get("started", now_iso()),
    }
    if previous.get("history") or drift:
        info["history"] = [*previous.get("history", []), *([{"at": now_iso(), "changes": drift}] if drift else [])]
    if resumed_from is not None:
        info["resumed"] = [*previous.get("resumed", []), {"at": now_iso(), "from": str(resumed_from)}]
    run.write_json(RUN_INFO, info)


def _nested_components(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Components a component builds itself (a keyword argument named after a registry kind, e.g. a
    generator's ``positional_encoding``), recorded like the top-level ones."""
    from registry import REGISTRIES, UnknownComponentError, split_spec

    found = {}
    for kind, value in kwargs.items():
        if kind not in REGISTRIES or not isinstance(value, (str, dict)):
            continue
        name = split_spec(value, kind)[0]
        try:
            info = REGISTRIES[kind].info(name)
            found[kind] = {"name": info.name, "provider": info.provider, "version": info.version, "kwargs": value if isinstance(value, dict) else {}}
        except UnknownComponentError:
            found[kind] = {"name": name, "provider": None, "version": None, "kwargs": {}}
    return found
