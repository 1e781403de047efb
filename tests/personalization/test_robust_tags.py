"""The template tags never raise on what templates hand them: placeholders, None,
missing files, objects Stylestore does not track. They show the original, or nothing."""
import pytest
from django.contrib.auth.models import AnonymousUser
from django.template import Context, Template
from django.test import RequestFactory

from shop.models import Category

from .conftest import page_images

pytestmark = pytest.mark.django_db

TAGS = (
    "{% load stylestore %}"
    "{% styled_image obj field size=512 as img %}[{% stylestore_picture img %}]"
    "[{% stylestore_img img %}]"
    "[{% style_picker obj field %}]"
    "{% style_looks obj field as looks %}[{{ looks|length }}]"
    "{% more_in_this_style obj field as similar %}[{{ similar|length }}]"
    "[{% stylestore_beacon view=obj field_name=field %}]"
)


def render(obj, field="image"):
    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    return Template(TAGS).render(Context({"request": request, "obj": obj, "field": field}))


def test_oscar_placeholder_renders_its_original_unpersonalized(settings):
    html = render({"original": "image_not_found.jpg", "caption": "", "is_missing": True}, "original")
    assert '<img src="/media/image_not_found.jpg"' in html
    assert "data-stylestore-ref" not in html and "data-stylestore-choice" not in html
    assert "][][0][0][" in html  # no picker, no looks, nothing similar


def test_none_renders_nothing():
    html = render(None)
    assert "<img" not in html and "<picture" not in html and "[0][0]" in html


def test_object_of_a_model_that_is_not_a_source(db):
    category = Category.objects.create(name="Bowls", slug="bowls")
    html = render(category)
    assert "<img" not in html and "data-stylestore-view" not in html


def test_unknown_field_of_a_source_object_renders_nothing(world):
    products, _ = world(1, 1)
    html = render(products[0], "no_such_field")
    assert "<img" not in html and "[0][0]" in html


def test_unsaved_source_object_shows_its_own_photo(world):
    products, _ = world(1, 1)
    products[0].pk = None
    html = render(products[0])
    assert f'src="{products[0].image.url}"' in html and "data-stylestore-ref" not in html


def test_missing_source_file_shows_the_original_url(client, make_products, make_styles):
    """No variant, and the photo's file gone from storage: the page still renders, with
    the original's URL (the browser shows its broken-image icon, the shop its 200)."""
    products = make_products(2)
    make_styles(1)
    products[0].image.storage.delete(products[0].image.name)
    response = client.get("/")
    assert response.status_code == 200
    images = page_images(response.content.decode())
    assert images[f"shop.product:{products[0].pk}"]["src"] == products[0].image.url
    assert client.get(products[0].get_absolute_url()).status_code == 200


def test_source_without_a_photo_renders_nothing(make_products):
    products = make_products(1)
    products[0].image = None
    html = render(products[0])
    assert "<img" not in html


def test_tags_work_without_the_url_includes(world, settings, tmp_path):
    """Template-only use: neither stylestore URL include. The look is still chosen; the
    picker and the beacon, which need them, render nothing (check W046, W047)."""
    products, _ = world(1, 2)
    settings.ROOT_URLCONF = "tests.personalization.urls_without_stylestore"
    html = render(products[0])
    assert f'data-stylestore-ref="shop.product:{products[0].pk}"' in html
    assert "<form" not in html and "<script" not in html
