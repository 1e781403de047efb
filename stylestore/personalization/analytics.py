"""The numbers behind the admin's personalization analytics page.

Three questions:

0. **Do styled images sell better than the original photos?** Measured, not
   estimated: ``STYLESTORE["CONTROL_SHARE"]`` of the visitors (drawn at random, once
   each) see the original photos everywhere; their clicks and add to carts per
   impression against everyone else's, with intervals over visitors
   (``evaluation.clustered_rate`` and ``evaluation.relative_lift``).

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
import operator
from dataclasses import dataclass
from datetime import timedelta
from functools import reduce

import numpy as np
from django.db.models import BooleanField, Case, Count, Exists, F, Max, OuterRef, Q, Sum, Value, When
from django.db.models.functions import Least
from django.utils import timezone

from ..models import Style, StyleEvent, StyleHourlyStats
from . import evaluation, policy, population

Kind = StyleEvent.Kind
#: The comparisons (lift, control group) read the events since the window's this-many
#: most recent impressions, at most: a bounded page load (reading the 700,000
#: impressions of 10^6 events took SQLite 1.5 s per query on this shared 2-core
#: machine, 100,000 about 1 s for each comparison), and plenty for a confidence
#: interval, which says how much they tell.
MAX_IMPRESSIONS = 50_000


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


@dataclass(frozen=True)
class Arm:
    """One group of visitors: how many, and per impression its click and add-to-cart rates."""

    visitors: int
    impressions: int
    clicks: evaluation.Estimate
    add_to_carts: evaluation.Estimate


@dataclass(frozen=True)
class Control:
    """Styled images against the original photos: the two groups, and the relative
    lift of each outcome (None: not enough data yet)."""

    styled: Arm
    original: Arm
    clicks_lift: evaluation.Estimate | None
    add_to_carts_lift: evaluation.Estimate | None


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


def styled_vs_original(since) -> Control | None:
    """The control group against everyone else since ``since``, or None when no
    visitor of the window was in the control group. A visitor belongs to the control
    group if any of their impressions says so (it is drawn once per visitor); each
    visitor's clicks and add to carts count against their impressions, whatever they
    saw (a customer's own pick included: the groups are compared as assigned)."""
    per_visitor = (
        StyleEvent.objects.filter(
            created_at__gte=_recent(since), kind__in=[Kind.IMPRESSION, Kind.CLICK, Kind.ADD_TO_CART]
        )
        .values("visitor_id")
        .annotate(
            impressions=Count("id", filter=Q(kind=Kind.IMPRESSION)),
            clicks=Count("id", filter=Q(kind=Kind.CLICK)),
            add_to_carts=Count("id", filter=Q(kind=Kind.ADD_TO_CART)),
            control=Max("reason", filter=Q(kind=Kind.IMPRESSION, reason="control")),
        )
        .filter(impressions__gt=0)
        .order_by()
        .values_list("control", "impressions", "clicks", "add_to_carts")
    )
    groups = {True: [], False: []}
    for control, impressions, clicks, add_to_carts in per_visitor:
        # A click can outlive its impression's row: never more than one per impression.
        groups[control is not None].append((impressions, min(clicks, impressions), min(add_to_carts, impressions)))
    if not groups[True]:
        return None
    outcomes = {key: np.array(rows, dtype=np.float64).reshape(-1, 3) for key, rows in groups.items()}

    def arm(rows):
        return Arm(len(rows), int(rows[:, 0].sum()), evaluation.clustered_rate(rows[:, 1], rows[:, 0]),
                   evaluation.clustered_rate(rows[:, 2], rows[:, 0]))

    def lift(column):
        styled, original = outcomes[False], outcomes[True]
        if len(styled) < 2 or len(original) < 2:
            return None
        return evaluation.relative_lift((styled[:, column], styled[:, 0]), (original[:, column], original[:, 0]))

    return Control(arm(outcomes[False]), arm(outcomes[True]), lift(1), lift(2))


def _recent(since):
    """``since``, or later: the time of the ``MAX_IMPRESSIONS``-th most recent
    impression since then (read from the index on kind and time alone)."""
    nth = (
        StyleEvent.objects.filter(kind=Kind.IMPRESSION, created_at__gte=since)
        .order_by("-created_at")
        .values_list("created_at", flat=True)[MAX_IMPRESSIONS - 1:MAX_IMPRESSIONS]
    )
    return max([since, *nth])


def _shop_chosen(since):
    """The impressions since ``since`` that the shop chose (not a customer's pick) and
    logged with their probability and the styles that were available."""
    return (
        StyleEvent.objects.filter(kind=Kind.IMPRESSION, created_at__gte=since, propensity__gt=0,
                                  available__isnull=False)
        .exclude(reason="pick")
        .exclude(style=None)
    )


def _estimate(value: float, sums: np.ndarray, denominator: float, n: int) -> evaluation.Estimate:
    """``value`` with a normal interval from its influence terms summed per visitor
    (``sums``; cluster-robust, as ``evaluation`` does for IPW: one visitor's impressions
    share their taste and their random draws), the terms' total divided by
    ``denominator``."""
    groups = len(sums)
    if groups < 2:
        return evaluation.Estimate(value, -math.inf, math.inf, n)
    half = evaluation.Z95 * math.sqrt(float((sums**2).sum()) * groups / (groups - 1)) / denominator
    return evaluation.Estimate(value, value - half, value + half, n)


def lift(since) -> Lift | None:
    """The personalized policy against "always the best single style", or None
    without impressions to compare on.

    Over the window's most recent ``MAX_IMPRESSIONS`` impressions at most. Every
    estimate here is a sum over impressions, and its cluster-robust interval needs
    only each visitor's sums, so the database adds them up and Python sees a few rows
    per visitor, not one per impression (the estimators of ``evaluation``, run over
    each impression in Python, took 15-41 s at 10^6 events).
    Per visitor: impressions ``n``, clicks ``R``, and over the impressions where the
    baseline would have shown the same style, ``B`` = sum of 1 / propensity and ``W``
    = the same over the clicked ones. The control group's impressions are left out,
    so each propensity is divided by the share of visitors outside it
    (``CONTROL_SHARE``, as set now: a window across a change of the share is slightly
    off): the probability given the visitor is not in the control group.
    """
    impressions = _shop_chosen(_recent(since))
    params = population.policy_params()
    model = policy.fit_global(population.style_stats(since), params)
    # The baseline's style in each set of available styles: few sets (one per set of
    # styles a product has variants in), each read once.
    contexts_by_best = {}
    for available in impressions.values_list("available", flat=True).distinct().order_by():
        best = population.best_style(tuple(str(k) for k in available), model)
        contexts_by_best.setdefault(best, []).append(available)
    if not contexts_by_best:
        return None
    same_as_baseline = reduce(operator.or_, [Q(style_id=int(best), available__in=contexts)
                                             for best, contexts in contexts_by_best.items()])
    # The click's own row, through the (visitor, kind, choice) index: it holds clicks
    # with a choice only, and the query must say so to use it.
    clicked = Exists(StyleEvent.objects.filter(visitor=OuterRef("visitor"), kind=Kind.CLICK,
                                               choice_id=OuterRef("choice_id")).exclude(choice_id=""))
    inverse = Value(1.0) / Least(F("propensity") / Value(1.0 - params.control_share), Value(1.0))
    # Grouped by visitor, clicked and "the baseline shows the same style": each
    # impression's click is looked up once.
    groups = (
        impressions.annotate(clicked=clicked, same=Case(When(same_as_baseline, then=True), default=False,
                                                         output_field=BooleanField()))
        .values("visitor_id", "clicked", "same")
        .annotate(count=Count("id"), inverse=Sum(inverse))
        .order_by()
        .values_list("visitor_id", "clicked", "same", "count", "inverse")
    )
    per_visitor = {}
    for visitor, was_clicked, same, count, inverse_sum in groups:
        sums = per_visitor.setdefault(visitor, [0.0, 0.0, 0.0, 0.0])
        sums[0] += count
        sums[1] += count if was_clicked else 0
        sums[2] += inverse_sum if same else 0.0
        sums[3] += inverse_sum if same and was_clicked else 0.0
    sums = np.array(list(per_visitor.values()), dtype=np.float64).reshape(-1, 4)
    n, rewards, weights, weighted = sums.T
    total = int(n.sum())
    measured, replayed = float(rewards.sum()) / total, float(weighted.sum()) / total
    relative = snipw = None
    if replayed > 0:
        # Delta method for mean(r) / mean(w r): influence (r - R w r) / mean(w r).
        ratio = measured / replayed
        relative = _estimate(ratio - 1, (rewards - ratio * weighted) / replayed, total, total)
        # Self-normalised: sum(w r) / sum(w), its influence w (r - value) / sum(w).
        value = float(weighted.sum() / weights.sum())
        snipw = _estimate(value, weighted - value * weights, float(weights.sum()), total)
    difference = measured - replayed
    ranked = sorted(model.index, key=lambda key: -model.base_ctr(key))
    names = dict(Style.objects.filter(pk__in=[int(k) for k in ranked]).values_list("pk", "name"))
    return Lift(
        impressions=total,
        clicks=int(rewards.sum()),
        baseline_styles=[names[int(k)] for k in ranked if int(k) in names],
        personalized=_estimate(measured, rewards - measured * n, total, total),
        baseline_ipw=_estimate(replayed, weighted - replayed * n, total, total),
        # The baseline's action never logged: SNIPW has nothing to normalise by.
        baseline_snipw=snipw,
        absolute=_estimate(difference, (rewards - weighted) - difference * n, total, total),
        relative=relative,
    )
