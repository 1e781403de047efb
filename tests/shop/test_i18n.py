"""The demo shop in each language it ships: translated pages, localised prices, the
switcher, and a favicon for the pages that link none."""
import re
from decimal import Decimal

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.test import Client
from django.templatetags.static import static

from shop.models import Product

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalogue():
    call_command("seed_demo")
    Product.objects.filter(slug="delft-basin").update(price=Decimal("1250.00"))
    return Product.objects.get(slug="delft-basin")


@pytest.mark.parametrize(
    ("language", "heading", "price", "cart"),
    [
        ("en", "All products", "$1,250.00", "Add to cart"),
        ("fr", "Tous les produits", "1\u202f250,00\xa0$US", "Ajouter au panier"),
        ("zh-hans", "全部商品", "US$1,250.00", "加入购物车"),
    ],
)
def test_pages_speak_the_browsers_language(client, catalogue, language, heading, price, cart):
    listing = client.get("/", HTTP_ACCEPT_LANGUAGE=language)
    html = listing.content.decode()
    assert listing["Content-Language"] == language
    assert f'<html lang="{language}">' in html
    assert f"<h1>{heading}</h1>" in html
    assert f'<span class="product-price">{price}</span>' in html
    assert "$" + "1250" not in html
    detail = client.get(catalogue.get_absolute_url(), HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert f'<p class="product-price">{price}</p>' in detail
    assert f">{cart}</button>" in detail


def test_the_currency_is_a_setting(client, catalogue, settings):
    settings.SHOP_CURRENCY = "EUR"
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert '<span class="product-price">1\u202f250,00\xa0€</span>' in html


def test_the_switcher_sets_the_language_for_later_pages(client, catalogue):
    response = client.get("/")
    html = response.content.decode()
    options = re.findall(r'<option value="([^"]+)"', html)
    assert options == ["en", "fr", "zh-hans"]
    assert "csrftoken" not in response.cookies and "csrfmiddlewaretoken" not in html  # no CSRF cookie per page
    client = Client(enforce_csrf_checks=True)
    response = client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/?category=textiles"})
    assert response.status_code == 302 and response["Location"] == "/?category=textiles"
    html = client.get("/?category=textiles").content.decode()
    assert '<html lang="zh-hans">' in html and "博物馆复制品商店" in html
    assert '<option value="zh-hans" lang="zh-hans" selected>简体中文</option>' in html


def test_favicon_for_pages_that_link_none(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"] == static("shop/favicon.svg")
    assert finders.find("shop/favicon.svg")
