""""More in this style" lists only products this visitor sees in that style: an
approved, ready variant of it, public; never an original photo, never another style
standing in for a rejected variant."""
import time

import pytest
from django.test import Client

from shop.models import Category, Product
from stylestore.models import SourceImage, StylizedImage, Visitor

from .conftest import page_images, post_events, style_of

pytestmark = pytest.mark.django_db

Review, Status = StylizedImage.Review, StylizedImage.Status


def ref(product):
    return f"shop.product:{product.pk}"


@pytest.fixture
def shelf(make_products, make_styles, make_variant, settings):
    """Nine products whose photos all look like style 2 (so all rank close to it),
    the first viewed; only products 1 and 7 are visible in style 2 (8 is, but is not
    public)."""
    settings.STYLESTORE = {**settings.STYLESTORE, "SOURCE_MODELS": {
        "shop.Product": {"fields": ["image"], "public": {"category__slug": "ceramics"}}}}
    products = make_products(9, looks=[2] * 9)
    styles = make_styles(3)
    make_variant(products[0], styles[2])
    make_variant(products[0], styles[0])
    make_variant(products[1], styles[2])
    make_variant(products[2], styles[2], review=Review.REJECTED)  # rejected: its other style must not stand in
    make_variant(products[2], styles[0])
    make_variant(products[3], styles[0])  # no variant in the style
    # products[4]: no variant at all (its original photo)
    make_variant(products[5], styles[2], review=Review.HELD)  # held by the quality gate
    make_variant(products[5], styles[1])
    make_variant(products[6], styles[2], status=Status.PENDING)  # not rendered yet
    make_variant(products[6], styles[1])
    make_variant(products[7], styles[2])
    make_variant(products[8], styles[2])
    Product.objects.filter(pk=products[8].pk).update(category=Category.objects.create(name="Hidden", slug="hidden"))
    return products, styles


def listed(client, product):
    """``{reference: style shown}`` of the page's "More in this style" section, and
    the references the API lists for the same product."""
    html = client.get(product.get_absolute_url()).content.decode()
    section = html[html.index('class="more-in-this-style"'):] if 'class="more-in-this-style"' in html else ""
    cards = {reference: style_of(attrs["src"]) for reference, attrs in page_images(section).items()}
    api = client.get(f"/api/v1/sources/{ref(product)}/more-in-this-style/", {"limit": 24}).json()["results"]
    return cards, {r["source"]: style_of(r["image"]["url"]) for r in api}


def seen_in(client, looks):
    """The visitor has seen each product of ``looks`` in its style ``(style, [styles it
    was drawn from])``: their remembered looks, as the impressions' would be stored."""
    post_events(client, [{"kind": "pick", "style": None}])  # the visitor's row
    sources = {str(product.pk): SourceImage.objects.get(object_id=str(product.pk)).pk for product in looks}
    Visitor.objects.update(looks={
        str(sources[str(product.pk)]): [style.pk, 0.5, [s.pk for s in drawn_from], int(time.time())]
        for product, (style, drawn_from) in looks.items()})


def test_only_products_shown_in_the_style_are_listed_after_a_pick(shelf):
    products, styles = shelf
    client = Client()
    assert post_events(client, [{"kind": "pick", "style": styles[2].slug}]).status_code == 202
    expected = {ref(products[1]): str(styles[2].pk), ref(products[7]): str(styles[2].pk)}
    assert listed(client, products[0]) == (expected, expected)


def test_the_style_is_the_one_the_product_is_shown_in_and_each_card_keeps_its_look(shelf, make_variant):
    """No pick: the viewed product was seen in style 2, product 7 (which has style 1
    too) in style 1: one look per product, so only product 1 is style 2's."""
    products, styles = shelf
    make_variant(products[7], styles[1])
    client = Client()
    seen_in(client, {products[0]: (styles[2], styles), products[7]: (styles[1], styles[1:])})
    expected = {ref(products[1]): str(styles[2].pk)}
    assert listed(client, products[0]) == (expected, expected)
    assert page_images(client.get("/").content.decode())[ref(products[7])]["src"].count(f"/{styles[1].pk}/") == 1


def test_nothing_is_listed_when_the_product_shows_its_original_photo(shelf):
    products, _ = shelf
    client = Client()
    assert post_events(client, [{"kind": "pick", "style": "original"}]).status_code == 202
    assert listed(client, products[0]) == ({}, {})
