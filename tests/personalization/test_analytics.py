"""The admin's analytics page and the off-policy estimate of personalization's lift."""
import math

import numpy as np
import pytest
from django.template.loader import render_to_string
from django.utils import timezone

from stylestore.models import StyleEvent, StyleHourlyStats, Visitor
from stylestore.personalization import analytics, charts, evaluation

from .conftest import impressions, post_events

pytestmark = pytest.mark.django_db

ANALYTICS_URL = "/admin/stylestore/styleevent/analytics/"


def synthetic_log(styles, ctr, *, greedy, epsilon, n, seed, visitors=20):
    """Impressions logged by an epsilon-greedy policy over all ``styles`` (always
    available), clicked with the true ``ctr`` of the shown style; written as the Django
    layer writes them (events and daily counters). Returns the true CTRs of the logging
    policy and of "always the best single style"."""
    rng = np.random.default_rng(seed)
    people = Visitor.objects.bulk_create([Visitor(key=f"{i:032x}") for i in range(visitors)])
    k = len(styles)
    available = [s.pk for s in styles]
    rows, totals = [], {s.pk: [0, 0] for s in styles}
    now = timezone.now()
    for i in range(n):
        explore = rng.random() < epsilon
        action = int(rng.integers(k)) if explore else greedy
        propensity = 1 - epsilon + epsilon / k if action == greedy else epsilon / k
        clicked = rng.random() < ctr[action]
        visitor, style = people[i % visitors], styles[action]
        rows.append(StyleEvent(visitor=visitor, kind="impression", style=style, choice_id=f"c{i}",
                               propensity=propensity, history_share=0.0, reason="explore" if explore else "global",
                               available=available, created_at=now))
        totals[style.pk][0] += 1
        if clicked:
            rows.append(StyleEvent(visitor=visitor, kind="click", style=style, choice_id=f"c{i}", created_at=now,
                                   propensity=propensity, history_share=0.0, reason="global"))
            totals[style.pk][1] += 1
    StyleEvent.objects.bulk_create(rows)
    hour = now.replace(minute=0, second=0, microsecond=0)
    StyleHourlyStats.objects.bulk_create(
        [StyleHourlyStats(style_id=pk, hour=hour, impressions=imp, clicks=clicks)
         for pk, (imp, clicks) in totals.items()]
    )
    logging_ctr = sum((1 - epsilon + epsilon / k if a == greedy else epsilon / k) * p for a, p in enumerate(ctr))
    return logging_ctr, max(ctr)


def test_ipw_estimates_of_a_known_policy_land_within_their_intervals(make_styles):
    """A shop that mostly shows its worst style (2 %) but explores 30 % of the time:
    replayed from the log, "always the best single style" (10 %) is recovered, and the
    (negative) lift of the logging policy over it too."""
    styles = make_styles(3)
    logging_ctr, best_ctr = synthetic_log(styles, [0.02, 0.05, 0.10], greedy=0, epsilon=0.3, n=4000, seed=11)
    lift = analytics.lift(analytics.window_start(30))
    assert lift.impressions == 4000
    assert lift.baseline_styles[0] == styles[2].name
    assert best_ctr in lift.baseline_ipw and best_ctr in lift.baseline_snipw
    assert logging_ctr in lift.personalized
    assert logging_ctr - best_ctr in lift.absolute
    assert logging_ctr / best_ctr - 1 in lift.relative
    # The interval is informative, not vacuous: the lift is clearly negative.
    assert lift.absolute.high < 0 and lift.relative.high < 0


def test_the_per_visitor_sums_give_what_the_estimators_give_impression_by_impression(make_styles, settings):
    """``lift`` adds impressions up per visitor in the database; its figures are those
    of ``evaluation``'s estimators run over each impression: with two sets of available
    styles (the baseline differs between them), a control share and a pick."""
    settings.STYLESTORE = {**settings.STYLESTORE, "CONTROL_SHARE": 0.2}
    styles = make_styles(3)
    synthetic_log(styles, [0.02, 0.05, 0.10], greedy=0, epsilon=0.3, n=900, seed=5, visitors=30)
    narrower = [styles[0].pk, styles[1].pk]  # the best style missing: the baseline takes the next best
    StyleEvent.objects.filter(kind="impression", choice_id__in=[f"c{i}" for i in range(0, 900, 3)]).update(
        available=narrower)
    StyleEvent.objects.filter(kind="impression", choice_id="c1").update(reason="pick")
    StyleEvent.objects.filter(kind="impression", available=narrower, style=styles[2]).update(style=styles[1])

    lift = analytics.lift(analytics.window_start(30))

    clicked = set(StyleEvent.objects.filter(kind="click").values_list("choice_id", flat=True))
    logs = [evaluation.Logged(tuple(str(k) for k in available), str(style), propensity / 0.8, float(choice in clicked),
                              visitor)
            for visitor, style, propensity, available, choice in StyleEvent.objects.filter(kind="impression")
            .exclude(reason="pick").values_list("visitor_id", "style_id", "propensity", "available", "choice_id")]
    best = {tuple(map(str, narrower)): str(styles[1].pk), tuple(str(s.pk) for s in styles): str(styles[2].pk)}

    def baseline(context, action):
        return float(best[context] == action)

    assert lift.impressions == len(logs) == 899 and lift.clicks == sum(row.reward for row in logs)
    for estimate, expected in ((lift.baseline_ipw, evaluation.ipw(logs, baseline)),
                               (lift.baseline_snipw, evaluation.snipw(logs, baseline))):
        assert (estimate.value, estimate.low, estimate.high) == pytest.approx((expected.value, expected.low,
                                                                               expected.high), rel=1e-9)


def test_picked_impressions_are_left_out_of_the_comparison(make_styles):
    styles = make_styles(2)
    synthetic_log(styles, [0.05, 0.05], greedy=0, epsilon=0.2, n=200, seed=3)
    StyleEvent.objects.filter(kind="impression", choice_id__in=[f"c{i}" for i in range(50)]).update(reason="pick")
    assert analytics.lift(analytics.window_start(30)).impressions == 150


def test_analytics_page_shows_per_style_numbers_and_the_lift(client, analyst, make_styles):
    styles = make_styles(3)
    synthetic_log(styles, [0.02, 0.05, 0.10], greedy=0, epsilon=0.3, n=1000, seed=5)
    client.force_login(analyst)
    response = client.get(ANALYTICS_URL)
    assert response.status_code == 200
    html = response.content.decode()
    for row in analytics.style_rows(analytics.window_start(30)):
        assert f"<th scope=\"row\">{row.style.name}</th>" in html
        assert f"<td class=\"numeric\">{row.impressions}</td>" in html
        interval = evaluation.wilson(row.clicks, row.impressions)
        assert f"{interval.low * 100:.2f} % to {interval.high * 100:.2f} %" in html
    assert "Lift, absolute" in html and " pp to " in html and "IPW estimate from the same impressions" in html
    assert html.count('<svg class="stylestore-chart" role="img"') == 2  # inline charts, no CDN
    assert "<script src=\"http" not in html


@pytest.mark.parametrize("use_tz", [True, False], ids=["aware", "naive datetimes"])
def test_analytics_page_from_real_traffic_and_its_window(client, analyst, world, settings, use_tz):
    """A shop with ``USE_TZ = False`` (naive datetimes in the database) works as well:
    its product pages and counters once failed on an aware moment (a 500 on every page)."""
    settings.USE_TZ = use_tz
    products, styles = world(3, 2)
    shopper = client.__class__()
    html = shopper.get("/").content.decode()
    post_events(shopper, impressions(html) + impressions(html, kind="click")[:1])
    client.force_login(analyst)
    html = client.get(ANALYTICS_URL, {"days": "7"}).content.decode()
    assert 'aria-current="page">last 7 days' in html
    assert "From 3 impressions chosen by the shop (1 with clicks)" in html
    assert client.get(ANALYTICS_URL, {"days": "nonsense"}).status_code == 200
    today = timezone.now().date().isoformat()
    html = client.get(ANALYTICS_URL, {"start": today, "end": today}).content.decode()
    assert "From 3 impressions" in html
    # Whole days of the zone the counters keep: UTC's, or TIME_ZONE's with naive datetimes.
    assert f"from {today} to {today}, {'UTC' if use_tz else settings.TIME_ZONE}" in html


@pytest.mark.parametrize("counted, note", [
    (25, "first 25 impressions of a day count here"),
    (1, "first 1 impression of a day counts here"),
    (None, None),  # everything counts: nothing to say
])
def test_analytics_page_says_how_much_of_a_visitors_day_counts(client, analyst, world, settings, counted, note):
    settings.STYLESTORE = {**settings.STYLESTORE, "COUNTED_IMPRESSIONS_PER_DAY": counted}
    world(3, 2)
    shopper = client.__class__()
    post_events(shopper, impressions(shopper.get("/").content.decode()))
    client.force_login(analyst)
    html = client.get(ANALYTICS_URL).content.decode()
    if note:
        # Under both tables the allowance applies to: the styles' and the categories'.
        assert html.count(note) == 2
    else:
        assert "of a day count" not in html


def test_analytics_page_without_data(client, analyst):
    client.force_login(analyst)
    html = client.get(ANALYTICS_URL).content.decode()
    assert "No impressions in this window yet." in html


def test_analytics_needs_the_view_permission(client, django_user_model):
    assert client.get(ANALYTICS_URL).status_code == 302  # to the admin login
    staff = django_user_model.objects.create_user("sam", password="secret-pass-123", is_staff=True)
    client.force_login(staff)
    assert client.get(ANALYTICS_URL).status_code == 403


def test_the_event_list_links_to_the_analytics_and_is_read_only(client, analyst):
    client.force_login(analyst)
    html = client.get("/admin/stylestore/styleevent/").content.decode()
    assert f'href="{ANALYTICS_URL}"' in html
    assert client.get("/admin/stylestore/styleevent/add/").status_code == 403


def test_the_admin_index_leads_to_the_analytics_for_those_who_may_see_them(client, analyst, django_user_model):
    client.force_login(analyst)
    for page in ("/admin/", "/admin/stylestore/"):
        html = client.get(page).content.decode()
        assert '<a href="/admin/stylestore/personalizationanalytics/">Analytics</a>' in html
    response = client.get("/admin/stylestore/personalizationanalytics/")
    assert response.status_code == 302 and response["Location"] == ANALYTICS_URL
    staff = django_user_model.objects.create_user("sam", password="secret-pass-123", is_staff=True)
    client.force_login(staff)
    assert "personalizationanalytics" not in client.get("/admin/").content.decode()
    assert client.get("/admin/stylestore/personalizationanalytics/").status_code == 403


def test_a_chart_draws_an_unbounded_interval_open_and_is_left_out_when_nothing_is_bounded():
    """One visitor's impressions give no upper bound: drawn to the plot's edge as an open
    arrowhead, not as a whisker ending on the last tick; with no bound at all, no chart
    (the table says "unbounded"), rather than bars on a made-up 0.01 % scale."""
    unbounded = evaluation.Estimate(0.0, -math.inf, math.inf, 3)
    bounded = evaluation.Estimate(0.04, 0.02, 0.07, 900)
    assert charts.chart([("Personalized", unbounded), ("Best single", unbounded)]) is None
    assert render_to_string("stylestore/admin/includes/bar_chart.html",
                            {"chart": None, "chart_id": "c", "chart_title": "t"}).strip() == ""  # no empty <svg>
    chart = charts.chart([("Personalized", bounded), ("Best single", unbounded)])
    assert [bar.bounded for bar in chart.bars] == [True, False]
    assert chart.bars[1].high == chart.plot_width and chart.bars[0].high < chart.plot_width
    html = render_to_string("stylestore/admin/includes/bar_chart.html",
                            {"chart": chart, "chart_id": "c", "chart_title": "t"})
    assert html.count("stylestore-chart-unbounded") == 1 and "Best single: no upper bound yet" in html
