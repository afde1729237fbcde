"""One training job from its typed config: run folder, resume, components, loop, status.

``train(config, run_dir)`` is the entry ``sgvb train`` calls with the ``TrainConfig`` that
``benchmarks.config.training.train_config`` made of Hydra's composition (tests do the same with Hydra's
compose API). The typed config carries every default; this module passes its groups on (``trainer``,
``runtime``, ``samples``, ``evaluation``) and plain keyword arguments to the components, which never see
the config object. The run folder's records are written through ``records.run_records``.
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

from benchmarks.config.training import ConfigError, Provenance, TrainConfig, check_ranges
from benchmarks.records import checkpoint as ckpt
from benchmarks.records.run_folder import RunFolder, RunFolderBusy, RunLock, config_hash, identity_keys, setup_logging
from benchmarks.records.run_records import CONFIG, LOG, RunInfo, now_iso, read_config, read_run_info, read_status
from benchmarks.training import dist, preflight
from benchmarks.training.components import (
    build_augmentation,
    build_dataset,
    build_discriminators,
    build_generator,
    check_compatibility,
    discriminator_entries,
    ema_kimg_value,
    r1_gamma_value,
    smoke_test,
)
from benchmarks.training.preemption import STOP_SIGNALS, StopRequest, TrainingInterrupted, signal_name

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


def resolve_run_dir(config: TrainConfig, run_dir: str | os.PathLike | None = None) -> Path:
    """``run_dir`` if given, else the config's ``run_dir``, else Hydra's output folder of this job."""
    if run_dir is None:
        run_dir = config.run_dir
    if run_dir is None:
        try:
            from hydra.core.hydra_config import HydraConfig

            run_dir = HydraConfig.get().runtime.output_dir
        except Exception:
            raise ConfigError(
                "no run folder: set run_dir=<path> (outside Hydra there is no output directory)"
            ) from None
    return Path(run_dir).absolute()


def is_done(run_dir: str | os.PathLike) -> bool:
    status = read_status(run_dir)
    return status is not None and status.state == "done"


def train(config: TrainConfig, run_dir: str | os.PathLike | None = None) -> Path:
    """Train (or resume, or skip a finished run). Raises on failure after recording it in ``status.json``."""
    check_ranges(config)  # a config not made by train_config (the Python API) is checked too, before any file
    run_dir = resolve_run_dir(config, run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"run_dir={run_dir} is a file, not a folder: choose a folder for the run")
    if config.init_from:
        from benchmarks.training.init_from import check_source, check_total_kimg

        check_source(config.init_from)
        if not ckpt.list_checkpoints(run_dir):  # a fresh run starts from the pickle (else a resume continues)
            check_total_kimg(config.init_from, config.trainer.total_kimg)
    if str(config.resume) == "auto" and is_done(run_dir) and not _extends(config, run_dir):
        status = read_status(run_dir)
        hint = (
            f" (to extend it to trainer.total_kimg={config.trainer.total_kimg:g}, "
            "add allow_change=[trainer.total_kimg])"
            if config.trainer.total_kimg > status.kimg + 1e-9
            else ""
        )
        print(f"sgvb train: {run_dir} is already done (status.json); nothing to do{hint}", file=sys.stderr)
        return run_dir
    preflight.check(config, run_dir)  # data, metric counts, detector weights, run folder: seconds, not hours
    if config.nproc > 1 and dist.env_world_size() == 1:
        _spawn(config, run_dir)
        return run_dir
    _train_process(config, run_dir)
    return run_dir


def _extends(config: TrainConfig, run_dir: Path) -> bool:
    """A finished run asked to go further: ``trainer.total_kimg`` raised past where it stopped, and ``allow_change``
    names the key (without it the run stays as it is and the message says what extends it)."""
    status = read_status(run_dir)
    if status is None or config.trainer.total_kimg <= status.kimg + 1e-9:
        return False
    return any(str(key) in ("trainer.total_kimg", "trainer") for key in config.allow_change)


def _spawn(config: TrainConfig, run_dir: Path) -> None:
    """``config.nproc`` processes on this machine, each running ``_train_process`` (rank from the environment)."""
    import signal

    port = dist.free_port()
    context = torch.multiprocessing.start_processes(
        _spawned_entry, args=(config.nproc, port, config, str(run_dir)), nprocs=config.nproc, join=False
    )

    def forward(signum: int, frame: Any) -> None:  # the workers stop with a checkpoint (training.preemption)
        for process in context.processes:
            if process.is_alive():
                os.kill(process.pid, signum)

    previous = {signum: signal.signal(signum, forward) for signum in STOP_SIGNALS}
    try:
        while not context.join():
            pass
    except torch.multiprocessing.ProcessRaisedException as exc:
        status = read_status(run_dir)
        if status is not None and status.state == "interrupted" and status.signal:
            signum = getattr(signal, status.signal, signal.SIGTERM)
            handler = previous.get(signum)
            if callable(handler):  # the launcher's own handler (submitit's requeue), now that the checkpoint is safe
                handler(signum, None)
            raise TrainingInterrupted(signum, status.kimg) from None
        raise RuntimeError((status.error if status else None) or f"a training process failed:\n{exc}") from None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


def _spawned_entry(rank: int, world: int, port: int, config: TrainConfig, run_dir: str) -> None:
    os.environ.update(
        RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    _train_process(config, Path(run_dir))


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


def _train_process(config: TrainConfig, run_dir: Path) -> None:
    if dist.env_world_size() > 1:
        _die_with_parent()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(config.device, local_rank)
    threads = torch.get_num_threads()
    if config.cpu_threads:
        torch.set_num_threads(config.cpu_threads)
    try:
        _train_on(config, run_dir, device)
    finally:
        torch.set_num_threads(threads)


def _train_on(config: TrainConfig, run_dir: Path, device: torch.device) -> None:
    rank, world = dist.init_from_env(device.type)
    run_dir = Path(dist.broadcast_object(str(run_dir)))
    main = rank == 0
    lock = None
    try:
        lock = _lock_run_folder(run_dir, rank)  # before anything in the folder is touched
        run = RunFolder(run_dir, writer=main)
        run.remove_stale_temp_files()
        setup_logging(run_dir if main else None, main=main)
        resume_path = _resume_source(config.resume, run_dir)  # before touching status.json
        # before the drift check: config.yaml holds the pickle's architecture
        config = _with_init_from_architecture(config)
        # a refused resume leaves the run as it was
        drift = _config_drift(config, run_dir) if resume_path is not None else {}
    except BaseException:
        if lock is not None:
            lock.release()
        dist.destroy()
        raise
    loop = None
    stop = StopRequest().install()  # SIGTERM/SIGUSR2 from here on: a checkpoint after the step in hand
    try:
        run.set_status("running", kimg=0.0)
        loop = _prepare(config, run, device, rank, world, resume_path, drift)
        loop.stop = stop
        run.set_status("running", kimg=loop.kimg)
        loop.run_training()
        run.set_status("done", kimg=loop.kimg)
        log.info("done at kimg %.3f: %s", loop.kimg, run_dir)
    except TrainingInterrupted as exc:
        run.set_status("interrupted", kimg=exc.kimg, error=str(exc), signal=signal_name(exc.signum))
        log.warning("training %s", exc)
        if exc.exit_code is not None:  # the launcher's handler ends the job (submitit: after requeueing it)
            raise SystemExit(exc.exit_code) from None
        raise
    except BaseException as exc:
        kimg = loop.kimg if loop is not None else 0.0
        message = _failure_message(exc)
        run.set_status("failed", kimg=kimg, error=message)
        if main:  # the file only: the console gets one line from the caller (sgvb train)
            with open(run_dir / LOG, "a") as f:
                f.write(f"{now_iso()} ERROR training failed at kimg {kimg:.3f}: {message}\n{traceback.format_exc()}")
        raise
    finally:
        stop.restore()
        run.close()
        lock.release()
        dist.destroy()


def _failure_message(exc: BaseException) -> str:
    return "interrupted (KeyboardInterrupt)" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"


def failure_log(run_dir: Path, exc: BaseException) -> Path | None:
    """The run's ``log.txt`` when the job recorded ``exc`` there (with its traceback, and in status.json); None for a
    failure before the job held the run folder (a refused resume, a busy folder), which leaves the folder as it was."""
    status = read_status(run_dir)
    if status is None or status.state != "failed" or status.error not in (_failure_message(exc), str(exc)):
        return None
    return run_dir / LOG


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


def _with_init_from_architecture(config: TrainConfig) -> TrainConfig:
    """``init_from=x.pkl``: the pickle's generator, discriminator and frames per clip replace the config's."""
    if not config.init_from:
        return config
    from benchmarks.training import init_from as official_start

    return dataclasses.replace(config, **official_start.training_overrides(config.init_from, config.sampler))


def _prepare(
    config: TrainConfig,
    run: RunFolder,
    device: torch.device,
    rank: int,
    world: int,
    resume_path: Path | None,
    drift: dict[str, list[Any]],
):
    from benchmarks.training.loop import TrainingLoop

    seed = config.seed
    _check_sampler_choice(config)
    _seed_everything(seed)  # identical initialisation on every rank
    dataset = build_dataset(config.dataset)
    resolution = int(dataset.resolution)
    t = config.trainer  # 'auto' values become numbers once the resolution is known
    t = dataclasses.replace(
        t,
        r1_gamma=r1_gamma_value(t.r1_gamma, resolution=resolution, batch_size=t.batch_size),
        ema_kimg=ema_kimg_value(t.ema_kimg, batch_size=t.batch_size),
    )
    G = build_generator(config.generator, resolution=resolution)
    slots = build_discriminators(
        config.discriminator,
        resolution=resolution,
        default_sampler=config.sampler,
        default_loss=config.loss,
        r1_gamma=t.r1_gamma,
    )
    augment = build_augmentation(config.augmentation)
    stages = tuple(G.training_stages)
    check_compatibility(G, slots, dataset, stages=stages, stage_kimg=t.stage_kimg, max_num_frames=t.max_num_frames)
    evaluation = config.evaluation
    _check_metrics(evaluation.metrics)
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
    config_text = _yaml(config.as_dict())
    loop = TrainingLoop(
        G=G,
        slots=slots,
        dataset=dataset,
        augment=augment,
        run=run,
        device=device,
        trainer=t,
        runtime=config.runtime,
        samples=config.samples,
        evaluation=evaluation,
        provenance=Provenance(components=components, config_text=config_text),
    )
    started = None
    if resume_path is not None:
        state = ckpt.load_checkpoint(resume_path, map_location="cpu")
        loop.load_state_dict(state, source=str(resume_path))
        dropped = run.rewind_logs(loop.kimg)
        abandoned = run.abandon_past(loop.kimg, loop.snapshots.best.best)  # a fallback to an older checkpoint
        log.info(
            "resumed from %s at kimg %.3f (step %d)%s%s",
            resume_path,
            loop.kimg,
            loop.step,
            f"; {dropped} stats row(s) past it dropped" if dropped else "",
            f"; the trajectory past it is abandoned: {abandoned}" if abandoned else "",
        )
    elif config.init_from:  # an official network pickle (init_from.py)
        from benchmarks.training import init_from as official_start

        started = official_start.init_training_loop(loop, config.init_from)
        log.info("initialised from %s at kimg %.3f", config.init_from, loop.kimg)
    if run.writer:
        previous = read_run_info(run.path)
        if resume_path is None or not (run.path / CONFIG).is_file():
            run.write_config(config_text)  # a resume never rewrites the original; changes go to run.json's history
        first_start = previous.init_from if previous else None  # where the run started, kept on resume
        run.write_run_info(
            _run_info(
                config,
                components,
                previous,
                device=device,
                world=world,
                resolution=resolution,
                resumed_from=resume_path,
                drift=drift,
                init_from=started if started is not None else first_start,
            )
        )
        log.info("run folder %s", run.path)
    return loop


def _yaml(plain: dict[str, Any]) -> str:
    """The YAML text of a plain config (what Hydra's ``--cfg job`` prints for it)."""
    from omegaconf import OmegaConf

    return OmegaConf.to_yaml(plain)


def _check_sampler_choice(config: TrainConfig) -> None:
    """``sampler`` serves the first discriminator only when it brings no ``_sampler_`` of its own; a choice that
    would be ignored is refused, so config.yaml and run.json always agree with what ran."""
    if config.sampler is None:
        return
    first = discriminator_entries(config.discriminator)[0]
    if first.get("_sampler_") is not None:
        own = first["_sampler_"]
        own = own.get("_name_") if isinstance(own, dict) else own
        raise ConfigError(
            f"sampler={config.sampler.get('_name_')} would be ignored: discriminator '{first.get('_name_')}' brings "
            f"its own sampler ({own}, its '_sampler_' key); choose it there instead "
            "(discriminator._sampler_=... or the entry's '_sampler_')"
        )


def _config_drift(config: TrainConfig, run_dir: Path) -> dict[str, list[Any]]:
    """Experiment-defining keys that differ from the run's (its config.yaml plus the changes already allowed).
    Refused unless every one is named in ``allow_change``; the allowed ones are returned for the history."""
    if not (run_dir / CONFIG).is_file():
        return {}
    before = identity_keys(read_config(run_dir), with_seed=True)
    previous = read_run_info(run_dir)
    for entry in previous.history if previous else []:
        for key, (_, new) in entry.get("changes", {}).items():
            before.pop(key, None) if new == "<absent>" else before.__setitem__(key, new)
    now = identity_keys(config.as_dict(), with_seed=True)
    changes = {
        k: [before.get(k, "<absent>"), now.get(k, "<absent>")]
        for k in sorted(set(before) | set(now))
        if before.get(k, "<absent>") != now.get(k, "<absent>")
    }
    allowed = [str(k) for k in config.allow_change]
    refused = {k: v for k, v in changes.items() if not any(k == a or k.startswith(f"{a}.") for a in allowed)}
    if refused:
        listed = "; ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in refused.items())
        names = ",".join(sorted({k.split(".")[0] if k.split(".")[0] == "metrics" else k for k in refused}))
        raise ConfigError(
            f"resuming {run_dir} with a different configuration ({listed}); use a new run_dir, or allow the change "
            f"with allow_change=[{names}] (recorded in run.json's history; config.yaml keeps the original)"
        )
    return changes


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
            raise ConfigError(
                f"run folder {run_dir} already holds checkpoints: "
                "continue it with resume=auto, or choose another run_dir"
            )
        return None
    if str(resume) == "auto":
        found = ckpt.latest_checkpoint(run_dir)
        return str(found[0]) if found else None
    path = ckpt.resolve_checkpoint_path(resume)
    if not path.is_file():
        raise ConfigError(f"resume={resume}: no such checkpoint file or run folder")
    return str(path)


def _check_metrics(metrics: tuple[Any, ...]) -> None:
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
    return {
        "name": spec.get("_name_"),
        "provider": spec.get("provider"),
        "version": spec.get("version"),
        "kwargs": spec.get("kwargs", {}),
    }


def _run_info(
    config: TrainConfig,
    components: dict[str, Any],
    previous: RunInfo | None,
    *,
    device: torch.device,
    world: int,
    resolution: int,
    resumed_from: Path | None,
    drift: dict[str, list[Any]],
    init_from: dict[str, Any] | None,
) -> RunInfo:
    """This start's ``run.json``; identity, start time and history carry over from the ``previous`` record."""
    from registry.core import own_version

    record: dict[str, Any] = {}
    for kind in ("generator", "dataset", "augmentation"):
        record[kind] = _component_record(components[kind])
    for kind in ("discriminator", "sampler", "loss"):
        for i, spec in enumerate(components[kind]):
            record[kind if i == 0 else f"{kind}_{i}"] = _component_record(spec)
    record.update(_nested_components(components["generator"].get("kwargs", {})))
    cuda = device.type == "cuda"
    return RunInfo(
        package_version=own_version(),
        torch=torch.__version__,
        cuda=torch.version.cuda if cuda else None,
        git_commit=_git_commit(),
        device=torch.cuda.get_device_name(device) if cuda else "cpu",
        world_size=world,
        precision=config.precision if cuda else "fp32",
        seed=config.seed,
        config_hash=previous.config_hash if previous else config_hash(config.as_dict()),  # the first start's identity
        dataset=components["dataset"].get("_name_"),
        resolution=resolution,
        components=record,
        started=(previous.started if previous else None) or now_iso(),
        history=[*(previous.history if previous else []), *([{"at": now_iso(), "changes": drift}] if drift else [])],
        resumed=(
            [*(previous.resumed if previous else []), {"at": now_iso(), "from": str(resumed_from)}]
            if resumed_from
            else []
        ),
        init_from=init_from,
    )


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
            found[kind] = {
                "name": info.name,
                "provider": info.provider,
                "version": info.version,
                "kwargs": value if isinstance(value, dict) else {},
            }
        except UnknownComponentError:
            found[kind] = {"name": name, "provider": None, "version": None, "kwargs": {}}
    return found
