"""What each product image's viewers reacted to: the look shoppers see in it.

A view counts towards the styles its photo resembles (``policy.view_preference``, by the
photo's style embedding). The embedding reads a photo's look only partly: where
shoppers see a product otherwise, its views sent its viewers after a look they do not
want, and nothing they clicked afterwards corrected the product. So every impression
and outcome the hourly counters count (a customer's own picks left out) is also
credited to each image the visitor viewed lately (``events.MAX_RECENT_VIEWS``), per
style and UTC day (``ViewerDailyStats``, written with the hourly counters); a style its
viewers click more than the shop does is the product's look to them, and
``policy.learned_view_preference`` mixes it into the view as their clicks accumulate.

The sums are read per image when it is viewed, kept per process for
``POPULATION_REFIT_SECONDS`` (the population model they are weighed against refits at
least as often), over the retention window, for the outcome ``STYLESTORE["REWARD"]``
names.
"""
from datetime import timedelta

from django.db.models import Sum
from django.utils import timezone

from ..conf import stylestore_settings
from ..models import ViewerDailyStats
from . import embeddings, policy, population


def reactions(source_id) -> dict:
    """``{style key: (impressions, successes)}`` of the image's viewers over the
    retention window, the successes being ``STYLESTORE["REWARD"]``'s outcome."""
    column = population.OUTCOME_COUNTERS[stylestore_settings.REWARD][0]

    def load(_now):
        since = timezone.now().date() - timedelta(days=stylestore_settings.EVENT_RETENTION_DAYS)
        rows = (ViewerDailyStats.objects.filter(source_id=source_id, day__gte=since).values("style_id")
                .annotate(impressions=Sum("impressions"), successes=Sum(column)).order_by())
        return {str(row["style_id"]): (float(row["impressions"]), float(row["successes"])) for row in rows}

    return population.per_refit(("viewers", source_id), load)


def view_preference(source_id, embedding, params) -> dict:
    """How a view of this image spreads over the styles: by its photo's embedding
    (``embeddings.view_preference``; {} without one), corrected by its viewers'
    reactions (``policy.learned_view_preference``)."""
    preference = embeddings.view_preference(source_id, embedding, params.temperature)
    if not preference or params.look_power == 0:
        return preference
    seen = reactions(source_id)
    if not seen:
        return preference
    return policy.learned_view_preference(preference, seen, population.global_model(), params)
