"""The template tags on the demo shop's pages: what each visitor sees, and what it costs."""
import re

import pytest
from django.template import Context, Template
from django.test import RequestFactory

from stylestore.models import StylizedImage
from stylestore.personalization import identity
from stylestore.personalization.models import Visitor

pytestmark = pytest.mark.django_db

IMG_RE = re.compile(r"<img [^>]*data-stylestore-ref=\"(?P<ref>[^\"]+)\"[^>]*>")


def listing_images(html):
    """``{reference: <img> tag}`` of the product grid."""
    return {m["ref"]: m[0] for m in IMG_RE.finditer(html)}


def src(tag):
    return re.search(r' src="([^"]+)"', tag)[1]


def test_listing_shows_a_ready_variant_with_srcset_and_size(client, world):
    products, styles = world(2, 2)
    html = client.get("/").content.decode()
    images = listing_images(html)
    assert len(images) == 2
    for tag in images.values():
        assert "/stylestore/" in src(tag)
        assert re.search(r'srcset="[^"]+ 256w, [^"]+ 512w"', tag)
        assert 'width="512" height="341"' in tag
        assert "data-stylestore-choice=" in tag
        assert "in the style “Style " in tag  # the alt text says which look is shown


def test_listing_query_count_does_not_grow_with_products(client, world, django_assert_num_queries, make_products,
                                                          make_variant):
    """Two products or eight: the same queries (categories, products, variants, visitor...)."""
    products, styles = world(2, 3)
    client.get("/")  # mints the visitor cookie and warms the process caches
    client.post  # noqa: B018 (the client keeps the cookie)

    def count():
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            assert client.get("/").status_code == 200
        return len(queries)

    two = count()
    for product in make_products(6, start=2):
        for style in styles:
            make_variant(product, style, size=512)
    with django_assert_num_queries(two):
        html = client.get("/").content.decode()
    assert len(listing_images(html)) == 8
