"""Summaries of measured samples: the median with its inter-quartile range and a bootstrap 95%
confidence interval (scipy), for one cell's per-step samples and for paired per-round ratios.

Following Kalibera & Jones (ISMM 2013), the speedup of a comparison is computed where its variance
lives: one ratio per round (each round measures every framework in a fresh process, in a fresh order),
then the median of those ratios with a bootstrap interval over rounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

__all__ = ["NOISY_CI_HALF_WIDTH", "PhaseStats", "RatioStats", "bootstrap_ci", "ratio_stats", "summarize"]

# A ratio whose 95% CI reaches further than this fraction of the ratio on either side is "noisy".
NOISY_CI_HALF_WIDTH = 0.10


@dataclass(frozen=True)
class PhaseStats:
    """Median, inter-quartile range and a bootstrap 95% confidence interval of the median, in ms."""

    median: float
    iqr: float
    ci_low: float
    ci_high: float

    def as_dict(self) -> dict[str, float]:
        return {"median": self.median, "iqr": self.iqr, "ci_low": self.ci_low, "ci_high": self.ci_high}


def bootstrap_ci(samples: tuple[np.ndarray, ...], statistic: Callable[..., float], seed: int = 0,
                 paired: bool = False) -> tuple[float, float]:
    """Percentile-bootstrap 95% CI of `statistic` over `samples` (scipy, 2000 resamples, seeded so a
    summary is reproducible); `paired` resamples the samples' positions jointly."""
    from scipy.stats import bootstrap

    result = bootstrap(samples, statistic, paired=paired, vectorized=False, confidence_level=0.95,
                       n_resamples=2000, method="percentile", random_state=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _median_ci(values: np.ndarray, seed: int) -> tuple[float, float]:
    """Percentile-bootstrap 95% CI of the median; min..max when there are too few distinct values."""
    if values.size < 3 or np.ptp(values) == 0:
        return float(values.min()), float(values.max())
    return bootstrap_ci((values,), np.median, seed)


def summarize(samples: Sequence[float], seed: int = 0) -> PhaseStats | None:
    """Summary of one phase's samples; None when there are none (never NaN in a record)."""
    values = np.asarray([v for v in samples if math.isfinite(v)], dtype=float)
    if values.size == 0:
        return None
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    low, high = _median_ci(values, seed)
    return PhaseStats(float(median), float(q3 - q1), low, high)


@dataclass(frozen=True)
class RatioStats:
    """The median of paired per-round ratios, its bootstrap 95% CI and how many rounds it rests on."""

    median: float
    ci_low: float
    ci_high: float
    rounds: int

    @property
    def half_width(self) -> float:
        """The CI's larger distance from the median, as a fraction of the median."""
        return max(self.median - self.ci_low, self.ci_high - self.median) / self.median

    def wider_than(self, fraction: float) -> bool:
        """True when the CI reaches further than `fraction` of the ratio on either side, or rests on fewer
        than 3 rounds."""
        return self.rounds < 3 or self.half_width > fraction

    @property
    def noisy(self) -> bool:
        """True when the CI is wider than +-10% of the ratio, or rests on fewer than 3 rounds."""
        return self.wider_than(NOISY_CI_HALF_WIDTH)


def ratio_stats(ratios: Sequence[float], seed: int = 0) -> RatioStats | None:
    """Median and bootstrap CI of per-round ratios (None when no round has both sides)."""
    values = np.asarray([r for r in ratios if math.isfinite(r) and r > 0], dtype=float)
    if values.size == 0:
        return None
    low, high = _median_ci(values, seed)
    return RatioStats(float(np.median(values)), low, high, int(values.size))
