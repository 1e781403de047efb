"""The population model: what every visitor's choice starts from.

Fitted from every ``StyleHourlyStats`` row in the retention window, the current hour's
partial counters included, and refitted at least every ``POPULATION_REFIT_SECONDS``
(default 60): a new shop learns from its first minutes, not from its second hour. While
the counters grow fast for what they hold (a new shop's first minutes, whatever its
traffic), it refits sooner (``refits.RefitClock``).

The trade-off: processes refit at aligned moments (the same wall-clock buckets) but read
the counters at slightly different instants, so two processes may hold models fitted
from a few impressions more or less, and disagree on a close call until the next bucket.
That costs nothing the log cannot bear: each impression is logged with the probability
of the model that chose it (exact for that process, so IPW stays unbiased), and a
visitor's look is kept by their sticky choice, not by the model. Fitting from completed
hours only made every process agree, at the price of learning nothing for up to an hour.

The counters are kept per product category as well (``image_categories``), and the
model learns each category's styles where the data show that categories differ
(``policy.fit_global``'s ``categories``).
"""
import math
import time
from datetime import timedelta

from django.db.models import Sum

from .. import moments
from ..conf import stylestore_settings
from ..models import StyleHourlyStats
from ..models.personalization import counted_category
from ..variants.sources import categories_of
from . import policy
from .caches import EMBEDDINGS_TTL, cache
from .choices import ORIGINAL
from .refits import RefitClock

#: Per outcome (an event kind), its ``StyleHourlyStats`` columns: the count, the part of
#: it on looks the customer picked, and the sum of the history shares of the rest.
OUTCOME_COUNTERS = {
    "click": ("clicks", "picked_clicks", "click_share_sum"),
    "add_to_cart": ("add_to_carts", "picked_add_to_carts", "add_to_cart_share_sum"),
    "purchase": ("purchases", "picked_purchases", "purchase_share_sum"),
}


def policy_params() -> policy.PolicyParams:
    """The policy's parameters, from settings."""
    epsilon, control = stylestore_settings.EXPLORATION_EPSILON, stylestore_settings.CONTROL_SHARE
    return cache.get(
        ("params", epsilon, control), math.inf, lambda: policy.PolicyParams(epsilon=epsilon, control_share=control)
    )


def hour_start(moment):
    """The start of ``moment``'s hour: the bucket of the hourly counters."""
    return moment.replace(minute=0, second=0, microsecond=0)


def style_stats(since) -> dict:
    """``policy.StyleStats`` per style key (``ORIGINAL`` for the original photo drawn as
    an arm, whose history share is always 0: it has no style embedding) from the hourly
    counters since ``since``: the impressions the shop chose (a customer's own picks are not evidence about styles
    shown to everyone). Their "clicks" are the outcome ``STYLESTORE["REWARD"]`` names:
    the policy learns to win whatever the shop counts as success."""
    return {key: stats for (key,), stats in _stats(since, ()).items()}


def category_stats(since) -> dict:
    """``{category: {style key: policy.StyleStats}}``: ``style_stats`` per product
    category, for the images that have one."""
    found = {}
    for (category, key), stats in _stats(since, ("category",)).items():
        if category:
            found.setdefault(category, {})[key] = stats
    return found


def _stats(since, groups) -> dict:
    count, picked, share_sum = OUTCOME_COUNTERS[stylestore_settings.REWARD]
    rows = (
        StyleHourlyStats.objects.filter(hour__gte=since)
        .values(*groups, "style_id")
        .annotate(
            impressions=Sum("impressions"),
            successes=Sum(count),
            picked_impressions=Sum("picked_impressions"),
            picked_successes=Sum(picked),
            share_sum=Sum("share_sum"),
            share_sq_sum=Sum("share_sq_sum"),
            success_share_sum=Sum(share_sum),
        )
        .order_by()
    )
    return {
        (*(row[group] for group in groups), ORIGINAL if row["style_id"] is None else str(row["style_id"])):
        policy.StyleStats(
            impressions=float(row["impressions"] - row["picked_impressions"]),
            clicks=float(row["successes"] - row["picked_successes"]),
            share_sum=row["share_sum"],
            share_sq_sum=row["share_sq_sum"],
            click_share_sum=row["success_share_sum"],
        )
        for row in rows
    }


def image_categories(source_ids) -> dict:
    """``{source id: category or None}`` of the images, as the hourly counters name
    them (``counted_category``); kept per process for ``EMBEDDINGS_TTL``:
    every batch of events asks for its images'. (Pages ask by object, which they know:
    ``variants.sources.object_categories``.)"""
    def load(keys):
        found = categories_of([source_id for _kind, source_id in keys])
        return {("category", source_id): counted_category(name) for source_id, name in found.items()}

    values = cache.get_many([("category", source_id) for source_id in source_ids if source_id is not None],
                            EMBEDDINGS_TTL, load)
    return {source_id: category for (_kind, source_id), category in values.items()}


def global_model() -> policy.GlobalModel:
    """The population model, fitted from the retention window's counters up to now.

    One pair of aggregate queries per process and refit, as often as ``RefitClock``
    says; the buckets are aligned on the clock, so processes refit together (see the
    module's docstring).
    """
    clock = cache.get(("refit clock",), math.inf, RefitClock)

    def fit(now):
        since = hour_start(moments.at(now)) - timedelta(days=stylestore_settings.EVENT_RETENTION_DAYS)
        stats = style_stats(since)
        clock.fitted(now, sum(found.impressions for found in stats.values()))
        return policy.fit_global(stats, policy_params(), category_stats(since))

    return per_refit(("global",), fit, clock)


def per_refit(key, compute, clock: RefitClock | None = None):
    """``compute(now)``, kept per process until the next aligned bucket of ``clock``'s
    period, or else of ``POPULATION_REFIT_SECONDS`` (per ``STYLESTORE["REWARD"]``).
    Values weighed against the population model without a clock of their own (a
    product's viewers: one query per image) keep the full period even while the model
    refits sooner."""
    now = time.time()
    longest = stylestore_settings.POPULATION_REFIT_SECONDS
    # This runs for every image on a page: plain arithmetic and a dict lookup.
    period, bucket = clock.bucket(now, longest) if clock else (longest, int(now // longest))
    return cache.get((*key, period, bucket, stylestore_settings.REWARD), (bucket + 1) * period - now,
                     lambda: compute(now))


def best_style(available, model: policy.GlobalModel):
    """The available style with the best population CTR (posterior mean; ties: the
    shop's order), or None: what a visitor without consent sees, and the "best single
    style" baseline of the analytics."""
    if not available:
        return None
    return max(enumerate(available), key=lambda item: (model.base_ctr(item[1]), -item[0]))[1]
