"""The demo shop's own checkout in a real browser: a product page's "Add to cart", the
cart, "Place order", the order page; the add to cart and the purchase are attributed to
the look the customer saw the product in."""
import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from shop.models import Order
from stylestore.models import StyleEvent

from .conftest import visitor_of

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_customer_orders_a_product_in_the_look_they_saw(live_server, new_context, artifacts, render_catalogue):
    products = render_catalogue({"great-wave": ["delft-basin"]})
    product = products["delft-basin"]
    context = new_context()
    page = context.new_page()

    page.goto(f"{live_server.url}{product.get_absolute_url()}")
    shown = page.locator(".product-photo picture > source")
    expect(shown).to_have_attribute("srcset", re.compile(r"^/media/stylestore/\S+\.webp \d+w$"))
    page.get_by_role("button", name="Add to cart").click()

    expect(page).to_have_url(re.compile(r"/cart/$"))
    expect(page.locator("table.cart")).to_contain_text(product.name)
    artifacts.shot(page, "cart", full_page=True)
    page.get_by_role("button", name="Place order").click()

    order = Order.objects.get()
    expect(page).to_have_url(re.compile(rf"/orders/{order.pk}/$"))
    expect(page.locator("table.cart")).to_contain_text(product.name)
    artifacts.shot(page, "order", full_page=True)
    # The cart is empty once the order is placed.
    page.goto(f"{live_server.url}/cart/")
    expect(page.get_by_text("Your cart is empty.")).to_be_visible()

    visitor = visitor_of(context)
    purchase = StyleEvent.objects.select_related("style").get(visitor=visitor, kind="purchase")
    assert (purchase.style.slug, purchase.value, purchase.currency) == ("great-wave", Decimal(product.price),
                                                                         order.currency)
    cart = StyleEvent.objects.select_related("style").get(visitor=visitor, kind="add_to_cart")
    assert cart.style.slug == "great-wave"
