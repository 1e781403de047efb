"""Styles per product category: the hourly counters keep each image's category, and each
category's images are shown in the style that wins there."""
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from shop.models import Category, Product
from stylestore.models import StyleHourlyStats
from stylestore.personalization import caches, population
from stylestore.variants.sources import loaded_category, source_model

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


def test_a_category_fetched_with_its_product_is_read_without_a_query(world, django_assert_num_queries):
    products, _styles = world(1, 1)
    joined = Product.objects.select_related("category").get(pk=products[0].pk)
    with django_assert_num_queries(0):
        assert loaded_category(joined) == (True, "Ceramics")
    assert loaded_category(Product.objects.get(pk=products[0].pk)) == (False, None)  # not joined: ask
    assert source_model(Product).category_relation(Product) == "category"


@pytest.mark.parametrize("lookup", ["category__products__name", "category__name__lower"])
def test_a_category_no_join_names_is_read_by_a_query(world, settings, lookup):
    """Through a reverse relation, or ending in a transform: ``object_categories`` asks."""
    settings.STYLESTORE = {**settings.STYLESTORE,
                           "SOURCE_MODELS": {"shop.product": {"fields": ["image"], "category": lookup}}}
    products, _styles = world(1, 1)
    assert loaded_category(Product.objects.select_related("category").get(pk=products[0].pk)) == (False, None)
    assert source_model(Product).category_relation(Product) is None


def test_pages_new_to_the_process_ask_for_no_category_their_query_joined(client, world):
    """The listing and the product page join each product's category (and "More in this
    style" its candidates'), so no query asks for the categories apart; each product is
    still shown in its category's style (``test_each_category_is_shown_the_style_that_wins_there``)."""
    products, _styles = world(6, 2)
    for url in ("/", f"/products/{products[0].slug}/"):
        caches.clear_caches()
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        asked = [q["sql"] for q in queries.captured_queries if '"shop_category"."name" IS NOT NULL' in q["sql"]]
        assert asked == [], url


@pytest.mark.parametrize("lookup", ["description", "category__products__description"])
def test_a_category_longer_than_the_counters_keep_is_counted_and_read_cut(client, world, settings, lookup):
    """A category of 150 characters is counted under its first 100, and a page reads it
    by that name, whether read off the product (``description``) or by a query (through
    a reverse relation): the long-named products are shown the style their counters favour."""
    settings.STYLESTORE = {**settings.STYLESTORE, "EXPLORATION_EPSILON": 0.0,
                           "SOURCE_MODELS": {"shop.product": {"fields": ["image"], "category": lookup}}}
    products, (first, second) = world(2, 2)
    Product.objects.update(description="D" * 150)
    batch = impressions(client.get("/").content.decode())
    assert post_events(client, batch).status_code == 202
    assert set(StyleHourlyStats.objects.values_list("category", flat=True)) == {"D" * 100}
    StyleHourlyStats.objects.all().delete()
    hour = population.hour_start(timezone.now())
    StyleHourlyStats.objects.bulk_create([  # the shop favours the first style; this category, the second
        StyleHourlyStats(style=style, hour=hour, category=category, impressions=3000, clicks=clicks)
        for category, clicks_by_style in (("D" * 100, (50, 150)), ("Lamps", (600, 50)))
        for style, clicks in zip((first, second), clicks_by_style)
    ])
    caches.clear_caches()
    shown = shown_styles(Client())  # a new visitor: no look kept from the first page
    assert set(shown.values()) == {str(second.pk)}
