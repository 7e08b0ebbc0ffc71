"""The one percentile definition of the project, for the analysis and the benchmarks.

A q-quantile is numpy's default: linear interpolation between the two nearest ranks (Hyndman
and Fan's type 7), so the median of 1, 2, 3, 4 is 2.5. NaNs are ignored; empty input gives
None (summary objects) or nan (`quantile`). The nodes' live status line keeps a streaming
histogram approximation instead (node.ticker.LatenessHistogram, labelled as such).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from node.schema import Percentiles

Values = Sequence[float] | npt.NDArray[np.float64]


def _finite(values: Values) -> npt.NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64)
    return array[np.isfinite(array)]


def quantile(values: Values, q: float) -> float:
    """The q-quantile (0 <= q <= 1) of `values`; nan when there is none."""
    array = _finite(values)
    if array.size == 0:
        return float("nan")
    return float(np.quantile(array, q))


def percentiles(values: Values, digits: int = 3) -> Percentiles:
    """count, mean, p50, p90, p99 and max of `values` (NaNs ignored); None where empty."""
    array = _finite(values)
    if array.size == 0:
        return Percentiles(count=0, mean=None, p50=None, p90=None, p99=None, max=None)
    with np.errstate(all="ignore"):  # absurd inputs may overflow: reported as None below
        p50, p90, p99 = np.percentile(array, [50, 90, 99])
        mean, top = array.mean(), array.max()

    def rounded(value: np.floating[Any]) -> float | None:
        return round(float(value), digits) if np.isfinite(value) else None

    return Percentiles(
        count=int(array.size),
        mean=rounded(mean),
        p50=rounded(p50),
        p90=rounded(p90),
        p99=rounded(p99),
        max=rounded(top),
    )
