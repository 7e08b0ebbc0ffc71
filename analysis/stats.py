"""Small statistics helpers shared by the analysis: percentiles that never fail on empty input."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt


def percentiles(values: Sequence[float] | npt.NDArray[np.float64], digits: int = 3) -> dict[str, float | int | None]:
    """count, mean, p50, p90, p99 and max of `values` (NaNs ignored); None where empty."""
    array = np.asarray(values, dtype=np.float64)
    array = array[np.isfinite(array)]
    if array.size == 0:
        return {"count": 0, "mean": None, "p50": None, "p90": None, "p99": None, "max": None}
    with np.errstate(all="ignore"):  # absurd inputs may overflow: reported as None below
        p50, p90, p99 = np.percentile(array, [50, 90, 99])
        figures = {"mean": array.mean(), "p50": p50, "p90": p90, "p99": p99, "max": array.max()}
    result: dict[str, float | int | None] = {"count": int(array.size)}
    for key, value in figures.items():
        result[key] = round(float(value), digits) if np.isfinite(value) else None
    return result
