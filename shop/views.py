import mimetypes

from django.conf import settings
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.views.static import serve

from stylestore.personalization.events import expect_view

from .models import Category, Product


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
