"""The one device resolver: every command and the metrics library turn ``device=`` settings into a ``torch.device``
here, so ``auto``, ``cuda`` and ``cuda:N`` mean the same everywhere and a bad choice fails with the same line."""

from __future__ import annotations

from typing import Any

import torch


class DeviceError(ValueError):
    """A device setting that cannot be used on this machine."""


def resolve_device(choice: Any = "auto", *, local_rank: int | None = None) -> torch.device:
    """``auto`` (or None): CUDA when available, else the CPU; ``cuda``: this process's GPU (``local_rank``, else the
    current one); ``cuda:N``; ``cpu``. A ``torch.device`` passes through the same checks."""
    text = str(choice if choice is not None else "auto").strip().lower()
    if text == "auto":
        text = "cuda" if torch.cuda.is_available() else "cpu"
    if text == "cpu":
        return torch.device("cpu")
    if text == "cuda" or text.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise DeviceError(f"device={choice} but CUDA is not available here; use device=cpu or device=auto")
        if text == "cuda":
            return torch.device("cuda", torch.cuda.current_device() if local_rank is None else int(local_rank))
        try:
            index = int(text.split(":", 1)[1])
        except ValueError:
            raise DeviceError(f"device must be auto, cpu or cuda[:N], got {choice!r}") from None
        if not 0 <= index < torch.cuda.device_count():
            raise DeviceError(
                f"device={choice} but this machine has {torch.cuda.device_count()} CUDA device(s); use cuda:0.."
            )
        return torch.device("cuda", index)
    raise DeviceError(f"device must be auto, cpu or cuda[:N], got {choice!r}")
