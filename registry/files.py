"""Files every layer writes: where the user cache lives.

It sits in ``registry`` (the lowest layer, importing nothing of ours) so that ``metrics``, ``stylegan_v``
and ``benchmarks`` share one answer instead of each spelling its own.
"""
from __future__ import annotations

import os
from pathlib import Path

CACHE_DIR_ENV = "SGVB_CACHE_DIR"


def user_cache_dir() -> Path:
    """``$SGVB_CACHE_DIR``, else ``~/.cache/sgvb``: detector weights, real statistics (``stats/``), video lengths,
    dataset check passes. Read at every call, so a test (or a job) that sets the variable moves all of them."""
    root = os.environ.get(CACHE_DIR_ENV)
    return Path(root).expanduser() if root else Path.home() / ".cache" / "sgvb"
