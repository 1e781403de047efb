"""The population model is refitted from the counters within minutes, the current
hour's partial counters included."""
import time

import pytest
from django.db.models import F
from django.utils import timezone

from stylestore.models import StyleHourlyStats
from stylestore.personalization import population

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock(monkeypatch):
    """``population``'s wall clock, set by the test (no waiting): now, 5 s into a minute."""
    now = {"t": time.time() // 60 * 60 + 5}
    monkeypatch.setattr(population.time, "time", lambda: now["t"])
    return now


def test_a_new_shop_learns_from_the_current_hour_and_refits_each_period(make_styles, clock, settings):
    settings.STYLESTORE = {"POPULATION_REFIT_SECONDS": 60}
    a, b = make_styles(2)
    assert population.global_model().index == {}  # an empty shop: no counters yet

    hour = population.hour_start(timezone.now())
    StyleHourlyStats.objects.bulk_create([
        StyleHourlyStats(style=a, hour=hour, impressions=2000, clicks=200),
        StyleHourlyStats(style=b, hour=hour, impressions=2000, clicks=20),
    ])
    clock["t"] += 60
    model = population.global_model()
    assert model.base_ctr(str(a.pk)) > 2 * model.base_ctr(str(b.pk))

    # Within the period every image of every page uses the same model...
    StyleHourlyStats.objects.filter(style=b).update(impressions=F("impressions") + 4000, clicks=F("clicks") + 1600)
    clock["t"] += 1
    assert population.global_model() is model
    # ...and the next period's refit sees the new counters.
    clock["t"] += 60
    refitted = population.global_model()
    assert refitted.base_ctr(str(b.pk)) > refitted.base_ctr(str(a.pk))


def test_counters_older_than_the_retention_window_are_ignored(make_styles, clock, settings):
    settings.STYLESTORE = {"EVENT_RETENTION_DAYS": 1}
    (a,) = make_styles(1)
    StyleHourlyStats.objects.create(style=a, hour=population.hour_start(timezone.now()) - timezone.timedelta(days=3),
                                    impressions=1000, clicks=100)
    assert population.global_model().index == {}
