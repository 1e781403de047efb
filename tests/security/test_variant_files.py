"""A variant's file cannot be found before it is approved, and a deleted product's
photo stops being served.

Everything a content-addressed name was made of is public: the photo's hash (of the
photo anyone can download), the style's id and fingerprint (the hash of its public
image or preset weights) and the parameter hash (of the public parameters and that
fingerprint). Names are keyed with a secret instead (``stylestore.variants.files``)."""
import hashlib

import pytest
from django.core.files.base import ContentFile
from django.test import override_settings

from shop.models import Category, Product
from stylestore import tasks
from stylestore.conf import stylestore_settings
from stylestore.models import Style, StylizedImage
from stylestore.storage import variant_storage
from stylestore.variants import files, requests
from tests.conftest import make_image_bytes
from tests.s3 import fetch

pytestmark = pytest.mark.django_db
Review = StylizedImage.Review


def public_names(row, photo_hash):
    """Names an outsider can build from public data: the former content-addressed
    layout, with the style's id, slug or fingerprint, and plain (unkeyed) hashes of it."""
    ext = row.output_format
    base = stylestore_settings.UPLOAD_TO
    names = []
    for style_part in (row.style_id, row.style.slug, row.style_fingerprint):
        address = f"{photo_hash}/{style_part}/{row.params_hash}"
        names.append(f"{base}/{photo_hash[:2]}/{address}.{ext}")
        for digest in (hashlib.sha256, hashlib.sha1, hashlib.md5):
            key = digest(address.encode()).hexdigest()
            names += [f"{base}/{key[:2]}/{key}.{ext}", f"{base}/{key[:2]}/{key[:32]}.{ext}"]
    return names


@pytest.fixture
def catalogue(settings):
    settings.STYLESTORE = {**settings.STYLESTORE, "AUTO_APPROVE": False}
    category = Category.objects.create(name="Ceramics", slug="ceramics")
    products = []
    for slug, color in (("vase", (200, 80, 40)), ("bowl", (40, 160, 90))):
        product = Product(name=slug.title(), slug=slug, category=category, price="10.00")
        product.image.save(f"{slug}.jpg", ContentFile(make_image_bytes((96, 64), color=color)), save=True)
        products.append(product)
    ink = Style.objects.create(name="Ink", slug="ink", kind=Style.Kind.PRESET, preset_weights={"3": 1})
    dusk = Style.objects.create(name="Dusk", slug="dusk", kind=Style.Kind.PRESET, preset_weights={"5": 1})
    wave = Style(name="Wave", slug="wave", kind=Style.Kind.IMAGE)
    wave.image.save("wave.jpg", ContentFile(make_image_bytes((64, 64), color=(20, 60, 160))), save=True)
    ids = requests.request_for_objects(products, "image", [ink, dusk, wave], requests.RenderRequest(max_side=256),
                                       enqueue=False).ids
    assert tasks.render_variants(ids)["ready"] == 6
    return products, {"ink": ink, "dusk": dusk, "wave": wave}


def test_unapproved_rejected_stale_and_inactive_variants_cannot_be_found(client, catalogue):
    (vase, bowl), styles = catalogue
    rows = {(row.source.source.slug, row.style.slug): row for row in StylizedImage.objects.select_related("style")}
    photo_hashes = {}
    for product in (vase, bowl):
        status, photo = fetch(client, product.image.url)
        assert status == 200
        photo_hashes[product.slug] = hashlib.sha256(photo).hexdigest()
        assert photo_hashes[product.slug] == rows[(product.slug, "ink")].source_hash  # the hash is public

    approved = rows[("vase", "ink")]
    StylizedImage.objects.filter(pk=approved.pk).update(review=Review.APPROVED)
    StylizedImage.objects.filter(pk=rows[("vase", "wave")].pk).update(review=Review.REJECTED)
    # Stale: the bowl's photo is replaced (its old variants stay on storage, unreviewed).
    bowl.image.save("bowl-new.jpg", ContentFile(make_image_bytes((96, 64), color=(10, 10, 240))), save=True)
    # Inactive: every Dusk variant.
    Style.objects.filter(pk=styles["dusk"].pk).update(active=False)

    status, data = fetch(client, approved.file.url)
    assert status == 200 and data == variant_storage().open(approved.file.name).read()
    hidden = [row for key, row in rows.items() if key != ("vase", "ink")]
    assert len(hidden) == 5
    for row in hidden:
        assert variant_storage().exists(row.file.name)  # kept for review, not deleted
        for name in public_names(row, photo_hashes[row.source.source.slug]):
            assert fetch(client, variant_storage().url(name))[0] in (403, 404), f"{row} found at {name}"
        for public in (row.source_hash, row.params_hash, row.style_fingerprint):
            assert public not in row.file.name


def test_names_are_keyed_deterministic_and_128_bits(catalogue, settings):
    row = StylizedImage.objects.first()
    name = row.file.name
    assert files.variant_name(row) == name  # a retry or duplicate render writes the same file
    key = name.rsplit("/", 1)[1].split(".")[0]
    assert len(key) == 32 and int(key, 16) >= 0  # 128 bits, hex
    with override_settings(SECRET_KEY="another-secret-" + "x" * 40):
        assert files.variant_name(row) != name


def test_a_deleted_products_photo_is_no_longer_served(client, catalogue, django_capture_on_commit_callbacks):
    (vase, _bowl), _styles = catalogue
    variant_names = list(StylizedImage.objects.filter(source__object_id=str(vase.pk)).values_list("file", flat=True))
    assert fetch(client, vase.image.url)[0] == 200
    photo_url = vase.image.url
    with django_capture_on_commit_callbacks(execute=True):
        vase.delete()
    assert fetch(client, photo_url)[0] in (403, 404)
    assert variant_names and not any(variant_storage().exists(name) for name in variant_names)
