"""``GET /api/v1/analytics/``: the analytics report as data, for a headless shop's dashboard."""
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone
from rest_framework.test import APIClient

from stylestore.personalization import analytics
from tests.personalization.test_analytics_purchases import shoppers

pytestmark = pytest.mark.django_db

URL = "/api/v1/analytics/"


@pytest.fixture
def analyst_api(django_user_model):
    user = django_user_model.objects.create_user("ana", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_styleevent"))
    client = APIClient()
    client.force_authenticate(user)
    return client


def strict_json(response):
    """The body parsed as JSON proper: NaN and Infinity are not JSON."""
    def refuse(constant):
        raise ValueError(f"{constant} in the body")

    return json.loads(response.content, parse_constant=refuse)


@pytest.mark.parametrize("staff, permitted, status", [(False, True, 403), (True, False, 403), (True, True, 200)])
def test_it_needs_staff_status_and_the_analytics_permission(django_user_model, staff, permitted, status):
    user = django_user_model.objects.create_user("someone", is_staff=staff)
    if permitted:
        user.user_permissions.add(Permission.objects.get(codename="view_styleevent"))
    client = APIClient()
    client.force_authenticate(user)
    assert client.get(URL).status_code == status
    assert APIClient().get(URL).status_code == 401


def test_the_report_as_numbers(analyst_api, make_styles):
    (style,) = make_styles(1)
    shoppers(style, styled=600, original=300, buy_styled=0.20, buy_original=0.10)
    body = strict_json(analyst_api.get(URL, HTTP_ACCEPT_LANGUAGE="en"))
    today = analytics.today_start().date()
    assert (body["start"], body["end"]) == ((today - timedelta(days=29)).isoformat(), today.isoformat())
    assert body["reward"] == "click" and body["time_zone"] == "UTC"

    control = analytics.styled_vs_original(analytics.window_start(30))
    styled_vs_original = body["styled_vs_original"]
    assert styled_vs_original["styled"]["visitors"] == 600 and styled_vs_original["original"]["visitors"] == 300
    assert styled_vs_original["styled"]["impressions"] == 3000
    purchases = styled_vs_original["lift"]["purchases"]
    assert purchases == {"value": pytest.approx(control.purchases_lift.value), "n": 900,
                         "low": pytest.approx(control.purchases_lift.low),
                         "high": pytest.approx(control.purchases_lift.high)}
    assert purchases["low"] < purchases["value"] < purchases["high"]
    assert styled_vs_original["lift"]["add_to_carts"] is None  # none logged: no ratio yet
    assert styled_vs_original["currency"] == "USD" and styled_vs_original["other_currencies"] == []
    assert body["headline"][0].startswith("Styled images: ") and "clicks per impression" in body["headline"][0]
    assert any("purchases per visitor versus the original photos" in line for line in body["headline"])

    (row,) = body["styles"]
    assert row["style"] == {"id": style.pk, "slug": "s0", "name": "Style 0"} and row["name"] == "Style 0"
    assert (row["impressions"], row["clicks"]) == (3000, 600)
    assert Decimal(row["revenue"]["USD"]) == 50 * row["purchases"] > 0
    assert row["ctr"]["value"] == pytest.approx(0.2) and row["ctr"]["low"] < 0.2 < row["ctr"]["high"]
    assert body["personalized_vs_best_single"]["impressions"] == 3000  # the control group's left out


def test_unbounded_interval_ends_are_null_not_infinite(analyst_api, make_styles):
    (style,) = make_styles(1)
    shoppers(style, styled=8, original=4, buy_styled=0.0, buy_original=0.0)
    body = strict_json(analyst_api.get(URL))
    styled = body["styled_vs_original"]["styled"]
    assert styled["revenue"] == {"value": 0.0, "low": 0.0, "high": None, "n": 8}
    assert body["styled_vs_original"]["lift"]["purchases"] is None
    assert body["styled_vs_original"]["currency"] is None


def test_an_empty_window_and_no_control_group(analyst_api, make_styles):
    body = strict_json(analyst_api.get(URL, {"days": 7}))
    assert body["styled_vs_original"] is None and body["styles"] == [] and body["categories"] == []
    assert body["personalized_vs_best_single"] is None
    assert body["headline"] == ['No control group: set STYLESTORE["CONTROL_SHARE"] (e.g. 0.10) and that share of '
                                "visitors sees the original photos, so styled images can be measured against them."]


def test_a_date_range_counts_only_its_days(analyst_api, make_styles):
    (style,) = make_styles(1)
    long_ago = timezone.now() - timedelta(days=20)
    shoppers(style, styled=10, original=5, buy_styled=0.5, buy_original=0.5, at=long_ago)
    shoppers(style, styled=30, original=10, buy_styled=0.5, buy_original=0.5, seed=1)
    day = long_ago.date().isoformat()
    body = strict_json(analyst_api.get(URL, {"start": day, "end": day}))
    assert (body["start"], body["end"]) == (day, day)
    assert body["styled_vs_original"]["styled"]["visitors"] == 10 and body["styles"][0]["impressions"] == 50
    assert strict_json(analyst_api.get(URL, {"days": 7}))["styled_vs_original"]["styled"]["visitors"] == 30


@pytest.mark.parametrize("query, field, message", [
    ({"days": "5"}, "days", "One of 7, 30, 90."),
    ({"days": "week"}, "days", "A valid integer is required."),
    ({"start": "2026-01-01"}, "non_field_errors", "Enter both dates of the range, or neither."),
    ({"start": "yesterday", "end": "2026-01-01"}, "start", "Date has wrong format."),
    ({"start": "2026-01-02", "end": "2026-01-01", "days": "7"}, "non_field_errors", "Either a range"),
    ({"start": "2026-01-02", "end": "2026-01-01"}, "non_field_errors", "The range must start on or before its end."),
])
def test_a_bad_query_is_a_400_that_names_the_problem(analyst_api, query, field, message):
    response = analyst_api.get(URL, query, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    (error,) = response.json()["error"]["fields"][field]
    assert error.startswith(message)


def test_a_range_in_the_future_or_before_the_retention_is_refused(analyst_api, settings):
    tomorrow = (analytics.today_start() + timedelta(days=1)).date().isoformat()
    response = analyst_api.get(URL, {"start": tomorrow, "end": tomorrow}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400 and "cannot end after today" in response.json()["error"]["fields"][
        "non_field_errors"][0]
    old = (analytics.today_start() - timedelta(days=400)).date().isoformat()
    response = analyst_api.get(URL, {"start": old, "end": old}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400 and "Events are kept for 90 days" in response.json()["error"]["fields"][
        "non_field_errors"][0]
