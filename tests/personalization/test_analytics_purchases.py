"""The analytics a shop owner reads: purchases and revenue (per style, per visitor in the
control comparison), per product category, over a chosen date range, exported as CSV."""
import csv
import io
from datetime import timedelta
from decimal import Decimal
from html import unescape

import numpy as np
import pytest
from django.utils import timezone

from shop.models import Category
from stylestore.models import SourceImage, StyleEvent, StyleHourlyStats, Visitor
from stylestore.personalization import analytics, evaluation

pytestmark = pytest.mark.django_db

ANALYTICS_URL = "/admin/stylestore/styleevent/analytics/"


def shoppers(style, *, styled, original, buy_styled, buy_original, value="50.00", currency="USD", seed=0, at=None,
             sources=(None,)):
    """Visitors with 5 impressions each (of ``sources`` in turn), a click on the first,
    and a purchase of the first image's product with the given probabilities, logged as
    the events endpoint logs them; the style's hourly counters to match."""
    rng = np.random.default_rng(seed)
    at = at or timezone.now()
    people = Visitor.objects.bulk_create([Visitor(key=f"{rng.integers(2**63):032x}") for _ in range(styled + original)])
    rows, counts = [], {"impressions": 0, "clicks": 0, "purchases": 0, "revenue": Decimal(0)}
    for i, visitor in enumerate(people):
        control = i >= styled
        for j in range(5):
            source = sources[(i + j) % len(sources)]
            kwargs = dict(visitor=visitor, style=None if control else style, choice_id=f"{i}-{j}", created_at=at,
                          propensity=1.0, history_share=0.0, reason="control" if control else "global",
                          source=source)
            rows.append(StyleEvent(kind="impression", available=[] if control else [style.pk], **kwargs))
            counts["impressions"] += not control
            if j == 0:
                rows.append(StyleEvent(kind="click", **kwargs))
                counts["clicks"] += not control
                if rng.random() < (buy_original if control else buy_styled):
                    rows.append(StyleEvent(kind="purchase", value=Decimal(value), currency=currency, **kwargs))
                    counts["purchases"] += not control
                    counts["revenue"] += Decimal(value) if not control else 0
    StyleEvent.objects.bulk_create(rows)
    StyleHourlyStats.objects.create(style=style, hour=at.replace(minute=0, second=0, microsecond=0),
                                    currency=currency, **counts)


def test_purchases_and_revenue_per_visitor_styled_vs_original(client, analyst, make_styles, settings):
    (style,) = make_styles(1)
    shoppers(style, styled=600, original=300, buy_styled=0.20, buy_original=0.10)
    control = analytics.styled_vs_original(analytics.window_start(30))
    for arm in (control.styled, control.original):
        for estimate in (arm.purchases, arm.revenue):
            assert 0 <= estimate.low < estimate.value < estimate.high  # never below 0, never a point
    assert 0.14 < control.styled.purchases.value < 0.26 and 0.05 < control.original.purchases.value < 0.15
    assert control.styled.revenue.value == pytest.approx(50 * control.styled.purchases.value)
    assert 0.2 < control.purchases_lift.high and control.purchases_lift.low > 0  # truth: +100 %
    assert control.revenue_lift.value == pytest.approx(control.purchases_lift.value)  # every order 50.00

    settings.STYLESTORE = {**settings.STYLESTORE, "REWARD": "purchase"}
    html = unescape(client.get(ANALYTICS_URL).content.decode())
    headline = html.split('class="stylestore-analytics-headline"><strong>')[1].split("</strong>")[0]
    assert headline.startswith("Styled images: +") and "purchases per visitor versus the original photos" in headline
    assert "from 900 visitors, 300 of whom saw the original photos" in headline
    assert "revenue per visitor versus the original photos" in html
    assert "The shop optimises purchases" in html


def test_revenue_per_visitor_counts_one_currency_and_says_which(client, analyst, make_styles):
    (style,) = make_styles(1)
    shoppers(style, styled=60, original=30, buy_styled=1.0, buy_original=1.0, currency="USD", seed=1)
    shoppers(style, styled=20, original=10, buy_styled=1.0, buy_original=1.0, value="9000", currency="JPY", seed=2)
    control = analytics.styled_vs_original(analytics.window_start(30))
    assert control.currency == "USD"
    # Every visitor bought once; only the USD orders count, per visitor of either currency.
    assert control.styled.revenue.value == pytest.approx(50 * 60 / 80)
    assert control.styled.purchases.value == 1.0

    html = unescape(client.get(ANALYTICS_URL).content.decode())
    assert ("Revenue per visitor counts the purchases in USD, the most frequent currency, and leaves out those "
            "in JPY") in html
    assert "37.50\xa0USD" in html  # the styled group's revenue per visitor
    (row,) = analytics.style_rows(analytics.window_start(30))
    assert row.revenue == {"JPY": Decimal(9000 * 20), "USD": Decimal(50 * 60)}
    assert "180,000.00\xa0JPY · 3,000.00\xa0USD" in html


def test_no_purchases_yet_says_so_and_keeps_the_intervals_valid(client, analyst, make_styles):
    (style,) = make_styles(1)
    shoppers(style, styled=8, original=4, buy_styled=0.0, buy_original=0.0)
    control = analytics.styled_vs_original(analytics.window_start(30))
    assert control.purchases_lift is None and control.revenue_lift is None and control.currency is None
    assert control.styled.revenue.value == 0 and control.styled.revenue.low == 0 < control.styled.revenue.high
    html = unescape(client.get(ANALYTICS_URL).content.decode())
    assert "Styled images and purchases: not enough data yet" in html
    assert "unbounded: needs purchases from more visitors" in html


@pytest.mark.parametrize("values", [[0.0], [0.0, 0.0, 0.0], [20.0], [20.0, 20.0], [5.0, 0.0], [1.0] * 50,
                                    [0.0] * 99 + [500.0]])
def test_amounts_per_visitor_never_go_below_zero_nor_collapse(values):
    estimate = evaluation.mean_per_unit(np.array(values))
    assert 0 <= estimate.low <= estimate.value <= estimate.high and estimate.low < estimate.high


def test_a_lift_where_every_visitor_did_the_same_still_has_a_width():
    same = evaluation.mean_per_unit(np.full(20, 2.0))
    lift = evaluation.relative_lift(same, same, 40)
    assert lift.value == 0 and lift.low < 0 < lift.high and lift.low > -1


def test_the_category_table_groups_products_by_their_category(client, analyst, make_products, make_styles, settings):
    (style,) = make_styles(1)
    vase, rug, lamp = make_products(3)
    rug.category = Category.objects.create(name="Textiles", slug="textiles")
    rug.save()
    sources = {p: SourceImage.objects.get(object_id=str(p.pk), field_name="image") for p in (vase, rug, lamp)}
    shoppers(style, styled=40, original=10, buy_styled=0.5, buy_original=0.5,
             sources=[sources[vase], sources[vase], sources[rug]])
    rows = {row.category: row for row in analytics.category_rows(analytics.window_start(30))}
    assert set(rows) == {"Ceramics", "Textiles"}  # the lamp was never shown
    assert rows["Ceramics"].impressions + rows["Textiles"].impressions == 250
    assert rows["Ceramics"].impressions > rows["Textiles"].impressions > 0
    purchases = StyleEvent.objects.filter(kind="purchase")
    assert rows["Ceramics"].purchases == purchases.filter(source=sources[vase]).count()
    assert rows["Textiles"].revenue == {"USD": Decimal(50) * purchases.filter(source=sources[rug]).count()}
    assert 0 <= rows["Ceramics"].rate.low < rows["Ceramics"].rate.high <= 1

    html = unescape(client.get(ANALYTICS_URL).content.decode())
    assert "Product categories" in html and "<th scope=\"row\">Textiles</th>" in html

    # A source model without a category lookup: one "Uncategorised" row.
    settings.STYLESTORE = {**settings.STYLESTORE, "SOURCE_MODELS": {"shop.product": ["image"]}}
    rows = analytics.category_rows(analytics.window_start(30))
    assert [(row.category, row.impressions) for row in rows] == [(None, 250)]
    assert "<th scope=\"row\">Uncategorised</th>" in unescape(client.get(ANALYTICS_URL).content.decode())


def test_a_date_range_counts_only_its_days(client, analyst, make_styles):
    (style,) = make_styles(1)
    old = timezone.now() - timedelta(days=10)
    shoppers(style, styled=30, original=10, buy_styled=1.0, buy_original=1.0, at=old, seed=1)
    shoppers(style, styled=5, original=5, buy_styled=1.0, buy_original=1.0, seed=2)
    day = old.date().isoformat()
    html = unescape(client.get(ANALYTICS_URL, {"start": day, "end": day}).content.decode())
    assert f"from {day} to {day}, UTC" in html
    assert "from 40 visitors, 10 of whom saw the original photos" in html
    html = unescape(client.get(ANALYTICS_URL, {"days": 7}).content.decode())
    assert "from 10 visitors, 5 of whom saw the original photos" in html
    (row,) = analytics.style_rows(analytics.window_start(30), analytics.window_end())
    assert (row.purchases, row.revenue) == (35, {"USD": Decimal("1750.00")})
    (row,) = analytics.style_rows(analytics.window_start(11), analytics.window_start(9))
    assert (row.purchases, row.revenue) == (30, {"USD": Decimal("1500.00")})


@pytest.mark.parametrize(
    "query, message",
    [
        ({"start": "2026-02-30", "end": "2026-03-01"}, "Enter a valid date."),
        ({"start": "today"}, "Enter a valid date."),
        ({"start": "{today}"}, "Enter both dates of the range, or neither."),
        ({"start": "{today}", "end": "{yesterday}"}, "The range must start on or before its end."),
        ({"start": "{long_ago}", "end": "{today}"}, "Events are kept for 90 days: the range cannot start before"),
        ({"start": "{today}", "end": "{tomorrow}"}, "The range cannot end after today"),
    ],
)
def test_an_invalid_range_says_why_and_shows_the_default_window(client, analyst, query, message):
    today = timezone.now().date()
    dates = {"today": today, "yesterday": today - timedelta(days=1), "tomorrow": today + timedelta(days=1),
             "long_ago": today - timedelta(days=90)}
    query = {key: value.format(**{name: d.isoformat() for name, d in dates.items()}) for key, value in query.items()}
    response = client.get(ANALYTICS_URL, query)
    assert response.status_code == 200
    html = unescape(response.content.decode())
    assert message in html
    assert f"from {(today - timedelta(days=29)).isoformat()} to {today.isoformat()}, UTC" in html


def test_csv_export_of_each_table(client, analyst, make_styles, make_products):
    (style,) = make_styles(1)
    (vase,) = make_products(1)
    source = SourceImage.objects.get(object_id=str(vase.pk))
    shoppers(style, styled=20, original=10, buy_styled=1.0, buy_original=0.0, sources=[source])
    today = timezone.now().date().isoformat()
    html = client.get(ANALYTICS_URL).content.decode()
    assert "table=styles&amp;format=csv" in html and "table=categories&amp;format=csv" in html

    response = client.get(ANALYTICS_URL, {"start": today, "end": today, "table": "styles", "format": "csv"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == f'attachment; filename="stylestore-styles-{today}-{today}.csv"'
    (row,) = csv.DictReader(io.StringIO(response.content.decode()))
    assert (row["style"], row["impressions"], row["clicks"], row["purchases"]) == (style.name, "100", "20", "20")
    assert Decimal(row["revenue_USD"]) == Decimal("1000") and 0 < float(row["ctr_low"]) < 0.2 < float(row["ctr_high"])

    categories = list(csv.DictReader(io.StringIO(client.get(ANALYTICS_URL, {"table": "categories",
                                                                             "format": "csv"}).content.decode())))
    assert [(r["category"], r["impressions"], r["purchases"]) for r in categories] == [("Ceramics", "150", "20")]
    assert {"click_rate", "click_rate_low", "click_rate_high"} <= set(categories[0])
    assert categories[0]["revenue_USD"] == "1000.0000"

    groups = {r["group"]: r for r in csv.DictReader(io.StringIO(
        client.get(ANALYTICS_URL, {"table": "groups", "format": "csv"}).content.decode()))}
    assert groups["styled"]["visitors"] == "20" and float(groups["styled"]["purchases_per_visitor"]) == 1.0
    assert float(groups["original"]["revenue_per_visitor"]) == 0 and groups["original"]["revenue_per_visitor_high"] == ""
    assert groups["styled"]["revenue_currency"] == "USD" and float(groups["styled"]["revenue_per_visitor"]) == 50


def test_csv_export_needs_the_page_permission(client, django_user_model, make_styles):
    user = django_user_model.objects.create_user("clerk", password="secret-pass-123", is_staff=True)
    client.force_login(user)
    response = client.get(ANALYTICS_URL, {"table": "styles", "format": "csv"})
    assert response.status_code == 403 and not response["Content-Type"].startswith("text/csv")
    client.logout()
    response = client.get(ANALYTICS_URL, {"table": "styles", "format": "csv"})
    assert response.status_code == 302 and "/login/" in response["Location"]
