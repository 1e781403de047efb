"""Personalization fixtures: products with small generated photos and their source
rows, styles with style vectors, and ready variants created directly as rows with
small files (the engine is not run: personalization only ever reads what is ready)."""
import json
import re
from html import unescape

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.utils import timezone

from shop.models import Category, Product
from stylestore.models import SourceImage, Style, StyleHourlyStats, StylizedImage
from stylestore.personalization import caches, population
from stylestore.variants.sources import sync_sources
from tests.conftest import make_image_bytes
from tests.variants import ready_variant

DIM = 16


def unit(i, dim=DIM):
    """A style-like vector: mostly axis ``i``, plus a component all of them share."""
    return [1.0 if j == i else 0.15 for j in range(dim)]


@pytest.fixture(autouse=True)
def fresh_caches():
    """Throttle counters (Django's cache) and the per-process model and embedding
    caches outlive a test."""
    cache.clear()
    caches.clear_caches()
    yield
    cache.clear()
    caches.clear_caches()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Tests log users in through the login form; the production hasher is slow on purpose."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def category(db):
    return Category.objects.create(name="Ceramics", slug="ceramics")


@pytest.fixture
def make_products(category):
    """``make(n, looks=None)``: products with photos and source rows; product ``i``'s
    photo embedding points at style axis ``looks[i]`` (default ``i``)."""

    def make(n, looks=None, start=0):
        products = []
        for i in range(start, start + n):
            product = Product(name=f"Vase {i}", slug=f"vase-{i}", category=category, price="10.00",
                              image_alt=f"Vase number {i}")
            product.image.save(f"vase-{i}.jpg", ContentFile(make_image_bytes((48, 32), color=(i * 29 % 256, 90, 40))),
                               save=False)
            product.save()
            products.append(product)
        for index, source in enumerate(sync_sources(products, "image")):
            look = looks[index] if looks is not None else start + index
            SourceImage.objects.filter(pk=source.pk).update(embedding=unit(look))
        return products

    return make


@pytest.fixture
def make_styles(db):
    """``make(k)``: preset styles ``s0..s{k-1}`` whose vectors point at axes ``0..k-1``."""

    def make(k):
        return [
            Style.objects.create(name=f"Style {i}", slug=f"s{i}", kind=Style.Kind.PRESET, preset_weights={str(i): 1},
                                 style_vector=unit(i), description=f"Look number {i}")
            for i in range(k)
        ]

    return make


@pytest.fixture
def make_variant(db):
    """A ready variant row with a small real file, approved unless told otherwise."""

    def make(product, style, *, size=512, review=StylizedImage.Review.APPROVED, status=StylizedImage.Status.READY):
        source = SourceImage.objects.get(object_id=str(product.pk), field_name="image")
        return ready_variant(source, style, size=size, review=review, status=status)

    return make


@pytest.fixture
def world(make_products, make_styles, make_variant):
    """``world(n, k)``: n products x k styles, every variant ready and approved at 256
    and 512 pixels."""

    def make(n=4, k=3, looks=None):
        products, styles = make_products(n, looks), make_styles(k)
        for product in products:
            for style in styles:
                make_variant(product, style, size=256)
                make_variant(product, style, size=512)
        return products, styles

    return make


def browsing_predicts_clicks(styles):
    """Counters of a shop where clicks rise with the history share as ``0.03 (1 + 3 q)``
    (q uniform): the fitted history weight is well above 0, so views move looks."""
    hour = population.hour_start(timezone.now())
    StyleHourlyStats.objects.bulk_create([
        StyleHourlyStats(style=style, hour=hour, impressions=10_000, clicks=750, share_sum=5_000,
                         share_sq_sum=10_000 / 3, click_share_sum=450)
        for style in styles
    ])
    assert population.global_model().history_weight > 1


# ---------------------------------------------------------------------- page helpers

EVENTS_URL = "/api/v1/visitor/events/"
ERASE_URL = "/api/v1/visitor/erase/"
# A personalized <img>, with the <source> of its <picture> if it has one.
_IMG = re.compile(r"(?:<source ([^>]*)>)?(<img [^>]*data-stylestore-ref=[^>]*>)")
_ATTR = re.compile(r'([a-z-]+)="([^"]*)"')


def page_images(html):
    """``{reference: {attribute: value}}`` of the personalized ``<img>``s of a page
    (the first of each reference: the product's main image). In a ``<picture>`` the
    look is in its ``<source>`` and the ``<img>`` falls back to the original photo:
    ``src``, ``srcset`` and ``sizes`` are then the source's (what a browser shows,
    the first candidate standing for ``src``), ``fallback`` the ``<img>``'s ``src``."""
    found = {}
    for source, tag in _IMG.findall(html):
        attrs = {name: unescape(value) for name, value in _ATTR.findall(tag)}
        if source:
            offered = {name: unescape(value) for name, value in _ATTR.findall(source)}
            attrs["fallback"] = attrs["src"]
            attrs["src"] = offered["srcset"].split(",")[0].split()[0]
            attrs.update({key: offered[key] for key in ("srcset", "sizes", "type") if key in offered})
        found.setdefault(attrs["data-stylestore-ref"], attrs)
    return found


def shown_styles(client, path="/"):
    """``{reference: style directory in the variant URL, or "original"}`` of a page."""
    html = client.get(path).content.decode()
    return {ref: style_of(attrs["src"]) for ref, attrs in page_images(html).items()}


def style_of(url):
    """The style id in a variant file name (``stylestore/<hash>/<style id>/<params>.webp``)."""
    match = re.search(r"/stylestore/[^/]+/(\d+)/", url)
    return match[1] if match else "original"


def post_events(client, events, **extra):
    return client.post(EVENTS_URL, data=json.dumps(events), content_type="application/json", **extra)


_BEACON = re.compile(r"<script [^>]*data-stylestore-view=[^>]*>")


def view_product(client, product):
    """What a browser does on a product page: load it, then post the view its beacon
    script names (read from the page, so what the tag renders is what is tested).
    Returns the page's response."""
    response = client.get(product.get_absolute_url())
    tag = _BEACON.search(response.content.decode())
    if tag:
        attrs = {name: unescape(value) for name, value in _ATTR.findall(tag[0])}
        post_events(client, [{"kind": "view", "source": attrs["data-stylestore-view"],
                              "field": attrs["data-stylestore-view-field"]}])
    return response


def impressions(html, kind="impression"):
    """One event of ``kind`` per personalized image of the page, as the script sends them."""
    return [{"kind": kind, "choice": attrs["data-stylestore-choice"]}
            for attrs in page_images(html).values() if "data-stylestore-choice" in attrs]


@pytest.fixture
def analyst(client, django_user_model):
    """A staff user who may read the personalization analytics, logged in on ``client``."""
    user = django_user_model.objects.create_user("ana", password="secret-pass-123", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_styleevent"))
    client.force_login(user)
    return user
