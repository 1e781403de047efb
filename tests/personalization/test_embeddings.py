"""The per-process photo index: read once, then brought up to date from the photos that
changed, so a process whose caches turn over does not read the whole catalogue again."""
from datetime import timedelta

import numpy as np
import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from shop.models import Product
from stylestore.models import SourceImage
from stylestore.personalization import caches, embeddings

from .conftest import unit


@pytest.fixture
def index_now(monkeypatch):
    """The index as a request after the cache's time to live would see it."""
    monkeypatch.setattr(embeddings, "EMBEDDINGS_TTL", 0)
    content_type = ContentType.objects.get_for_model(Product).pk
    return lambda: embeddings.photo_index(content_type, "image")


def row(index, product):
    return index.table.matrix[index.rows[str(product.pk)]]


def test_an_unchanged_catalogue_is_not_read_again(make_products, index_now):
    make_products(3)
    first = index_now()
    with CaptureQueriesContext(connection) as queries:
        again = index_now()
    assert again.table is first.table and again.sources == first.sources
    # The photos changed since the last read (none) and how many there are; no photo row.
    assert len(queries) == 2
    assert "updated_at" in queries[0]["sql"] and "COUNT(" in queries[1]["sql"]


def test_new_and_changed_photos_come_in_and_the_rest_is_kept(make_products, index_now):
    products = make_products(3)
    index_now()
    # A photo changed long ago that the index did not see: left as it was read, which
    # shows the update reads only what changed lately.
    SourceImage.objects.filter(object_id=str(products[0].pk)).update(
        embedding=unit(9), updated_at=timezone.now() - timedelta(days=1))
    SourceImage.objects.filter(object_id=str(products[1].pk)).update(embedding=unit(5), updated_at=timezone.now())
    SourceImage.objects.filter(object_id=str(products[2].pk)).update(embedding=None, updated_at=timezone.now())
    added = make_products(1, looks=[7], start=3)[0]

    index = index_now()
    assert set(index.sources) == {str(p.pk) for p in [*products, added]}
    assert set(index.table.keys) == {str(products[0].pk), str(products[1].pk), str(added.pk)}
    assert np.allclose(row(index, products[0]), np.array(unit(0)) / np.linalg.norm(unit(0)))
    assert np.allclose(row(index, products[1]), np.array(unit(5)) / np.linalg.norm(unit(5)))
    assert np.allclose(row(index, added), np.array(unit(7)) / np.linalg.norm(unit(7)))
    assert embeddings.photo_source(products[2], "image") == (index.sources[str(products[2].pk)], None)

    caches.clear_caches()  # read from scratch: the old change is there too
    assert np.allclose(row(index_now(), products[0]), np.array(unit(9)) / np.linalg.norm(unit(9)))


def test_a_deleted_photo_leaves_the_index(make_products, index_now):
    products = make_products(3)
    index_now()
    gone = str(products[1].pk)
    products[1].delete()
    assert not SourceImage.objects.filter(object_id=gone).exists()
    index = index_now()
    assert gone not in index.sources and gone not in index.table.keys
    assert set(index.table.keys) == {str(products[0].pk), str(products[2].pk)}


def test_unusable_embeddings_are_left_out_and_the_rest_kept(make_products, index_now):
    products = make_products(6)
    for product, vector in zip(products[1:], ([0.0] * 16, [1.0, "x"] + [0.0] * 14, [[1.0] * 16], unit(1)[:8],
                                              [True] * 16)):
        SourceImage.objects.filter(object_id=str(product.pk)).update(embedding=vector)
    caches.clear_caches()
    index = index_now()
    assert index.table.keys == (str(products[0].pk),)  # zero, a string, nested, too short, not numbers
    assert set(index.sources) == {str(p.pk) for p in products}  # every photo still has its source row
