"""Visibility: a source model says which objects are public (``SOURCE_MODELS``), and
nothing else is recommended or served by the public API; labels in any case; groups
(images of one product) ranked as one, never recommending the object's own."""
import pytest
from django.contrib import admin
from django.contrib.auth.models import AnonymousUser
from django.core.checks import run_checks
from django.template import Context, Template
from django.test import TestCase

from shop.admin import ProductAdmin
from shop.models import Category, Product
from stylestore.admin import StylizeAdminMixin
from stylestore.models import SourceImage, StylizedImage
from stylestore.personalization import caches
from stylestore.references import parse_reference, resolve_objects
from stylestore.variants.sources import parse_source_models, public_queryset

from .conftest import page_images, post_events

pytestmark = pytest.mark.django_db


def without_hidden(queryset):
    """A ``public`` callable, as a shop would write one."""
    return queryset.exclude(category__slug="hidden")


@pytest.fixture
def catalogue(make_products, make_styles, make_variant):
    """Six products whose photos look like styles 0,0,1,1,2,2 (all variants ready);
    the second of each pair in the "hidden" category."""
    products = make_products(6, looks=[0, 0, 1, 1, 2, 2])
    hidden = Category.objects.create(name="Hidden", slug="hidden")
    Product.objects.filter(pk__in=[p.pk for p in products[1::2]]).update(category=hidden)
    styles = make_styles(3)
    for product in products:
        for style in styles:
            make_variant(product, style)
    return products, styles


@pytest.fixture(params=[{"category__slug": "ceramics"}, f"{__name__}.without_hidden"], ids=["lookups", "callable"])
def public_setting(request, settings):
    settings.STYLESTORE = {**settings.STYLESTORE,
                           "SOURCE_MODELS": {"shop.Product": {"fields": ["image"], "public": request.param}}}


def ref(product):
    return f"shop.product:{product.pk}"


def test_public_queryset_follows_the_setting(catalogue, public_setting):
    products, _ = catalogue
    assert set(public_queryset(Product)) == set(products[0::2])


def test_unpublished_objects_are_absent_from_the_public_api(client, catalogue, public_setting):
    products, _ = catalogue
    hidden, shown = products[1], products[0]
    for suffix in ("variants", "personalized", "more-in-this-style"):
        response = client.get(f"/api/v1/sources/{ref(hidden)}/{suffix}/")
        assert response.status_code == 404 and response.json()["error"]["code"] == "unknown_reference", suffix
        assert client.get(f"/api/v1/sources/{ref(shown)}/{suffix}/").status_code == 200, suffix
    results = client.get(f"/api/v1/sources/{ref(shown)}/more-in-this-style/", {"limit": 24}).json()["results"]
    assert {r["source"] for r in results} == {ref(products[2]), ref(products[4])}


def test_more_in_this_style_lists_only_public_products(client, catalogue, public_setting):
    products, styles = catalogue
    client.post("/stylestore/pick/", {"style": styles[2].slug, "next": "/"})
    html = client.get(products[0].get_absolute_url()).content.decode()
    refs = list(page_images(html[html.index('class="more-in-this-style"'):]))
    assert refs == [ref(products[4]), ref(products[2])]  # the picked look first, nothing hidden, not itself


def test_group_ranks_owners_and_never_the_objects_own(client, catalogue, settings):
    """Grouped by category (standing in for Oscar's images of one product): one
    product per category, none of the viewed product's own category."""
    products, styles = catalogue
    settings.STYLESTORE = {**settings.STYLESTORE,
                           "SOURCE_MODELS": {"shop.product": {"fields": ["image"], "group": "category"}}}
    third = Category.objects.create(name="Third", slug="third")
    Product.objects.filter(pk=products[5].pk).update(category=third)
    post_events(client, [{"kind": "pick", "style": styles[2].slug}])
    results = client.get(f"/api/v1/sources/{ref(products[0])}/more-in-this-style/", {"limit": 24}).json()["results"]
    # products[0] is in "ceramics": its category mates 2 and 4 are left out; product 5
    # (style 2's look) for "third", then one of the hidden category (1 and 3 tie).
    sources = [r["source"] for r in results]
    assert len(sources) == 2 and sources[0] == ref(products[5]) and sources[1] in {ref(products[1]), ref(products[3])}


def test_labels_in_any_case_track_saves(make_products, settings):
    settings.STYLESTORE = {**settings.STYLESTORE, "SOURCE_MODELS": {"shop.Product": ["image"]}}
    assert list(parse_source_models({"shop.Product": ["image"]})[0]) == ["shop.product"]
    (product,) = make_products(1)
    SourceImage.objects.all().delete()
    with TestCase.captureOnCommitCallbacks(execute=True):
        product.save()
    source = SourceImage.objects.get(object_id=str(product.pk))
    assert source.content_hash and (source.width, source.height) == (48, 32)


def test_admin_mixin_takes_its_field_from_source_models(settings):
    settings.STYLESTORE = {**settings.STYLESTORE, "SOURCE_MODELS": {"shop.product": {"fields": ["image"]}}}
    assert ProductAdmin(Product, admin.site).stylize_image_field == "image"

    class CategoryStylizeAdmin(StylizeAdminMixin, admin.ModelAdmin):
        pass

    errors = CategoryStylizeAdmin(Category, admin.site).check()
    assert [e.id for e in errors] == ["stylestore.E030"] and "shop.category" in errors[0].msg


@pytest.mark.parametrize("entry, error", [
    ({"fields": ["image"], "colour": "red"}, "stylestore.E010"),
    ({"fields": ["image"], "public": "no.such.callable"}, "stylestore.E012"),
    ({"fields": ["image"], "group": "name"}, "stylestore.E013"),
    ({"fields": "image"}, "stylestore.E010"),
])
def test_bad_source_entries_are_reported(settings, entry, error):
    settings.STYLESTORE = {**settings.STYLESTORE, "SOURCE_MODELS": {"shop.product": entry}}
    assert error in {e.id for e in run_checks()}


def test_an_owner_is_a_reference_for_its_images(client, catalogue, settings):
    """With ``group``, the object the images belong to is a reference too (Oscar's
    ``catalogue.product:N``; here a category, owning its products' photos)."""
    products, _ = catalogue
    settings.STYLESTORE = {**settings.STYLESTORE, "SOURCE_MODELS": {"shop.product": {
        "fields": ["image"], "group": "category", "public": {"category__slug": "ceramics"}}}}
    ceramics, hidden = products[0].category, Category.objects.get(slug="hidden")
    body = client.get(f"/api/v1/sources/shop.category:{ceramics.pk}/variants/", {"page_size": 100}).json()
    expected = StylizedImage.objects.filter(source__object_id__in=[str(p.pk) for p in products[0::2]])
    assert {item["id"] for item in body["results"]} == set(expected.values_list("pk", flat=True))
    personalized = client.get(f"/api/v1/sources/shop.category:{ceramics.pk}/personalized/").json()
    assert personalized["source"] == ref(products[0])  # the first of its images, in the model's order
    assert client.get(f"/api/v1/sources/shop.category:{hidden.pk}/variants/").status_code == 404
    objects, missing = resolve_objects([parse_reference(f"shop.category:{hidden.pk}"),
                                        parse_reference(f"shop.category:{ceramics.pk}"), parse_reference(ref(products[2]))])
    assert set(objects[Product]) == set(products) and missing == []  # staff jobs: every image, published or not


def test_prefetching_owners_loads_their_images(rf, catalogue, settings, django_assert_num_queries):
    """``stylestore_prefetch`` given owners (here categories, owning their products'
    photos) loads every image's looks at once: the images then cost no query each."""
    products, _ = catalogue
    settings.STYLESTORE = {**settings.STYLESTORE, "SOURCE_MODELS": {"shop.product": {
        "fields": ["image"], "group": "category"}}}
    template = Template('{% load stylestore %}{% stylestore_prefetch categories "image" %}'
                        '{% for product in products %}{% styled_image product "image" as img %}'
                        '{% stylestore_img img %}{% endfor %}')

    def render():
        request = rf.get("/")
        request.user = AnonymousUser()
        categories = list(Category.objects.all())
        return template.render(Context({"request": request, "categories": categories, "products": products}))

    caches.clear_caches()
    render()  # a first page fills the per-process caches (the population model)
    with django_assert_num_queries(3):  # the categories, their products, then all their variants
        html = render()
    assert html.count("data-stylestore-ref=") == 6
