"""Styles per product category: the hourly counters keep each image's category, and each
category's images are shown in the style that wins there."""
import pytest
from django.utils import timezone

from shop.models import Category, Product
from stylestore.models import StyleHourlyStats
from stylestore.personalization import population

from .conftest import impressions, post_events, shown_styles

pytestmark = pytest.mark.django_db


def test_impressions_and_clicks_are_counted_in_the_products_category(client, world):
    products, _styles = world(3, 2)
    batch = impressions(client.get("/").content.decode())
    assert post_events(client, batch + [{"kind": "click", "choice": batch[0]["choice"]}]).status_code == 202
    rows = StyleHourlyStats.objects.all()
    assert {row.category for row in rows} == {"Ceramics"}
    assert (sum(row.impressions for row in rows), sum(row.clicks for row in rows)) == (3, 1)
    counted = population.category_stats(population.hour_start(timezone.now()))["Ceramics"]
    assert sum(stats.impressions for stats in counted.values()) == 3


def test_each_category_is_shown_the_style_that_wins_there(client, world, settings):
    """Over the shop the two styles tie; lamps click three times as much on the second,
    vases on the first. A new visitor sees each product in its category's winner."""
    settings.STYLESTORE = {**settings.STYLESTORE, "EXPLORATION_EPSILON": 0.0}
    products, (first, second) = world(4, 2)
    lamps = Category.objects.create(name="Lamps", slug="lamps")
    Product.objects.filter(pk__in=[p.pk for p in products[2:]]).update(category=lamps)
    hour = population.hour_start(timezone.now())
    StyleHourlyStats.objects.bulk_create([
        StyleHourlyStats(style=style, hour=hour, category=category, impressions=3000, clicks=clicks)
        for category, clicks_by_style in (("Ceramics", (150, 50)), ("Lamps", (50, 150)))
        for style, clicks in zip((first, second), clicks_by_style)
    ])
    shown = shown_styles(client)
    vases = {f"shop.product:{p.pk}" for p in products[:2]}
    assert {shown[ref] for ref in vases} == {str(first.pk)}
    assert {shown[ref] for ref in shown if ref not in vases} == {str(second.pk)}
