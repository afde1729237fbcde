"""Checkpoints: the complete training state as plain tensors and containers.

A checkpoint is ``<run_dir>/checkpoints/ckpt-<kimg:010.3f>.pt`` (``ckpt-000001.848.pt``: kimg to the frame,
so every training state has its own file and a metric record names exactly the state it measured) holding a dict:
``format``/``format_version``; counters (``nimg``, ``kimg``, ``step``, ``tick``); ``components``
(registry name + keyword arguments + provider of every component, from ``obj._sgvb_spec``, so the
networks are rebuilt through the registry — no pickled code); ``G``, ``G_ema``, ``D`` (one state dict
per discriminator), ``opt_G``, ``opt_D``, ``augment`` (per discriminator), ``rng`` (torch, cuda,
numpy, python and the loop's own generators as tensors/lists); ``best`` and the resolved ``config``
(YAML text). Everything loads with ``torch.load(weights_only=True)``. Files are written to a temp
name and renamed (``registry.files.atomic_open``), so a killed run never leaves a half-written checkpoint under the
real name; a corrupt file found anyway (e.g. a disk error) is skipped with a warning on resume.

The dict is built in one place, ``checkpoint_state`` (the training loop and ``sgvb convert-checkpoint`` both call
it), and read through ``load_checkpoint`` (format checked) and ``state_kimg``.
"""

from __future__ import annotations

import logging
import os
import pickle
import random
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from registry.files import atomic_open, kimg_tag, naming

FORMAT = "sgvb-checkpoint"
FORMAT_VERSION = 1
CKPT_RE = re.compile(r"^ckpt-(\d+)(?:\.(\d{3}))?\.pt$")  # ckpt-000001.848.pt; ckpt-000001.pt (older runs)

log = logging.getLogger("sgvb")


# ----------------------------------------------------------------------------------------- RNG
def capture_rng_state() -> dict[str, Any]:
    """Global RNG states as tensors/lists (``weights_only``-safe)."""
    mt_name, mt_keys, mt_pos, has_gauss, cached = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "name": mt_name,
            "keys": torch.from_numpy(mt_keys.astype(np.int64)),
            "pos": int(mt_pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "python": {"version": int(py_version), "state": list(py_state), "gauss": py_gauss},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"].cpu())
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


# ----------------------------------------------------------------------------------------- files
def checkpoint_name(kimg: float) -> str:
    """``ckpt-000001.848.pt`` at kimg 1.848: unique per training state (nimg counts whole frames)."""
    return f"ckpt-{state_tag(kimg)}.pt"


state_tag = kimg_tag  # kimg to the frame, sortable as text: ``000001.848`` (registry.files: one spelling everywhere)


def checkpoint_kimg(path: str | os.PathLike) -> float | None:
    """The kimg in a checkpoint file name (either naming), or None for other files."""
    match = CKPT_RE.match(Path(path).name)
    return None if match is None else int(match.group(1)) + int(match.group(2) or 0) / 1000


def checkpoint_state(
    *,
    nimg: int | None,
    components: Mapping[str, Any],
    G: torch.nn.Module,
    G_ema: torch.nn.Module,
    D: Sequence[torch.nn.Module],
    step: int = 0,
    tick: int = 0,
    opt_G: torch.optim.Optimizer | None = None,
    opt_D: Sequence[torch.optim.Optimizer] | None = None,
    augment: torch.nn.Module | None = None,
    rng: list[dict[str, Any]] | None = None,
    schedule: Mapping[str, Any] | None = None,
    world_size: int | None = None,
    config: str | None = None,
    best: Mapping[str, Any] | None = None,
    official: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """THE checkpoint dict (``save_checkpoint`` adds the format keys).

    ``nimg`` None: the source does not say how far it trained (no count is written, ``kimg`` is None).
    A training state adds the optimisers, augmentation, every rank's RNG (``rng``), the loop's ``schedule``
    (``stage_index``, ``stage_started``, ``last_snapshot_kimg``, ``last_eval_kimg``: flat keys), ``world_size``,
    the resolved ``config`` text and ``best``; a converted official pickle adds ``official`` (its source and ADA p).
    What is not given is left out, so a reader can tell a resumable state from a generator-only file.
    """
    state: dict[str, Any] = {"kimg": None if nimg is None else nimg / 1000.0}
    if nimg is not None:
        state["nimg"] = int(nimg)
    state.update({"step": int(step), "tick": int(tick), **dict(schedule or {})})
    if world_size is not None:
        state["world_size"] = int(world_size)
    state["components"] = dict(components)
    if config is not None:
        state["config"] = config
    state.update({"G": G.state_dict(), "G_ema": G_ema.state_dict(), "D": [d.state_dict() for d in D]})
    optional = {
        "opt_G": None if opt_G is None else opt_G.state_dict(),
        "opt_D": None if opt_D is None else [opt.state_dict() for opt in opt_D],
        "augment": None if augment is None else augment.state_dict(),
        "rng": rng,
        "best": None if best is None else dict(best),
        "official": None if official is None else dict(official),
    }
    state.update({key: value for key, value in optional.items() if value is not None})
    return state


def state_kimg(state: Mapping[str, Any], path: str | os.PathLike | None = None) -> float | None:
    """How far a checkpoint's state trained: its ``nimg`` (exact, survives renaming), else the kimg in the file
    name, else None."""
    if state.get("nimg") is not None:
        return state["nimg"] / 1000
    return None if path is None else checkpoint_kimg(path)


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write atomically: temp file in the same folder, fsync, then ``os.replace``."""
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, **state}
    with atomic_open(path) as handle:
        sink = _WriteErrors(handle)
        try:
            torch.save(payload, sink)
        except RuntimeError:
            if sink.error is not None:  # torch reports a full disk as "unexpected pos": the OS error, naming the file
                raise naming(sink.error, path) from None
            raise
    return Path(path)


class _WriteErrors:
    """A file handle that keeps the ``OSError`` of a failed write (torch.save turns it into a RuntimeError)."""

    def __init__(self, handle: Any):
        self.handle, self.error = handle, None

    def write(self, data: Any) -> int:
        try:
            return self.handle.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        self.handle.flush()


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """Load and check a checkpoint (``weights_only=True``); errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint '{path}' does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:  # torch's advice to load with weights_only=False is never passed on
        reason = refusal_reason(exc)
        if "global" not in reason.lower():  # not an object refused: a broken file
            raise ValueError(f"checkpoint '{path}' cannot be read (UnpicklingError: {reason})") from None
        raise ValueError(
            f"checkpoint '{path}' was refused by the safe (weights-only) reader: {reason}; sgvb never "
            "loads a file that way (an official network .pkl is read by its own safe reader)"
        ) from None
    except Exception as exc:  # truncated zip, ...
        raise ValueError(f"checkpoint '{path}' cannot be read ({type(exc).__name__}: {first_line_of(exc)})") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"'{path}' is not an sgvb checkpoint (no format='{FORMAT}' field)")
    if state.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(
            f"checkpoint '{path}' has format version {state['format_version']}; "
            f"this sgvb reads up to {FORMAT_VERSION}: upgrade sgvb"
        )
    return state


def first_line_of(exc: BaseException) -> str:
    return next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)


def refusal_reason(exc: BaseException) -> str:
    """What the weights-only unpickler refused (``Unsupported global: GLOBAL posix.system``), without its advice."""
    text = str(exc)
    if "WeightsUnpickler error:" in text:
        after = text.split("WeightsUnpickler error:", 1)[1]
        line = next((ln.strip() for ln in after.splitlines() if ln.strip()), "")
        return line.split(" was not an allowed global")[0] or "unreadable"
    return next((ln.strip() for ln in text.splitlines() if ln.strip() and "weights_only" not in ln), "unreadable")


def list_checkpoints(run_dir: str | os.PathLike) -> list[Path]:
    """Checkpoint files of a run folder, oldest (lowest kimg) first."""
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    found = [(kimg, p) for p in folder.iterdir() if (kimg := checkpoint_kimg(p)) is not None]
    return [p for _, p in sorted(found)]


def latest_checkpoint(run_dir: str | os.PathLike, map_location: Any = "cpu") -> tuple[Path, dict[str, Any]] | None:
    """Newest checkpoint that loads; unreadable newer ones are skipped with a warning."""
    for path in reversed(list_checkpoints(run_dir)):
        try:
            return path, load_checkpoint(path, map_location=map_location)
        except (ValueError, OSError, RuntimeError) as exc:
            log.warning("skipping unreadable checkpoint %s (%s); trying the previous one", path, exc)
    return None


def prune_checkpoints(run_dir: str | os.PathLike, keep: int, protected: set[str] = frozenset()) -> list[Path]:
    """Delete all but the newest ``keep`` checkpoints (never the ones named in ``protected``)."""
    paths = list_checkpoints(run_dir)
    if keep <= 0:
        return []
    removed = []
    for path in paths[:-keep]:
        if path.name in protected:
            continue
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed


# ----------------------------------------------------------------------------------------- networks
def spec_of(obj: Any) -> dict[str, Any]:
    """A component's registry record (``_name_``, ``kwargs``, ``provider``, ``version``)."""
    from registry import build_record

    spec = build_record(obj)
    if spec is None:
        raise ValueError(
            f"{type(obj).__name__} was not built through the registry, so a checkpoint cannot say how to rebuild it"
        )
    return spec


def build_from_spec(registry: Any, spec: dict[str, Any]) -> Any:
    return registry.build({"_name_": spec["_name_"], **spec.get("kwargs", {})})


def resolve_checkpoint_path(path: str | os.PathLike) -> Path:
    """A checkpoint file, or a run folder (its newest readable checkpoint)."""
    path = Path(path)
    if path.is_dir():
        found = latest_checkpoint(path)
        if found is None:
            raise FileNotFoundError(f"run folder '{path}' has no readable checkpoint under checkpoints/")
        return found[0]
    return path


def load_generator(path: str | os.PathLike, device: Any = None, ema: bool = True):
    """The generator of a checkpoint (G_ema unless ``ema=False``), in eval mode, on ``device``.

    ``path`` may also be a run folder (its newest checkpoint is used).
    """
    return load_generator_and_kimg(path, device=device, ema=ema)[0]


def load_generator_and_kimg(path: str | os.PathLike, device: Any = None, ema: bool = True) -> tuple[Any, float | None]:
    """``load_generator`` plus the kimg the file was saved at, read from the same single load (what eval records).

    Our checkpoints: the training state's ``nimg`` (exact, survives renaming), else the kimg in the file name.
    Official pickles: ``stylegan_v.official.snapshot_kimg``
    (``stats.cur_nimg``, else the official ``network-snapshot-<kimg>.pkl`` name). None when neither says.
    """
    from registry import GENERATORS

    path = resolve_checkpoint_path(path)
    if path.suffix == ".pkl":  # official StyleGAN-V / StyleGAN2-ADA network pickle (stylegan_v.official)
        from stylegan_v.official import load_network_pkl, snapshot_kimg

        loaded = load_network_pkl(path)
        G = loaded["G_ema" if ema else "G"]
        return (G.to(device) if device is not None else G), snapshot_kimg(loaded)
    state = load_checkpoint(path)
    key = "G_ema" if ema else "G"
    G = build_from_spec(GENERATORS, state["components"]["generator"])
    G.load_state_dict(state[key])
    G.eval().requires_grad_(False)
    if device is not None:
        G.to(device)
    return G, state_kimg(state, path)
