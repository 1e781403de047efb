"""The analytics page's "styled vs original": the control group against everyone else."""
from html import unescape

import numpy as np
import pytest
from django.utils import timezone

from stylestore.models import StyleEvent, Visitor
from stylestore.personalization import analytics

pytestmark = pytest.mark.django_db

ANALYTICS_URL = "/admin/stylestore/styleevent/analytics/"


def traffic(style, *, styled, original, styled_ctr, original_ctr, seed=0, impressions=10):
    """Visitors with ``impressions`` impressions each, clicked at the given rates, as the
    events endpoint logs them (control impressions: no style, reason "control")."""
    rng = np.random.default_rng(seed)
    people = Visitor.objects.bulk_create([Visitor(key=f"{i:032x}") for i in range(styled + original)])
    rows, now = [], timezone.now()
    for i, visitor in enumerate(people):
        control = i >= styled
        for j in range(impressions):
            kwargs = dict(visitor=visitor, style=None if control else style, choice_id=f"{i}-{j}", created_at=now,
                          propensity=0.1 if control else 0.9, history_share=0.0,
                          reason="control" if control else "global")
            rows.append(StyleEvent(kind="impression", available=[] if control else [style.pk], **kwargs))
            if rng.random() < (original_ctr if control else styled_ctr):
                rows.append(StyleEvent(kind="click", **kwargs))
    StyleEvent.objects.bulk_create(rows)


def test_styled_vs_original_in_plain_words_with_an_interval(client, analyst, make_styles):
    (style,) = make_styles(1)
    traffic(style, styled=900, original=300, styled_ctr=0.10, original_ctr=0.05)
    control = analytics.styled_vs_original(analytics.window_start(30))
    assert (control.styled.visitors, control.original.visitors) == (900, 300)
    assert (control.styled.impressions, control.original.impressions) == (9000, 3000)
    assert 0.5 < control.clicks_lift.low < 1.0 < control.clicks_lift.high < 1.6  # truth: +100 %
    assert control.add_to_carts_lift is None  # none logged

    html = client.get(ANALYTICS_URL).content.decode()
    assert "Styled images: +" in html and "clicks per impression versus the original photos" in html
    assert "from 1200 visitors, 300 of whom saw the original photos" in html
    assert "Styled images and add to carts: not enough data yet" in html
    assert "Original photos (control group)" in html
    assert "Not enough data yet to tell them apart" not in html  # the interval is clear of zero


def test_an_interval_spanning_no_difference_is_called_not_enough_data(client, analyst, make_styles):
    (style,) = make_styles(1)
    traffic(style, styled=300, original=100, styled_ctr=0.06, original_ctr=0.05)
    lift = analytics.styled_vs_original(analytics.window_start(30)).clicks_lift
    assert lift.low < 0 < lift.high
    html = unescape(client.get(ANALYTICS_URL).content.decode())
    assert "clicks per impression versus the original photos" in html
    assert "Not enough data yet to tell them apart: the interval includes no difference." in html


def test_a_handful_of_visitors_is_not_enough_data_and_rates_stay_above_zero(client, analyst, make_styles):
    (style,) = make_styles(1)
    traffic(style, styled=4, original=2, styled_ctr=0.2, original_ctr=0.0, impressions=3)
    control = analytics.styled_vs_original(analytics.window_start(30))
    assert control.clicks_lift is None
    assert control.original.clicks.value == 0 and control.original.clicks.low == 0 < control.original.clicks.high
    html = client.get(ANALYTICS_URL).content.decode()
    assert "not enough data yet (4 visitors saw styled images, 2 the original photos" in html


def test_without_a_control_group_the_page_says_how_to_get_one(client, analyst, make_styles):
    (style,) = make_styles(1)
    traffic(style, styled=5, original=0, styled_ctr=0.2, original_ctr=0.0)
    assert analytics.styled_vs_original(analytics.window_start(30)) is None
    assert 'No control group: set STYLESTORE["CONTROL_SHARE"]' in unescape(client.get(ANALYTICS_URL).content.decode())
