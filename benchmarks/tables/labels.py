"""What every view of a table writes the same way: the stand-in and short-count marks, their notes, and cell text."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["SHORT_COUNT_NOTE", "STAND_IN_MARK", "STAND_IN_NOTE", "cell_text", "int_or_same", "is_nan", "range_text"]

STAND_IN_MARK = "[stand-in]"
STAND_IN_NOTE = (
    f"{STAND_IN_MARK}: measured with untrained stand-in detectors of the same architectures (pretrained "
    "weights were not available offline); these numbers compare only with each other."
)
SHORT_COUNT_NOTE = "short: computed on fewer items than the metric's name states (see num_real / num_fake)."


def is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def int_or_same(value: Any) -> Any:
    """``4.0`` -> ``4`` (pandas turns int columns with gaps into floats); anything else unchanged."""
    try:
        return int(value) if float(value).is_integer() else value
    except (TypeError, ValueError):
        return value


def cell_text(value: Any) -> str:
    """A cell as text: empty for None/NaN, ``32`` for ``32.0``."""
    if value is None or is_nan(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def range_text(bounds: tuple[float | None, float | None]) -> str:
    """A declared value range as an interval: ``[0, 1]``, ``[0, ∞)``, ``(-∞, ∞)``."""
    low, high = bounds
    left = "(-∞" if low is None else f"[{low:g}"
    right = "∞)" if high is None else f"{high:g}]"
    return f"{left}, {right}"
