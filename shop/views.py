import mimetypes

from django.conf import settings
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from django.views.static import serve

from stylestore.personalization.events import expect_view, record_purchase

from . import cart
from .models import Category, Order, OrderLine, Product

#: The session's list of the orders placed in it: only those confirmation pages open.
ORDERS_SESSION_KEY = "shop_orders"


#: Products per listing page: a page costs the same with 10 products or 10,000.
PAGE_SIZE = 24


def product_list(request):
    products = Product.objects.select_related("category")
    category = None
    if slug := request.GET.get("category"):
        category = get_object_or_404(Category, slug=slug)
        products = products.filter(category=category)
    page = Paginator(products, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "shop/product_list.html",
        {"products": page.object_list, "page": page, "categories": Category.objects.all(),
         "current_category": category},
    )


def product_detail(request, slug):
    product = get_object_or_404(Product.objects.select_related("category"), slug=slug)
    # The view is reported by the page's beacon script (see the template), with the
    # page's impressions: serving the page writes nothing. The looks are chosen as if
    # it were recorded already, so a refresh shows the same look.
    expect_view(request, product, "image")
    return render(request, "shop/product_detail.html", {"product": product})


# Without a CSRF token: the token would set a cookie on every product page, which
# writes nothing; and a forged post could at most put a product in a cart (the session
# cookie is SameSite=Lax, so a cross-site post does not even reach the victim's cart).
# Placing the order is protected.
@csrf_exempt
@require_POST
def cart_add(request, slug):
    cart.add(request.session, get_object_or_404(Product, slug=slug))
    return redirect("shop:cart")


def cart_detail(request):
    lines = [{"product": product, "quantity": quantity, "total": product.price * quantity}
             for product, quantity in cart.lines(request.session)]
    return render(request, "shop/cart.html", {"lines": lines, "total": sum(line["total"] for line in lines)})


@require_POST
def place_order(request):
    """The cart becomes an order, and its products purchases of the visitor: Stylestore
    attributes each to the look the visitor saw it in (no payment: a demo)."""
    lines = cart.lines(request.session)
    if not lines:
        return redirect("shop:cart")
    with transaction.atomic():
        order = Order.objects.create(currency=settings.SHOP_CURRENCY)
        OrderLine.objects.bulk_create([
            OrderLine(order=order, product=product, name=product.name, unit_price=product.price, quantity=quantity)
            for product, quantity in lines
        ])
    cart.clear(request.session)
    request.session[ORDERS_SESSION_KEY] = [*request.session.get(ORDERS_SESSION_KEY, []), order.pk]
    # A free product has no value to attribute (purchases are worth a positive amount).
    record_purchase(request, order.pk, [(product, product.price * quantity) for product, quantity in lines
                                        if product.price > 0], order.currency)
    return redirect("shop:order", pk=order.pk)


def order_detail(request, pk):
    if pk not in request.session.get(ORDERS_SESSION_KEY, []):
        raise Http404("Not an order placed in this session")
    order = get_object_or_404(Order.objects.prefetch_related("lines"), pk=pk)
    return render(request, "shop/order.html", {"order": order})


def media(request, path):
    """Serve uploaded and generated images from local media storage.

    Only image types are served, always with their image content type (and the
    ``nosniff`` header from SecurityMiddleware), so an uploaded file can never be
    interpreted as HTML or script. With S3 storage, files are served by the bucket.
    """
    content_type, _ = mimetypes.guess_type(path)
    if content_type not in {"image/jpeg", "image/png", "image/webp", "image/gif"}:
        raise Http404("Not an image")
    response = serve(request, path, document_root=settings.MEDIA_ROOT)
    response["Content-Type"] = content_type
    response["Cache-Control"] = "public, max-age=86400"
    return response
