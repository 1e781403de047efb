"""The population model is refitted from the counters within minutes, the current
hour's partial counters included."""
import time

import pytest
from django.db.models import F
from django.utils import timezone

from stylestore.models import StyleHourlyStats
from stylestore.personalization import population
from stylestore.personalization import refits
from stylestore.personalization.refits import MIN_REFIT_SECONDS, RefitClock

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def refits_as_often_as_the_counters_grow(monkeypatch):
    """The shop's minimum, which the suite's conftest lengthens for query counts."""
    monkeypatch.setattr(refits, "MIN_REFIT_SECONDS", MIN_REFIT_SECONDS)


@pytest.fixture
def clock(monkeypatch):
    """``population``'s wall clock, set by the test (no waiting): now, 5 s into a minute."""
    now = {"t": time.time() // 60 * 60 + 5}
    monkeypatch.setattr(population.time, "time", lambda: now["t"])
    return now


def _count(style, impressions, clicks):
    """Add to ``style``'s counters of the current hour, as recorded events do."""
    hour = population.hour_start(timezone.now())
    rows = StyleHourlyStats.objects.filter(style=style, hour=hour)
    if not rows.update(impressions=F("impressions") + impressions, clicks=F("clicks") + clicks):
        StyleHourlyStats.objects.create(style=style, hour=hour, impressions=impressions, clicks=clicks)


def test_a_new_shop_learns_from_the_current_hour_within_seconds(make_styles, clock, settings):
    settings.STYLESTORE = {"POPULATION_REFIT_SECONDS": 60}
    a, b = make_styles(2)
    assert population.global_model().index == {}  # an empty shop: no counters yet

    # A busy first minute: each second's counters are in the model a second later.
    for second in range(1, 6):
        _count(a, 200, 20)
        _count(b, 200, 2)
        clock["t"] += 1
        model = population.global_model()
        assert model.base_ctr(str(a.pk)) > 2 * model.base_ctr(str(b.pk)), second


def test_an_established_shop_refits_each_full_period(make_styles, clock, settings):
    settings.STYLESTORE = {"POPULATION_REFIT_SECONDS": 60}
    a, b = make_styles(2)
    _count(a, 20000, 2000)
    _count(b, 20000, 200)
    # Its counters grow by a sliver of what they hold: the refits back off to the setting.
    for _ in range(8):
        clock["t"] += 60
        _count(a, 10, 1)
        model = population.global_model()

    # Within the period every image of every page uses the same model...
    _count(b, 60000, 24000)
    clock["t"] += 30
    assert population.global_model() is model
    # ...and the next period's refit sees the new counters.
    clock["t"] += 60
    refitted = population.global_model()
    assert refitted.base_ctr(str(b.pk)) > refitted.base_ctr(str(a.pk))


@pytest.mark.parametrize("impressions, grown, seconds, period", [
    (0, 0, 1, 1),            # an empty shop stays quick
    (1000, 1000, 1, 1),      # doubled in a second: refit again at once
    (4000, 100, 1, 2),       # 2.5 % a second: 5 % in two
    (100000, 100, 60, 60),   # a sliver: the full period
    (50, 0, 8, 16),          # nothing new: backs off (as if one impression came in 8 s: 5 % of 50 of them)
])
def test_the_refit_period_follows_the_counters_growth(impressions, grown, seconds, period):
    clock = RefitClock()
    clock.fitted(100.0, impressions - grown)
    clock.fitted(100.0 + seconds, impressions)
    assert clock.bucket(1000.0, longest=60)[0] == period


def test_counters_older_than_the_retention_window_are_ignored(make_styles, clock, settings):
    settings.STYLESTORE = {"EVENT_RETENTION_DAYS": 1}
    (a,) = make_styles(1)
    StyleHourlyStats.objects.create(style=a, hour=population.hour_start(timezone.now()) - timezone.timedelta(days=3),
                                    impressions=1000, clicks=100)
    assert population.global_model().index == {}
