"""The demo shop's checkout, end to end: product page, cart, "Place order", the order
confirmation, and the purchases Stylestore records and attributes to the look seen."""
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.test import Client

from shop.models import Order
from stylestore.models import StyleEvent, StyleHourlyStats
from tests.personalization.conftest import (  # noqa: F401 (fixtures)
    category, impressions, make_products, make_styles, make_variant, page_images, post_events, style_of, world,
)

pytestmark = pytest.mark.django_db

def test_cart_place_order_confirmation_and_purchases_attributed(client, world):
    products, styles = world(2, 2)
    seen, other = products
    page = client.get(seen.get_absolute_url()).content.decode()
    assert 'action="/products/vase-0/add-to-cart/"' in page
    post_events(client, impressions(page))
    look = int(style_of(page_images(page)[f"shop.product:{seen.pk}"]["src"]))

    for product in (seen, seen, other):
        response = client.post(f"/products/{product.slug}/add-to-cart/")
        assert response.status_code == 302 and response["Location"] == "/cart/"
    cart = client.get("/cart/").content.decode()
    assert "Vase 0" in cart and "Vase 1" in cart and "Place order" in cart and "$30.00" in cart

    response = client.post("/cart/order/")
    order = Order.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/orders/{order.pk}/"
    assert [(line.name, line.quantity) for line in order.lines.all()] == [("Vase 0", 2), ("Vase 1", 1)]
    confirmation = client.get(response["Location"]).content.decode()
    assert "Thank you for your order" in confirmation and f"Order {order.pk} is placed" in confirmation

    purchases = {row.source.object_id: row for row in StyleEvent.objects.filter(kind="purchase")
                 .select_related("source")}
    assert purchases[str(seen.pk)].style_id == look and purchases[str(seen.pk)].value == Decimal("20.00")
    # "More in this style" showed the other product on the page: its look counts too.
    other_look = StyleEvent.objects.filter(kind="impression", source=purchases[str(other.pk)].source).get()
    assert purchases[str(other.pk)].style_id == other_look.style_id
    assert {row.currency for row in purchases.values()} == {"USD"}
    totals = StyleHourlyStats.objects.aggregate(purchases=Sum("purchases"), revenue=Sum("revenue"))
    assert totals == {"purchases": 2, "revenue": Decimal("30.00")}  # both were seen in a look

    assert "Your cart is empty" in client.get("/cart/").content.decode()
    assert client.post("/cart/order/")["Location"] == "/cart/"  # nothing to order twice
    assert StyleEvent.objects.filter(kind="purchase").count() == 2

def test_an_order_shows_only_in_the_session_that_placed_it(client, world):
    (product,), _ = world(1, 1)
    client.post(f"/products/{product.slug}/add-to-cart/")
    location = client.post("/cart/order/")["Location"]

    assert Client().get(location).status_code == 404
    assert client.get(location).status_code == 200

def test_placing_an_order_needs_a_csrf_token(world):

    (product,), _ = world(1, 1)
    browser = Client(enforce_csrf_checks=True)
    assert browser.post(f"/products/{product.slug}/add-to-cart/").status_code == 302  # exempt: see the view
    assert browser.post("/cart/order/").status_code == 403
    assert not Order.objects.exists()
