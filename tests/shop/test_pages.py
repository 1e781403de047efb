import pytest
from django.core.management import call_command

from shop.models import Product

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalogue():
    call_command("seed_demo")


def test_product_list_shows_all_products_with_images(client, catalogue):
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    for product in Product.objects.all():
        assert product.name in html
        assert product.image.url in html
    assert html.count("<img ") == 8


def test_product_list_filters_by_category(client, catalogue):
    response = client.get("/?category=textiles")
    assert response.status_code == 200
    assert "Serape" in response.content.decode()
    assert "Delft Basin" not in response.content.decode()
    assert client.get("/?category=nope").status_code == 404


def test_product_detail(client, catalogue):
    product = Product.objects.get(slug="delft-basin")
    response = client.get(product.get_absolute_url())
    assert response.status_code == 200
    html = response.content.decode()
    assert product.name in html and product.image.url in html and product.image_alt in html
    assert client.get("/products/missing/").status_code == 404


def test_media_is_served_in_debug(client, catalogue, settings):
    product = Product.objects.first()
    response = client.get(product.image.url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
