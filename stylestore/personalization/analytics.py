"""The numbers behind the admin's personalization analytics page.

Two questions:

1. **How does each style do?** Impressions, clicks and add to carts per style from
   the hourly counters, with the CTR and its 95 % Wilson interval
   (``evaluation.wilson``). This is the CTR a style earned under the policy that
   showed it, i.e. mostly with visitors it was chosen for.
2. **Does personalization pay?** The logged policy's CTR is measured directly (it is
   the policy that ran). The baseline, "always the best single style" (the style with
   the best population CTR in the fitted global model, or the next best where it has
   no variant), never ran; its CTR on the same impressions is estimated by inverse
   propensity weighting (``evaluation.ipw`` and the self-normalised ``snipw``): every
   impression was logged with the probability it was chosen with, and exploration
   gives every available style a positive one. The lift is the paired difference on
   the same impressions, so its interval is narrower than the two intervals suggest.
   Every interval is cluster-robust by visitor: one visitor's impressions share their
   taste and their random draws, and counting them as independent would overstate
   the certainty.

Impressions shown because the customer picked the style (probability 1, not the
shop's choice) are left out of the comparison; so are impressions logged before the
available styles were recorded. The same logs choose the baseline style and evaluate
it, which flatters the baseline a little: the lift is, if anything, understated.
"""
import math
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from django.db.models import Exists, OuterRef, Sum
from django.utils import timezone

from ..models import Style, StyleEvent, StyleHourlyStats
from . import evaluation, policy, population

Kind = StyleEvent.Kind
#: The comparison uses at most this many of the most recent impressions: a bounded
#: page load, and plenty for a confidence interval.
MAX_IMPRESSIONS = 200_000


@dataclass(frozen=True)
class StyleRow:
    style: Style
    impressions: int
    clicks: int
    add_to_carts: int
    picks: int
    ctr: evaluation.Estimate


@dataclass(frozen=True)
class Lift:
    impressions: int
    clicks: int
    baseline_styles: list
    personalized: evaluation.Estimate
    baseline_ipw: evaluation.Estimate
    baseline_snipw: evaluation.Estimate | None
    #: Personalized minus baseline CTR (IPW, paired), and the same relative to the baseline.
    absolute: evaluation.Estimate
    relative: evaluation.Estimate | None


def window_start(days: int):
    """Midnight (UTC) starting a window of ``days`` days that ends today."""
    today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days - 1)


def style_rows(since) -> list[StyleRow]:
    """Per-style totals since ``since``, most impressions first."""
    totals = (
        StyleHourlyStats.objects.filter(hour__gte=since)
        .values("style_id")
        .annotate(
            impressions=Sum("impressions"), clicks=Sum("clicks"), add_to_carts=Sum("add_to_carts"), picks=Sum("picks")
        )
        .order_by()
    )
    totals = {row["style_id"]: row for row in totals}
    styles = Style.objects.in_bulk(list(totals))
    rows = [
        StyleRow(
            style=styles[pk],
            impressions=row["impressions"],
            clicks=row["clicks"],
            add_to_carts=row["add_to_carts"],
            picks=row["picks"],
            ctr=evaluation.wilson(min(row["clicks"], row["impressions"]), row["impressions"]),
        )
        for pk, row in totals.items()
        if pk in styles
    ]
    return sorted(rows, key=lambda r: (-r.impressions, r.style.name))


def logged_impressions(since, limit=MAX_IMPRESSIONS) -> list[evaluation.Logged]:
    """The shop-chosen impressions since ``since`` with whether they were clicked;
    ``context`` is the tuple of style keys that were available, in offered order, and
    ``cluster`` the visitor (one visitor's impressions are not independent)."""
    clicked = StyleEvent.objects.filter(visitor=OuterRef("visitor"), kind=Kind.CLICK, choice_id=OuterRef("choice_id"))
    rows = (
        StyleEvent.objects.filter(
            kind=Kind.IMPRESSION, created_at__gte=since, propensity__gt=0, available__isnull=False
        )
        .exclude(reason="pick")
        .exclude(style=None)
        .annotate(clicked=Exists(clicked))
        .order_by("-created_at")
        .values_list("visitor_id", "style_id", "propensity", "available", "clicked")[:limit]
    )
    return [
        evaluation.Logged(tuple(str(k) for k in available), str(style_id), propensity, float(was_clicked), visitor_id)
        for visitor_id, style_id, propensity, available, was_clicked in rows
    ]


def _estimate(value: float, influence: np.ndarray, clusters: np.ndarray) -> evaluation.Estimate:
    """``value`` with a normal interval from its per-impression influence terms, summed
    per visitor (cluster-robust, as ``evaluation`` does for IPW: one visitor's
    impressions share their taste and their random draws)."""
    n = len(influence)
    sums = np.bincount(clusters, weights=influence)
    groups = len(sums)
    if groups < 2:
        return evaluation.Estimate(value, -math.inf, math.inf, n)
    half = evaluation.Z95 * math.sqrt(float((sums**2).sum()) * groups / (groups - 1)) / n
    return evaluation.Estimate(value, value - half, value + half, n)


def lift(since, limit=MAX_IMPRESSIONS) -> Lift | None:
    """The personalized policy against "always the best single style", or None
    without impressions to compare on."""
    logs = logged_impressions(since, limit)
    if not logs:
        return None
    model = policy.fit_global(population.style_stats(since), population.policy_params())

    def baseline(available, action):
        return float(action == population.best_style(available, model))

    rewards = np.array([row.reward for row in logs])
    weighted = np.array([baseline(row.context, row.action) / row.propensity for row in logs]) * rewards
    clusters = np.unique([row.cluster for row in logs], return_inverse=True)[1]
    measured, replayed = float(rewards.mean()), float(weighted.mean())
    difference = rewards - weighted
    relative = None
    if replayed > 0:
        # Delta method for mean(r) / mean(w r): influence (r - R w r) / mean(w r).
        ratio = measured / replayed
        relative = _estimate(ratio - 1, (rewards - ratio * weighted) / replayed, clusters)
    ranked = sorted(model.index, key=lambda key: -model.base_ctr(key))
    names = dict(Style.objects.filter(pk__in=[int(k) for k in ranked]).values_list("pk", "name"))
    return Lift(
        impressions=len(logs),
        clicks=int(rewards.sum()),
        baseline_styles=[names[int(k)] for k in ranked if int(k) in names],
        personalized=_estimate(measured, rewards - measured, clusters),
        baseline_ipw=evaluation.ipw(logs, baseline),
        # The baseline's action never logged: SNIPW has nothing to normalise by.
        baseline_snipw=evaluation.snipw(logs, baseline) if replayed > 0 else None,
        absolute=_estimate(float(difference.mean()), difference - difference.mean(), clusters),
        relative=relative,
    )


# ---------------------------------------------------------------------- chart
