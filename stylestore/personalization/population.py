"""The population model: what every visitor's choice starts from.

Fitted from ``StyleHourlyStats`` up to the start of the current hour, so every process
fits the same model and logs the same probabilities until the next hour starts.
"""
import math
import time
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.db.models import Sum

from ..conf import stylestore_settings
from ..models import StyleHourlyStats
from . import policy
from .caches import cache


def policy_params() -> policy.PolicyParams:
    """The policy's parameters, from settings."""
    epsilon = stylestore_settings.EXPLORATION_EPSILON
    return cache.get(("params", epsilon), math.inf, lambda: policy.PolicyParams(epsilon=epsilon))


def hour_start(moment):
    """The start of ``moment``'s hour: the bucket of the hourly counters."""
    return moment.replace(minute=0, second=0, microsecond=0)


def style_stats(since, until=None) -> dict:
    """``policy.StyleStats`` per style key from the hourly counters in ``[since,
    until)``: the impressions the shop chose (a customer's own picks are not evidence
    about styles shown to everyone)."""
    rows = StyleHourlyStats.objects.filter(hour__gte=since)
    if until is not None:
        rows = rows.filter(hour__lt=until)
    rows = (
        rows.values("style_id")
        .annotate(
            impressions=Sum("impressions"),
            clicks=Sum("clicks"),
            picked_impressions=Sum("picked_impressions"),
            picked_clicks=Sum("picked_clicks"),
            share_sum=Sum("share_sum"),
            share_sq_sum=Sum("share_sq_sum"),
            click_share_sum=Sum("click_share_sum"),
        )
        .order_by()
    )
    return {
        str(row["style_id"]): policy.StyleStats(
            impressions=float(row["impressions"] - row["picked_impressions"]),
            clicks=float(row["clicks"] - row["picked_clicks"]),
            share_sum=row["share_sum"],
            share_sq_sum=row["share_sq_sum"],
            click_share_sum=row["click_share_sum"],
        )
        for row in rows
    }


def global_model() -> policy.GlobalModel:
    """The population model, fitted from the retention window's completed hours.

    The fit is deterministic, so every process holds the same model for the whole hour:
    a visitor's Thompson draw, and the probability logged with it, do not depend on
    which process serves the page. One aggregate query per process and hour.
    """
    now = time.time()
    hour = int(now // 3600)  # plain arithmetic: this runs for every image on a page

    def fit():
        current = datetime.fromtimestamp(hour * 3600, tz=dt_timezone.utc)
        since = current - timedelta(days=stylestore_settings.EVENT_RETENTION_DAYS)
        return policy.fit_global(style_stats(since, until=current), policy_params())

    return cache.get(("global", hour), (hour + 1) * 3600 - now, fit)


def best_style(available, model: policy.GlobalModel):
    """The available style with the best population CTR (posterior mean; ties: the
    shop's order), or None: what a visitor without consent sees, and the "best single
    style" baseline of the analytics."""
    if not available:
        return None
    return max(enumerate(available), key=lambda item: (model.base_ctr(item[1]), -item[0]))[1]
