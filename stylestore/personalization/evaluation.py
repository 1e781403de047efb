"""Offline estimators over the impression log: IPW policy values and per-style CTRs.

Pure Python and numpy. Every impression is logged with the probability with which the
logging policy chose it (``Choice.propensity``); that makes the inverse-propensity
estimate of any other policy's CTR unbiased, as long as the other policy only takes
actions the logging policy could take (epsilon-exploration guarantees that for every
available style, except where an explicit pick fixed the action with probability 1).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, Hashable, Iterable, Mapping, Optional, Tuple

import numpy as np

from .policy import StyleStats

#: Two-sided 95 % normal quantile.
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a confidence interval, and how many observations made it."""

    value: float
    low: float
    high: float
    n: int

    def __contains__(self, x: float) -> bool:
        return self.low <= x <= self.high


@dataclass(frozen=True)
class Logged:
    """One logged impression.

    ``context`` is whatever the target policy needs to say how likely it would have been
    to take ``action`` there (for ``policy.action_probabilities``: the visitor state
    and available styles at the time); ``propensity`` the logging policy's probability
    of ``action``; ``reward`` 1 for a click, 0 otherwise (or any bounded reward).
    ``cluster`` groups impressions that are not independent - pass the visitor id: one
    visitor's impressions share their click propensity and, within an epoch, the
    policy's random draws, so treating them as independent makes intervals too narrow.
    None makes the impression its own cluster.
    """

    context: Any
    action: Optional[str]
    propensity: float
    reward: float
    cluster: Hashable = None


TargetPolicy = Callable[[Any, Optional[str]], float]


def _read(logs: Iterable[Logged], target: TargetPolicy) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Importance weights, rewards and cluster numbers of the logged impressions."""
    weights, rewards, clusters, numbers = [], [], [], {}
    for i, row in enumerate(logs):
        if not 0 < row.propensity <= 1:
            raise ValueError(f"propensity must be in (0, 1]: {row.propensity!r}")
        weights.append(target(row.context, row.action) / row.propensity)
        rewards.append(row.reward)
        key = ("row", i) if row.cluster is None else ("cluster", row.cluster)
        clusters.append(numbers.setdefault(key, len(numbers)))
    if not weights:
        raise ValueError("no logged impressions")
    return np.asarray(weights, dtype=np.float64), np.asarray(rewards, dtype=np.float64), np.asarray(clusters)


def _sum_of_squares(residuals: np.ndarray, clusters: np.ndarray) -> float:
    """Cluster-robust sum of squared residuals: square each cluster's residual sum, with
    the small-sample factor G / (G - 1); infinite with a single cluster."""
    sums = np.bincount(clusters, weights=residuals)
    groups = len(sums)
    return float((sums**2).sum()) * groups / (groups - 1) if groups > 1 else math.inf


def ipw(logs: Iterable[Logged], target: TargetPolicy, z: float = Z95) -> Estimate:
    """Inverse-propensity estimate of the target policy's mean reward (its CTR).

    ``target(context, action)`` is the target policy's probability of ``action`` in
    ``context``. Unbiased; the interval is the normal approximation with a
    cluster-robust variance, reliable once there are many more clusters than the
    largest importance weight (few clicks under rare actions make it optimistic).
    """
    weights, rewards, clusters = _read(logs, target)
    terms = weights * rewards
    n = len(terms)
    value = float(terms.mean())
    half = z * math.sqrt(_sum_of_squares(terms - value, clusters)) / n
    return Estimate(value, value - half, value + half, n)


def snipw(logs: Iterable[Logged], target: TargetPolicy, z: float = Z95) -> Estimate:
    """Self-normalised IPW: ``sum(w r) / sum(w)``.

    Slightly biased but with lower variance than ``ipw`` and always within the reward
    range; the interval comes from the delta method, cluster-robust.
    """
    weights, rewards, clusters = _read(logs, target)
    total = float(weights.sum())
    if total <= 0:
        raise ValueError("the target policy takes none of the logged actions")
    value = float((weights * rewards).sum()) / total
    half = z * math.sqrt(_sum_of_squares(weights * (rewards - value), clusters)) / total
    return Estimate(value, value - half, value + half, len(weights))


def wilson(successes: float, trials: float, z: float = Z95) -> Estimate:
    """Rate with its Wilson score interval: sane at 0 clicks and few impressions,
    where the normal interval collapses to a point or leaves [0, 1]."""
    if trials <= 0:
        return Estimate(0.0, 0.0, 1.0, 0)
    if not 0 <= successes <= trials:
        raise ValueError("successes must be between 0 and trials")
    p = successes / trials
    z2 = z * z
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    # Clamped at p too: at 0 or all successes rounding puts an end a hair past it.
    return Estimate(p, max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half)), int(trials))


def ctr_by_style(stats: Mapping[Hashable, StyleStats], z: float = Z95) -> Dict[Hashable, Estimate]:
    """Observed CTR (clicks / impressions) per style with its Wilson interval.

    This is the CTR a style earned *under the policy that showed it*, i.e. mostly with
    visitors whose taste matched it; to compare styles as if each were shown to
    everyone, use ``ipw`` with a target that always shows that style.
    """
    return {key: wilson(s.clicks, s.impressions, z) for key, s in stats.items()}


#: Fewest visitors with a click an arm needs before ``relative_lift`` gives an interval:
#: below that the normal approximation on the log scale is not to be trusted.
MIN_CLICKING_VISITORS = 10


def clustered_rate(successes: np.ndarray, trials: np.ndarray, z: float = Z95) -> Estimate:
    """Pooled rate ``sum(successes) / sum(trials)`` over units (visitors), with a Wilson
    interval on the effective sample size: the trials divided by the design effect
    (how much more the per-visitor rates vary than independent trials would). Inside
    [0, 1] and of positive width at any sample size, and as wide as the visitors'
    correlation makes it."""
    successes, trials = np.asarray(successes, dtype=np.float64), np.asarray(trials, dtype=np.float64)
    n, total = float(trials.sum()), float(successes.sum())
    if n <= 0:
        return Estimate(0.0, 0.0, 1.0, 0)
    p = total / n
    effective = n
    if len(trials) > 1 and 0 < p < 1:
        residuals = successes - p * trials
        clustered = float((residuals**2).sum()) * len(trials) / (len(trials) - 1)
        effective = n / max(clustered / (n * p * (1 - p)), 1.0)
    estimate = wilson(p * effective, effective, z)
    return Estimate(p, estimate.low, estimate.high, int(n))


def mean_per_unit(values: np.ndarray, z: float = Z95) -> Estimate:
    """The mean of a non-negative amount per unit (purchases or revenue per visitor),
    with a 95 % interval that stays at or above 0 and never collapses to a point.

    Most visitors buy nothing, so the amount is split in two (a two-part model): the
    share of units with any (its Wilson interval) times the mean amount of those (a
    normal interval on its log: never below 0). The two intervals' ends are multiplied,
    which makes the result conservative. Fewer than two units with an amount say
    nothing about its spread: the upper end is then unbounded."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    if n == 0:
        return Estimate(0.0, 0.0, math.inf, 0)
    positive = values[values > 0]
    share = wilson(len(positive), n, z)
    mean = float(values.mean())
    if len(positive) < 2:
        return Estimate(mean, 0.0, math.inf, n)
    amount = float(positive.mean())
    spread = z * float(positive.std(ddof=1)) / math.sqrt(len(positive)) / amount
    return Estimate(mean, share.low * amount * math.exp(-spread), share.high * amount * math.exp(spread), n)


def relative_lift(treated: Tuple[np.ndarray, np.ndarray], control: Tuple[np.ndarray, np.ndarray],
                  z: float = Z95) -> Optional[Estimate]:
    """``rate(treated) / rate(control) - 1`` with its 95 % interval, or None when either
    arm has fewer than ``MIN_CLICKING_VISITORS`` visitors with a success.

    Each arm is ``(successes, trials)`` per visitor; the arms are independent groups of
    visitors (a randomised control group). The interval is the delta method on the log
    of the ratio with cluster-robust variances, so it never goes below -100 % and never
    collapses to a point."""
    logs_variance, rates = 0.0, []
    for successes, trials in (treated, control):
        successes, trials = np.asarray(successes, dtype=np.float64), np.asarray(trials, dtype=np.float64)
        if np.count_nonzero(successes) < MIN_CLICKING_VISITORS:
            return None
        total = float(successes.sum())
        rate = total / float(trials.sum())
        residuals = successes - rate * trials
        logs_variance += float((residuals**2).sum()) * len(trials) / (len(trials) - 1) / total**2
        rates.append(rate)
    ratio = rates[0] / rates[1]
    # Floored for the degenerate case where every visitor did exactly as well (no
    # spread measured): a finite sample never pins a ratio down to a point.
    half = z * math.sqrt(max(logs_variance, 1.0 / (len(treated[0]) * len(control[0]))))
    return Estimate(ratio - 1, ratio * math.exp(-half) - 1, ratio * math.exp(half) - 1,
                    int(len(treated[0]) + len(control[0])))
