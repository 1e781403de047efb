"""The numbers behind the admin's personalization analytics page.

Every figure covers a window ``[since, until)``: whole UTC days within the retention.

0. **Do styled images sell better than the original photos?** Measured, not
   estimated: ``STYLESTORE["CONTROL_SHARE"]`` of the visitors (drawn at random, once
   each) see the original photos everywhere; their clicks and add to carts per
   impression against everyone else's, with intervals over visitors
   (``evaluation.clustered_rate`` and ``evaluation.relative_lift``), and their
   purchases and revenue per visitor (``evaluation.mean_per_unit``).

1. **How does each style do?** Impressions, clicks, add to carts, purchases and
   revenue per style from the hourly counters, with the CTR and its 95 % Wilson
   interval (``evaluation.wilson``). The counters leave out a visitor's impressions
   beyond ``STYLESTORE["COUNTED_IMPRESSIONS_PER_DAY"]`` a day, with their clicks and
   add to carts (crawlers'; see ``events``), not their purchases. This is the CTR a style earned under the policy
   that showed it, i.e. mostly with visitors it was chosen for; the original photo has
   a row too where the policy chose it as a look (``STYLESTORE["ORIGINAL_AS_ARM"]``).
   The same per product category (``category_rows``), from the log's counted rows.
2. **Does personalization pay?** The logged policy's CTR is measured directly (it is
   the policy that ran). The baseline, "always the best single style" (the style with
   the best population CTR in the fitted global model, or the next best where it has
   no variant), never ran; its CTR on the same impressions is estimated by inverse
   propensity weighting (``evaluation.ipw`` and the self-normalised ``snipw``): every
   impression was logged with the probability it was chosen with, and exploration
   gives every available style a positive one. The lift is the paired difference on
   the same impressions, so its interval is narrower than the two intervals suggest.
   Every interval is ``evaluation.ratio_of_sums``'s, cluster-robust by visitor: one
   visitor's impressions share their taste and their random draws, and counting them
   as independent would overstate the certainty.

**Purchases are attributed to the look the visitor saw.** A purchase counts for the look
of the last impression of the product's image the visitor reported before buying
(``events``): the shop's choice, the customer's own pick, or the control group's
original photo alike, so a style's purchases and revenue are those of customers who saw
it. The log, not the remembered look of ``Visitor.looks``, decides: it holds the looks
a customer picked and the control group's originals too, which ``looks`` leaves out. A
purchase of a product never shown to the visitor counts for no style, but for the
visitor's group in the control comparison (groups are compared as assigned).

**The outcome.** Where a figure is "the" success rate (the comparison of question 2,
the headline), it is the outcome ``STYLESTORE["REWARD"]`` names: what the policy is
optimising. **Revenue is per currency**: a purchase's value is added up as sent, in
its own currency (Stylestore converts none), so a style's or category's revenue is an
amount per currency (``Revenue``); the control comparison's revenue per visitor counts
the purchases in the comparison's most frequent currency only (``Control.currency``),
the others are left out of that figure (``Control.currencies`` lists them all).

Impressions shown because the customer picked the style (probability 1, not the
shop's choice) are left out of the comparison; so are impressions logged before the
available styles were recorded. The same logs choose the baseline style and evaluate
it, which flatters the baseline a little: the lift is, if anything, understated.
"""
import operator
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from functools import reduce

import numpy as np
from django.db.models import BooleanField, Case, Count, Exists, F, Max, OuterRef, Q, Sum, Value, When
from django.db.models.functions import Least
from django.utils import timezone
from django.utils.translation import gettext as _

from ..conf import stylestore_settings
from ..models import Style, StyleEvent, StyleHourlyStats
from ..variants.sources import categories_of
from . import evaluation, policy, population
from .choices import ORIGINAL

Kind = StyleEvent.Kind
#: The comparisons (lift, control group) read the events since the window's this-many
#: most recent impressions, at most: a bounded page load (reading the 700,000
#: impressions of 10^6 events took SQLite 1.5 s per query on this shared 2-core
#: machine, 100,000 about 1 s for each comparison), and plenty for a confidence
#: interval, which says how much they tell.
MAX_IMPRESSIONS = 50_000

#: Revenue: ``{currency code: amount}``, codes in alphabetical order; the code is ""
#: for revenue counted before it was kept per currency, whose currency is unknown.
Revenue = dict[str, Decimal]


@dataclass(frozen=True)
class StyleRow:
    style: Style
    impressions: int
    clicks: int
    add_to_carts: int
    purchases: int
    revenue: Revenue
    picks: int
    ctr: evaluation.Estimate


@dataclass(frozen=True)
class CategoryRow:
    """One product category's events in the window; ``rate``: the configured reward
    (``STYLESTORE["REWARD"]``) per impression, with its Wilson interval."""

    category: str | None  # None: products without a category
    impressions: int
    clicks: int
    add_to_carts: int
    purchases: int
    revenue: Revenue
    rate: evaluation.Estimate


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
    """One group of visitors: how many, per impression its click and add-to-cart rates,
    and per visitor its purchases and revenue."""

    visitors: int
    impressions: int
    clicks: evaluation.Estimate
    add_to_carts: evaluation.Estimate
    purchases: evaluation.Estimate
    revenue: evaluation.Estimate


@dataclass(frozen=True)
class Control:
    """Styled images against the original photos: the two groups, and the relative
    lift of each outcome (None: not enough data yet)."""

    styled: Arm
    original: Arm
    clicks_lift: evaluation.Estimate | None
    add_to_carts_lift: evaluation.Estimate | None
    purchases_lift: evaluation.Estimate | None
    revenue_lift: evaluation.Estimate | None
    #: The currencies of the comparison's purchases, the most frequent first: the
    #: revenue figures are in that one, and leave the others out (amounts of different
    #: money do not add up).
    currencies: tuple[str, ...] = ()

    @property
    def currency(self) -> str | None:
        """The currency of the revenue figures; None without purchases."""
        return self.currencies[0] if self.currencies else None


def today_start():
    """Midnight (UTC) starting today."""
    return timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)


def window_start(days: int):
    """Midnight (UTC) starting a window of ``days`` days that ends today."""
    return today_start() - timedelta(days=days - 1)


def window_end():
    """The end of a window that ends today: midnight (UTC) starting tomorrow."""
    return today_start() + timedelta(days=1)


def style_rows(since, until=None) -> list[StyleRow]:
    """Per-style totals in ``[since, until)`` (None: up to now), most impressions first."""
    until = until or window_end()
    counters = StyleHourlyStats.objects.filter(hour__gte=since, hour__lt=until)
    totals = (
        counters.values("style_id")
        .annotate(
            impressions=Sum("impressions"), clicks=Sum("clicks"), add_to_carts=Sum("add_to_carts"),
            purchases=Sum("purchases"), picks=Sum("picks"),
        )
        .order_by()
    )
    totals = {row["style_id"]: row for row in totals}
    revenue = _per_currency(counters.filter(revenue__gt=0).values("style_id", "currency")
                            .annotate(amount=Sum("revenue")).order_by().values_list("style_id", "currency", "amount"))
    styles = Style.objects.in_bulk(list(totals))
    # The original photo's row (no style): an unsaved Style, so it reads like the others.
    styles[None] = Style(name=_("Original photo"))
    rows = [
        StyleRow(
            style=styles[pk],
            impressions=row["impressions"],
            clicks=row["clicks"],
            add_to_carts=row["add_to_carts"],
            purchases=row["purchases"],
            revenue=revenue.get(pk, {}),
            picks=row["picks"],
            ctr=evaluation.wilson(min(row["clicks"], row["impressions"]), row["impressions"]),
        )
        for pk, row in totals.items()
        if pk in styles
    ]
    return sorted(rows, key=lambda r: (-r.impressions, r.style.name))


def styled_vs_original(since, until=None) -> Control | None:
    """The control group against everyone else in ``[since, until)``, or None when no
    visitor of the window was in the control group. A visitor belongs to the control
    group if any of their impressions says so (it is drawn once per visitor); each
    visitor's clicks and add to carts count against their impressions, and their
    purchases and revenue per visitor, whatever they saw (a customer's own pick
    included: the groups are compared as assigned). Revenue counts the purchases in the
    comparison's most frequent currency (``Control.currency``)."""
    until = until or window_end()
    events = _outcome_events(since, until)
    currencies = _currencies(events.filter(kind=Kind.PURCHASE))
    currency = currencies[0] if currencies else None
    per_visitor = (
        events
        .values("visitor_id")
        .annotate(**_outcome_totals(), revenue=Sum("value", filter=Q(kind=Kind.PURCHASE, currency=currency)),
                  control=Max("reason", filter=Q(kind=Kind.IMPRESSION, reason="control")))
        .filter(impressions__gt=0)
        .order_by()
        .values_list("control", "impressions", "clicks", "add_to_carts", "purchases", "revenue")
    )
    groups = {True: [], False: []}
    for control, impressions, clicks, add_to_carts, purchases, revenue in per_visitor:
        # A click can outlive its impression's row: never more than one per impression.
        groups[control is not None].append((impressions, min(clicks, impressions), min(add_to_carts, impressions),
                                            purchases, float(revenue or 0)))
    if not groups[True]:
        return None
    outcomes = {key: np.array(rows, dtype=np.float64).reshape(-1, 5) for key, rows in groups.items()}

    def arm(rows):
        return Arm(len(rows), int(rows[:, 0].sum()), evaluation.clustered_rate(rows[:, 1], rows[:, 0]),
                   evaluation.clustered_rate(rows[:, 2], rows[:, 0]), evaluation.mean_per_unit(rows[:, 3]),
                   evaluation.mean_per_unit(rows[:, 4]))

    styled, original = arm(outcomes[False]), arm(outcomes[True])

    def lift(outcome):
        if styled.visitors < 2 or original.visitors < 2:
            return None
        return evaluation.relative_lift(getattr(styled, outcome), getattr(original, outcome),
                                        styled.visitors + original.visitors)

    return Control(styled, original, lift("clicks"), lift("add_to_carts"), lift("purchases"), lift("revenue"),
                   tuple(currencies))


def _outcome_events(since, until):
    """The log's impressions and outcomes in ``[since, until)``, its most recent
    ``MAX_IMPRESSIONS`` impressions at most."""
    return StyleEvent.objects.filter(created_at__gte=_recent(since, until), created_at__lt=until,
                                     kind__in=[Kind.IMPRESSION, Kind.CLICK, Kind.ADD_TO_CART, Kind.PURCHASE])


def _outcome_totals() -> dict:
    """The counts every grouping of the log reports: impressions, clicks, add to carts
    and purchases."""
    return {
        "impressions": Count("id", filter=Q(kind=Kind.IMPRESSION)),
        "clicks": Count("id", filter=Q(kind=Kind.CLICK)),
        "add_to_carts": Count("id", filter=Q(kind=Kind.ADD_TO_CART)),
        "purchases": Count("id", filter=Q(kind=Kind.PURCHASE)),
    }


def _per_currency(rows) -> dict:
    """``{key: Revenue}`` from ``(key, currency, amount)`` rows."""
    found = defaultdict(lambda: defaultdict(Decimal))
    for key, currency, amount in rows:
        found[key][currency] += amount
    return {key: dict(sorted(amounts.items())) for key, amounts in found.items()}


def _currencies(purchases) -> list[str]:
    """The currencies of these purchase events, the most frequent first (then in code
    order)."""
    counts = purchases.values("currency").annotate(n=Count("id")).order_by("-n", "currency")
    return [row["currency"] for row in counts]


def category_rows(since, until=None) -> list[CategoryRow]:
    """Per product category, from the log of ``[since, until)`` (its most recent
    ``MAX_IMPRESSIONS`` impressions at most): impressions, clicks, add to carts,
    purchases and revenue of the images of its products; most impressions first, the
    uncategorised last. A source model's categories come from the ``category`` lookup
    of its ``SOURCE_MODELS`` entry (the first in name order where there are several)."""
    until = until or window_end()
    # Within the visitors' daily allowance, as the per-style counters.
    events = _outcome_events(since, until).filter(source__isnull=False, counted=True)
    per_source = events.values("source_id").annotate(**_outcome_totals()).order_by()
    per_source = {row.pop("source_id"): row for row in per_source}
    category_of = categories_of(per_source)
    totals = defaultdict(lambda: {"impressions": 0, "clicks": 0, "add_to_carts": 0, "purchases": 0})
    for source_id, row in per_source.items():
        total = totals[category_of.get(source_id)]
        for name, value in row.items():
            total[name] += value
    revenue = _per_currency(
        (category_of.get(source_id), currency, amount)
        for source_id, currency, amount in events.filter(kind=Kind.PURCHASE).values("source_id", "currency")
        .annotate(amount=Sum("value")).order_by().values_list("source_id", "currency", "amount"))
    reward = {Kind.CLICK: "clicks", Kind.ADD_TO_CART: "add_to_carts", Kind.PURCHASE: "purchases"}[
        stylestore_settings.REWARD]
    rows = [
        CategoryRow(category=category, revenue=revenue.get(category, {}),
                    rate=evaluation.wilson(min(total[reward], total["impressions"]), total["impressions"]), **total)
        for category, total in totals.items()
    ]
    return sorted(rows, key=lambda r: (r.category is None, -r.impressions, r.category or ""))


def _recent(since, until):
    """``since``, or later: the time of the ``MAX_IMPRESSIONS``-th most recent
    impression in ``[since, until)`` (read from the index on kind and time alone)."""
    nth = (
        StyleEvent.objects.filter(kind=Kind.IMPRESSION, created_at__gte=since, created_at__lt=until)
        .order_by("-created_at")
        .values_list("created_at", flat=True)[MAX_IMPRESSIONS - 1:MAX_IMPRESSIONS]
    )
    return max([since, *nth])


def _shop_chosen(since, until):
    """The impressions in ``[since, until)`` that the shop chose (not a customer's pick nor
    the control group's original photo) and logged with their probability and the looks
    that were available."""
    return (
        StyleEvent.objects.filter(kind=Kind.IMPRESSION, created_at__gte=since, created_at__lt=until,
                                  propensity__gt=0, available__isnull=False)
        .exclude(reason__in=["pick", "control"])
    )


def lift(since, until=None) -> Lift | None:
    """The personalized policy against "always the best single style", or None
    without impressions to compare on, on the configured reward (``STYLESTORE["REWARD"]``:
    "clicks" below stand for it).

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
    until = until or window_end()
    impressions = _shop_chosen(_recent(since, until), until)
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
    same_as_baseline = reduce(operator.or_, [Q(style_id=None if best == ORIGINAL else int(best),
                                               available__in=contexts)
                                             for best, contexts in contexts_by_best.items()])
    # The click's own row, through the (visitor, kind, choice) index: it holds clicks
    # with a choice only, and the query must say so to use it.
    clicked = Exists(StyleEvent.objects.filter(visitor=OuterRef("visitor"), kind=stylestore_settings.REWARD,
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
    relative = snipw = None
    if weighted.sum() > 0:
        lifted = evaluation.fieller_ratio(rewards, weighted, total)
        relative = evaluation.Estimate(lifted.value - 1, lifted.low - 1, lifted.high - 1, total)
        # Self-normalised: sum(w r) / sum(w).
        snipw = evaluation.ratio_of_sums(weighted, weights, total)
    ranked = sorted(model.index, key=lambda key: -model.base_ctr(key))
    names = {str(pk): name for pk, name in Style.objects.filter(pk__in=[k for k in ranked if k != ORIGINAL])
             .values_list("pk", "name")}
    names[ORIGINAL] = _("Original photo")
    return Lift(
        impressions=total,
        clicks=int(rewards.sum()),
        baseline_styles=[names[k] for k in ranked if k in names],
        personalized=evaluation.ratio_of_sums(rewards, n, total),
        baseline_ipw=evaluation.ratio_of_sums(weighted, n, total),
        # The baseline's action never logged: SNIPW has nothing to normalise by.
        baseline_snipw=snipw,
        absolute=evaluation.ratio_of_sums(rewards - weighted, n, total),
        relative=relative,
    )
