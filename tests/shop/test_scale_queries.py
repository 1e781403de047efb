"""Queries per request do not grow with the catalogue.

The same requests are counted with the scale fixture at 5 products and again after it
grew to 40 (20 styles, a ready variant of every product in each): every storefront
page, API read and admin list must cost the same number of queries at both sizes. The
counts are of a second request (the visitor cookie set, per-process caches warm), the
cost every later request pays."""
import io
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.db.models import Sum
from django.test import Client
from django.test.utils import CaptureQueriesContext

from shop.models import Product
from stylestore.conf import stylestore_settings
from stylestore.models import StyleEvent, ViewerDailyStats, Visitor
from stylestore.personalization import caches
from stylestore.personalization.identity import sign_key

SMALL, LARGE = 5, 40

STOREFRONT = {
    "listing page": "/",
    "product page": "/products/scale-000001/",
    "personalized API": "/api/v1/sources/{ref}/personalized/",
    "more in this style API": "/api/v1/sources/{ref}/more-in-this-style/",
    "variants API": "/api/v1/sources/{ref}/variants/",
    "styles API": "/api/v1/styles/",
}
#: Who asks: a new visitor, a returning one (the fixture's first visitor, whose row
#: and events exist), and an admin.
REQUESTS = [
    *((f"{name}, new visitor", url, "new") for name, url in STOREFRONT.items()),
    *((f"{name}, returning visitor", STOREFRONT[name], "returning")
      for name in ("listing page", "product page", "personalized API", "more in this style API")),
    ("jobs API", "/api/v1/jobs/", "staff"),
    ("admin product changelist", "/admin/shop/product/", "staff"),
    ("admin variants list", "/admin/stylestore/stylizedimage/", "staff"),
]


def fill(products):
    call_command("stylestore_scale_fixture", products=products, events=300, stdout=io.StringIO(), stderr=io.StringIO())
    caches.clear_caches()  # the per-process tables must see the new catalogue


def query_counts(clients):
    ref = f"shop.product:{Product.objects.get(slug='scale-000001').pk}"
    counts, pages, sql = {}, {}, {}
    for name, url, who in REQUESTS:
        url = url.format(ref=ref)
        assert clients[who].get(url).status_code == 200, url
        with CaptureQueriesContext(connection) as queries:
            response = clients[who].get(url)
        assert response.status_code == 200, url
        counts[name] = len(queries)
        pages[name] = response
        sql[name] = [q["sql"] for q in queries.captured_queries]
    return counts, pages, sql


@pytest.mark.django_db
def test_queries_per_request_do_not_grow_with_the_catalogue(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    fill(SMALL)
    clients = {who: Client() for who in ("new", "returning", "staff")}
    visitor = Visitor.objects.filter(events__isnull=False).order_by("key").first()
    clients["returning"].cookies[stylestore_settings.VISITOR_COOKIE] = sign_key(visitor.key)
    clients["staff"].force_login(get_user_model().objects.create_superuser("admin", "admin@example.com", "pw"))

    small, small_pages, _ = query_counts(clients)
    fill(LARGE)
    large, large_pages, large_sql = query_counts(clients)

    # The pages did show the bigger catalogue: a full listing page, more variants and jobs.
    assert small_pages["listing page, new visitor"].content.count(b'class="product-card"') == SMALL
    assert large_pages["listing page, new visitor"].content.count(b'class="product-card"') == 24
    assert b"page=2" in large_pages["listing page, returning visitor"].content
    assert large_pages["jobs API"].json()["count"] == LARGE * 20 > small_pages["jobs API"].json()["count"]
    assert b"scale-000039" in large_pages["admin product changelist"].content
    assert {name: large[name] - small[name] for name in small} == {name: 0 for name in small}, (small, large)

    # The variants list filters by date without listing the dates of every variant
    # (``date_hierarchy``'s SELECT DISTINCT over all rows).
    assert b"created_at__gte=" in large_pages["admin variants list"].content
    assert not [q for q in large_sql["admin variants list"] if "DISTINCT" in q and "created_at" in q]


@pytest.mark.django_db
def test_the_fixture_credits_each_impression_and_outcome_to_the_product_its_visitor_viewed():
    fill(SMALL)
    events = StyleEvent.objects.order_by("created_at")
    viewer_rows = set(ViewerDailyStats.objects.values_list("source_id", "style_id", "day"))
    totals = ViewerDailyStats.objects.aggregate(impressions=Sum("impressions"), clicks=Sum("clicks"),
                                                carts=Sum("add_to_carts"))
    # Each of a visit's impressions, clicks and adds to cart follows its view within
    # seconds: all are credited to the viewed product (and to any other the visitor
    # viewed in the half hour before).
    assert totals["impressions"] >= events.filter(kind="impression").count() == 210
    assert totals["clicks"] >= events.filter(kind="click").count() == 30
    assert totals["carts"] >= events.filter(kind="add_to_cart").count() == 30
    for view in events.filter(kind="view"):
        visit = events.filter(visitor_id=view.visitor_id, created_at__gte=view.created_at,
                              created_at__lte=view.created_at + timedelta(seconds=10)).exclude(kind="view")
        for event in visit:
            assert (view.source_id, event.style_id, event.created_at.date()) in viewer_rows
