"""The template tags on the demo shop's pages: what each visitor sees, and what it costs."""
import re

import pytest
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext

from stylestore.models import SourceImage, Style, StyleEvent, StylizedImage, Visitor
from stylestore.personalization import caches, events

from .conftest import impressions, page_images, post_events, shown_styles, style_of, view_product

pytestmark = pytest.mark.django_db


def test_listing_shows_a_ready_variant_with_srcset_size_alt_and_choice(client, world):
    products, styles = world(2, 2)
    images = page_images(client.get("/").content.decode())
    assert set(images) == {f"shop.product:{p.pk}" for p in products}
    for attrs in images.values():
        assert style_of(attrs["src"]) in {str(s.pk) for s in styles}
        assert attrs["srcset"].endswith(" 512w") and " 256w, " in attrs["srcset"]
        assert (attrs["width"], attrs["height"]) == ("512", "341")  # the size bucket asked for (size=512)
        assert attrs["alt"].startswith("Vase number ") and "in the style “Style " in attrs["alt"]
        assert attrs["data-stylestore-choice"]


def test_listing_queries_do_not_grow_with_products(client, world, make_products, make_variant,
                                                   django_assert_num_queries):
    """Two products or eight: the same number of queries (categories, products, all
    variants at once, the visitor), none per image; images new to the process none more
    (their products' categories come joined with them)."""
    products, styles = world(2, 3)
    client.get("/")  # mints the visitor cookie and warms the per-process caches
    with CaptureQueriesContext(connection) as two:
        assert len(page_images(client.get("/").content.decode())) == 2
    for product in make_products(6, start=2):
        for style in styles:
            make_variant(product, style, size=512)
    for _visit in ("six images new to the process", "all known"):
        with django_assert_num_queries(len(two)):
            html = client.get("/").content.decode()
        assert len(page_images(html)) == 8


def test_an_image_new_to_the_process_costs_no_query_more_for_its_products_category(client, world,
                                                                                  django_assert_num_queries):
    """A large catalogue's product pages are mostly of images the process has not shown
    yet: their product's category comes joined with the product, not from a query of
    its own."""
    products, _styles = world(2, 3)
    personalized = "/api/v1/sources/shop.product:{}/personalized/".format
    client.get(personalized(products[0].pk))  # the visitor cookie, the per-process caches
    with CaptureQueriesContext(connection) as known:
        assert client.get(personalized(products[0].pk)).status_code == 200
    with django_assert_num_queries(len(known)):
        assert client.get(personalized(products[1].pk)).status_code == 200


def test_same_look_on_refresh_and_after_the_page_is_reported(client, world):
    world(4, 3)
    first = shown_styles(client)
    assert shown_styles(client) == first
    html = client.get("/").content.decode()
    assert post_events(client, impressions(html)).status_code == 202
    assert shown_styles(client) == first
    assert StyleEvent.objects.filter(kind="impression").count() == 4


def test_exploration_is_sticky_and_logs_its_probability(client, world, settings):
    """With epsilon 1 every visitor explores: the explored look is the same on refresh
    (seeded by visitor and day) and its probability is 1/k, not 1."""
    settings.STYLESTORE = {**settings.STYLESTORE, "EXPLORATION_EPSILON": 1.0}
    world(3, 4)
    first = shown_styles(client)
    assert shown_styles(client) == first
    assert len(set(first.values())) == 1  # the explored style, on every product that has it
    html = client.get("/").content.decode()
    post_events(client, impressions(html))
    assert {e.propensity for e in StyleEvent.objects.filter(kind="impression")} == {0.25}
    assert {e.reason for e in StyleEvent.objects.filter(kind="impression")} == {"explore"}


def test_an_explicit_pick_wins_everywhere_and_is_remembered(client, world):
    products, styles = world(3, 3)
    product = products[1]
    page = client.get(product.get_absolute_url()).content.decode()
    assert 'data-stylestore-picker' in page and f'value="{styles[2].slug}"' in page
    response = client.post("/stylestore/pick/", {"style": styles[2].slug, "source": f"shop.product:{product.pk}",
                                                 "field": "image", "next": product.get_absolute_url()})
    assert response.status_code == 302 and response["Location"] == product.get_absolute_url()
    assert set(shown_styles(client).values()) == {str(styles[2].pk)}
    assert set(shown_styles(client).values()) == {str(styles[2].pk)}  # and on every later page
    detail = client.get(product.get_absolute_url()).content.decode()
    assert f'value="{styles[2].slug}" aria-pressed="true"' in detail
    assert "Let the shop choose" in detail

    client.post("/stylestore/pick/", {"style": "original", "next": "/"})
    assert set(shown_styles(client).values()) == {"original"}
    client.post("/stylestore/pick/", {"style": "", "next": "/"})  # back to the shop's choice
    assert "original" not in shown_styles(client).values()
    # One pick row per visitor, its latest (three picks were counted in the hourly sums).
    (latest,) = StyleEvent.objects.filter(kind="pick")
    assert latest.style_id is None and latest.reason == ""


def test_pick_form_refuses_an_unknown_style_and_a_foreign_next(client, world):
    world(1, 1)
    assert client.post("/stylestore/pick/", {"style": "no-such-style", "next": "/"}).status_code == 400
    response = client.post("/stylestore/pick/", {"style": "s0", "next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_no_ready_variant_shows_the_original(client, make_products, make_styles, make_variant):
    (product,) = make_products(1)
    style = make_styles(1)[0]
    make_variant(product, style, status=StylizedImage.Status.PENDING)
    make_variant(product, style, size=256, status=StylizedImage.Status.FAILED)
    attrs = page_images(client.get("/").content.decode())[f"shop.product:{product.pk}"]
    assert attrs["src"] == product.image.url
    assert "srcset" not in attrs and "data-stylestore-choice" not in attrs
    assert (attrs["width"], attrs["height"]) == ("48", "32")
    assert attrs["alt"] == "Vase number 0"
    detail = client.get(product.get_absolute_url()).content.decode()
    assert "data-stylestore-picker" not in detail  # one look only: nothing to pick


def test_unapproved_variants_only_with_auto_approve(client, settings, make_products, make_styles, make_variant):
    (product,) = make_products(1)
    unreviewed, rejected = make_styles(2)
    make_variant(product, unreviewed, review=StylizedImage.Review.UNREVIEWED)
    make_variant(product, rejected, review=StylizedImage.Review.REJECTED)
    ref = f"shop.product:{product.pk}"

    settings.STYLESTORE = {**settings.STYLESTORE, "AUTO_APPROVE": False}
    assert shown_styles(client)[ref] == "original"
    settings.STYLESTORE = {**settings.STYLESTORE, "AUTO_APPROVE": True}
    assert shown_styles(client)[ref] == str(unreviewed.pk)  # never the rejected one
    detail = client.get(product.get_absolute_url()).content.decode()
    assert f'value="{rejected.slug}"' not in detail


def test_more_in_this_style_follows_the_visitors_pick(client, make_products, make_styles, make_variant):
    """Photos 0-5 look like styles 0,0,1,1,2,2; after picking style 2, the products
    "in this style" are first the two whose photos look like it."""
    products = make_products(6, looks=[0, 0, 1, 1, 2, 2])
    styles = make_styles(3)
    for product in products:
        for style in styles:
            make_variant(product, style)
    client.post("/stylestore/pick/", {"style": styles[2].slug, "next": "/"})
    html = client.get(products[0].get_absolute_url()).content.decode()
    section = html[html.index('class="more-in-this-style"'):]
    refs = list(page_images(section))
    assert set(refs[:2]) == {f"shop.product:{products[4].pk}", f"shop.product:{products[5].pk}"}
    assert f"shop.product:{products[0].pk}" not in refs and len(refs) == 4


def test_more_in_this_style_costs_one_query_for_all_its_images(client, world, django_assert_num_queries):
    products, _ = world(6, 3)
    url = products[0].get_absolute_url()
    client.get(url)
    client.get(url)
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    more = [q["sql"] for q in queries.captured_queries if "stylestore_stylizedimage" in q["sql"]]
    assert len(more) == 2  # this product's variants, then those of the four similar products at once


def test_detail_page_reports_add_to_cart_and_includes_the_beacon(client, world):
    products, _ = world(1, 2)
    html = client.get(products[0].get_absolute_url()).content.decode()
    choice = page_images(html)[f"shop.product:{products[0].pk}"]["data-stylestore-choice"]
    assert f'data-stylestore-cart="{choice}"' in html
    assert 'src="/static/stylestore/stylestore.js"' in html
    assert 'data-stylestore-endpoint="/api/v1/visitor/events/"' in html


def test_detail_page_beacon_reports_one_view_per_visit_not_per_refresh(client, world):
    products, _ = world(2, 2)
    html = view_product(client, products[0]).content.decode()
    assert f'data-stylestore-view="shop.product:{products[0].pk}" data-stylestore-view-field="image"' in html
    view_product(client, products[0])  # a refresh: the server tells it from a new view
    view_product(client, products[1])
    assert StyleEvent.objects.filter(kind="view").count() == 2
    visitor = Visitor.objects.get()
    assert visitor.state["s"]  # the views spread preference over the styles
    assert "data-stylestore-view" not in client.get("/").content.decode()  # the listing is no view


def test_serving_a_product_page_writes_nothing_and_recent_views_stay_bounded(client, world):
    """The page only reads (its view arrives with the beacon). The row remembers the
    latest ``MAX_RECENT_VIEWS`` views; an older one seen again is a new view."""
    products, _ = world(events.MAX_RECENT_VIEWS + 2, 1)
    url = products[0].get_absolute_url()
    for _ in range(2):  # a new visitor, then one with a row and a recorded view of it
        with CaptureQueriesContext(connection) as page:
            client.get(url)
        assert [q["sql"] for q in page.captured_queries if not q["sql"].startswith("SELECT")] == []
        view_product(client, products[0])
    for product in products[1:]:
        view_product(client, product)
    recent = Visitor.objects.get().recent_views
    first_source = str(SourceImage.objects.get(object_id=str(products[0].pk)).pk)
    assert len(recent) == events.MAX_RECENT_VIEWS and first_source not in recent
    view_product(client, products[0])
    assert StyleEvent.objects.filter(kind="view").count() == len(products) + 1


def record_server_side(client, product):
    """``events.record_view`` as a shop's view calls it, for this client's visitor."""
    request = RequestFactory().get(product.get_absolute_url())
    request.COOKIES.update({name: morsel.value for name, morsel in client.cookies.items()})
    return events.record_view(request, product, "image")


@pytest.mark.django_db(transaction=True)
def test_server_side_view_of_a_photo_whose_indexed_source_row_was_replaced(client, world):
    """The per-process photo index may name a source row deleted since (a new object
    took the deleted one's id): the view is recorded against the current row, not an error."""
    products, _ = world(1, 1)
    product = products[0]
    client.get(product.get_absolute_url())  # the visitor's cookie
    assert record_server_side(client, product)  # the index now holds the product's source row
    assert not record_server_side(client, product)  # a refresh
    old = SourceImage.objects.get(object_id=str(product.pk))
    replacement = SourceImage.objects.create(content_type_id=old.content_type_id, object_id="replacement",
                                             field_name=old.field_name)
    old.delete()
    SourceImage.objects.filter(pk=replacement.pk).update(object_id=str(product.pk))
    Visitor.objects.update(recent_views={})
    assert record_server_side(client, product)
    views = StyleEvent.objects.filter(kind="view").order_by("pk").values_list("source_id", flat=True)
    assert list(views) == [None, replacement.pk]  # the first view's source went with its row


def picker_options(response):
    """The picker's buttons (without the form's per-request CSRF token and path)."""
    match = re.search(r'<ul class="stylestore-picker-options">.*?</ul>', response.content.decode(), re.S)
    return match[0] if match else ""


def test_picker_options_are_reused_until_what_they_show_changes(client, world, make_variant):
    """The rendered options are kept per process under everything they are made of: a
    new look, another pick or another size shows at once, without clearing anything."""
    products, styles = world(1, 2)
    extra = Style.objects.create(name="Style late", slug="s-late", kind=Style.Kind.PRESET, preset_weights={"1": 1})
    url = products[0].get_absolute_url()
    first = picker_options(client.get(url))
    assert first.count("<button") == 3 and 'aria-pressed="true"' not in first  # original + two looks
    assert picker_options(client.get(url)) == first  # reused
    caches.fragments.clear()
    assert picker_options(client.get(url)) == first  # rendered afresh, the same markup

    make_variant(products[0], extra)  # a look becomes visible (no style saved: no cache cleared)
    with_new_look = picker_options(client.get(url))
    assert with_new_look.count("<button") == 4 and 'value="s-late"' in with_new_look

    client.post("/stylestore/pick/", {"style": styles[1].slug, "source": f"shop.product:{products[0].pk}",
                                      "next": url})
    picked = picker_options(client.get(url))
    assert re.search(rf'value="{styles[1].slug}" aria-pressed="true"', picked)
    assert "data-stylestore-reset" in picked


def test_picker_without_javascript_confirms_with_a_csrf_protected_form(world):
    """The picker opens the pick page with GET (no token on the product page, no CSRF
    cookie renewed for it); that page's form posts the pick with a CSRF token."""
    products, styles = world(1, 2)
    client = Client(enforce_csrf_checks=True)
    url = products[0].get_absolute_url()
    page = client.get(url)
    form = re.search(r'<form class="stylestore-picker" method="get" action="([^"]+)"', page.content.decode())
    assert form and "csrfmiddlewaretoken" not in page.content.decode() and "csrftoken" not in page.cookies
    query = {"style": styles[1].slug, "source": f"shop.product:{products[0].pk}", "field": "image", "next": url}
    confirm = client.get(form[1], query)
    assert confirm.status_code == 200 and styles[1].name in confirm.content.decode()
    assert not StyleEvent.objects.filter(kind="pick").exists()  # a GET changes nothing
    assert client.post(form[1], query).status_code == 403  # no CSRF token
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', confirm.content.decode())[1]
    response = client.post(form[1], {**query, "csrfmiddlewaretoken": token})
    assert response.status_code == 302 and response["Location"] == url
    assert Visitor.objects.get().state["p"] == str(styles[1].pk)
    assert client.get(form[1], {**query, "style": "no-such-style"}).status_code == 400


def test_the_original_photo_size_comes_from_its_source_row_not_its_file(client, world):
    """The size recorded with the source's hash is what the page shows: the original
    photo is not opened (a network round trip on S3) to render the picker."""
    products, _ = world(1, 2)
    source = SourceImage.objects.get(object_id=str(products[0].pk))
    assert (source.width, source.height) == (48, 32)
    products[0].image.storage.delete(products[0].image.name)  # were it opened, its size would be unknown
    options = picker_options(client.get(products[0].get_absolute_url()))
    original = re.search(r'<button[^>]*value="original"[^>]*>', options)[0]
    assert 'data-width="48"' in original and 'data-height="32"' in original


def test_a_product_page_chooses_its_look_from_the_state_its_view_will_leave(client, world):
    """The page writes nothing, yet chooses as if its view were recorded: once the
    beacon's batch (the view and the main image's impression) arrives, a refresh shows
    the same look, on every product, and the page's state is the one the batch left."""
    products, _ = world(4, 3, looks=[2, 1, 0, 2])
    for product in products:
        url = product.get_absolute_url()
        html = client.get(url).content.decode()
        first = page_images(html)[f"shop.product:{product.pk}"]
        post_events(client, [{"kind": "view", "source": f"shop.product:{product.pk}"},
                             {"kind": "impression", "choice": first["data-stylestore-choice"]}])
        again = page_images(client.get(url).content.decode())[f"shop.product:{product.pk}"]
        assert style_of(again["src"]) == style_of(first["src"]), product
    assert StyleEvent.objects.filter(kind="view").count() == len(products)
