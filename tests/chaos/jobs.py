"""The work the chaos tests queue: many small product photos, each given one preset
style. Files are written straight to storage and rows bulk-created: no save signals, so
no embedding tasks, only the jobs under test."""
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from shop.models import Category, Product
from stylestore.models import Style
from stylestore.variants import requests
from stylestore.variants.sources import sync_sources
from tests.conftest import make_image_bytes

#: Every photo fits in it, so no job is scaled down.
MAX_SIDE = 256


def textured_jpeg(size, index):
    return make_image_bytes(size, color=(index * 37 % 256, (index * 11) % 256, 200 - index % 150))


def category():
    return Category.objects.get_or_create(slug="chaos", defaults={"name": "Chaos"})[0]


def queue_small_jobs(count, sizes) -> list:
    """``count`` photos (sizes in turn from ``sizes``) styled with the preset "Ink",
    queued; returns the new rows' ids."""
    products = Product.objects.bulk_create([
        Product(name=f"P{i}", slug=f"p{i}", category=category(), price="1.00",
                image=default_storage.save(f"products/p{i}.jpg",
                                           ContentFile(textured_jpeg(sizes[i % len(sizes)], i))))
        for i in range(count)
    ])
    ink = Style.objects.create(name="Ink", slug="ink", kind=Style.Kind.PRESET, preset_weights={"3": 1})
    created = requests.request_variants(sync_sources(products, "image"), [ink],
                                        requests.RenderRequest(max_side=MAX_SIDE)).created
    assert len(created) == count
    return created
