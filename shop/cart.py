"""The demo shop's cart: product ids and quantities in the session, so a visitor needs
no account to buy."""
from .models import Product

SESSION_KEY = "shop_cart"
#: Most of one product a cart holds: a demo, not a wholesale channel.
MAX_QUANTITY = 20


def add(session, product: Product, quantity: int = 1) -> None:
    cart = dict(session.get(SESSION_KEY) or {})
    key = str(product.pk)
    cart[key] = min(cart.get(key, 0) + quantity, MAX_QUANTITY)
    session[SESSION_KEY] = cart


def lines(session) -> list[tuple[Product, int]]:
    """``(product, quantity)`` of the cart, in product name order; products deleted
    since they were added are left out."""
    cart = session.get(SESSION_KEY) or {}
    products = Product.objects.filter(pk__in=[int(key) for key in cart if key.isdigit()]).order_by("name", "pk")
    return [(product, cart[str(product.pk)]) for product in products]


def clear(session) -> None:
    session.pop(SESSION_KEY, None)
