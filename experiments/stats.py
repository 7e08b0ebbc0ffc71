"""The statistics of the experiments' reports, once: Student's t interval of a mean, of a
difference (Welch, paired), and the standard error of a share. No scipy: the t quantile is
integrated numerically."""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis.report import fmt

LEVEL = 0.95
Row = dict[str, Any]


@functools.lru_cache(maxsize=256)
def t_quantile(p: float, df: float) -> float:
    """Student's t quantile for p in (0.5, 1) and df > 0 (trapezoids on the density; error < 1e-5)."""
    if not 0.5 < p < 1 or df <= 0:
        raise ValueError(f"t_quantile: need 0.5 < p < 1 and df > 0, got p={p}, df={df}")
    x = np.linspace(0.0, 400.0, 2_000_001)
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    pdf = np.exp(log_c - (df + 1) / 2 * np.log1p(x * x / df))
    cdf = 0.5 + np.concatenate(([0.0], np.cumsum((pdf[1:] + pdf[:-1]) / 2 * (x[1] - x[0]))))
    if p >= cdf[-1]:
        raise ValueError(f"t_quantile: p={p} beyond the integrated range for df={df}")
    return float(np.interp(p, cdf, x))


@dataclass(frozen=True)
class Interval:
    """A mean (or a difference of means) with its 95 % t-interval; low/high None below two values."""

    mean: float
    low: float | None
    high: float | None
    n: str  # "5", or "5+5" for a difference of two groups

    @property
    def excludes_zero(self) -> bool:
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)

    def text(self, digits: int = 2) -> str:
        if self.low is None or self.high is None:
            return f"{fmt(self.mean, digits)} (n={self.n}, no interval)"
        return f"{fmt(self.mean, digits)} [{fmt(self.low, digits)}, {fmt(self.high, digits)}] (n={self.n})"

    def as_dict(self) -> Row:
        return {"mean": rounded(self.mean), "low": rounded(self.low), "high": rounded(self.high), "n": self.n}


def rounded(value: float | None, digits: int = 4) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, digits)


def _finite(values: Sequence[float]) -> list[float]:
    return [v for v in values if math.isfinite(v)]


def t_interval(values: Sequence[float], level: float = LEVEL) -> Interval:
    """Mean with the t-interval over the values (NaN ignored)."""
    v = _finite(values)
    if not v:
        return Interval(math.nan, None, None, "0")
    mean = statistics.fmean(v)
    if len(v) < 2:
        return Interval(mean, None, None, str(len(v)))
    half = t_quantile((1 + level) / 2, len(v) - 1) * statistics.stdev(v) / math.sqrt(len(v))
    return Interval(mean, mean - half, mean + half, str(len(v)))


def welch_difference(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> Interval:
    """mean(b) - mean(a) with Welch's t-interval (two independent groups)."""
    x, y = _finite(a), _finite(b)
    n = f"{len(x)}+{len(y)}"
    if not x or not y:
        return Interval(math.nan, None, None, n)
    diff = statistics.fmean(y) - statistics.fmean(x)
    if len(x) < 2 or len(y) < 2:
        return Interval(diff, None, None, n)
    va, vb = statistics.variance(x) / len(x), statistics.variance(y) / len(y)
    if va + vb == 0:
        return Interval(diff, diff, diff, n)
    df = (va + vb) ** 2 / (va**2 / (len(x) - 1) + vb**2 / (len(y) - 1))
    half = t_quantile((1 + level) / 2, df) * math.sqrt(va + vb)
    return Interval(diff, diff - half, diff + half, n)


def paired_difference(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> Interval:
    """mean(b_i - a_i) with the t-interval of the paired differences."""
    return t_interval([y - x for x, y in zip(a, b, strict=True)], level)


def share_se(found: int, ticks: int) -> float:
    """Standard error of a share of ticks (Agresti-Coull: never 0, also for a share of 0 or 1)."""
    p = (found + 2) / (ticks + 4)
    return math.sqrt(p * (1 - p) / (ticks + 4))
