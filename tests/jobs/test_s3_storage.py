"""Media on a real S3 API (moto's server on loopback, see ``tests/s3.py``), configured
as the README's S3 variables configure it: photo uploads, variants rendered by the task
and by a real worker process, whole files under keyed names, their public URLs, and
deletes."""
import hashlib
import io

import pytest
from django_q.brokers import get_broker
from django.core.files.base import ContentFile
from PIL import Image

from shop.models import Category, Product
from stylestore import tasks
from stylestore.conf import stylestore_settings
from stylestore.models import SourceImage, StylizedImage
from stylestore.storage import variant_storage
from stylestore.variants import files, requests
from stylestore.variants.sources import sync_sources
from tests.conftest import make_image_bytes
from tests.s3 import fetch, s3, s3_endpoint  # noqa: F401 (fixtures)

from .conftest import wait_until

Status = StylizedImage.Status
pytestmark = pytest.mark.django_db(transaction=True)


def assert_variants_in_bucket(s3, client, size):
    """Every row ready, its file whole in the bucket under its keyed name and served at
    its public URL; no other variant object (no partial or duplicate upload)."""
    rows = list(StylizedImage.objects.all())
    assert rows and all(r.status == Status.READY for r in rows), [(r.status, r.last_error) for r in rows]
    assert s3.keys(stylestore_settings.UPLOAD_TO) == sorted(files.variant_name(r) for r in rows)
    for row in rows:
        assert row.file.name == files.variant_name(row)
        stored = s3.read(row.file.name)
        head = s3.client.head_object(Bucket=s3.bucket, Key=row.file.name)
        assert head["ContentLength"] == row.file_size == len(stored)
        assert head["ContentType"] == "image/webp"
        assert head["CacheControl"] == "public, max-age=31536000, immutable"
        url = variant_storage().url(row.file.name)  # as pages give it
        assert url == f"{s3.env['S3_ENDPOINT_URL']}/{s3.bucket}/{row.file.name}"  # public, not signed
        assert fetch(client, url) == (200, stored)
        with Image.open(io.BytesIO(stored)) as img:
            img.load()
            assert max(img.size) == size and img.size == (row.width, row.height)


def test_photo_upload_is_stored_in_the_bucket_and_hashed_from_it(s3, client):
    category = Category.objects.create(name="C", slug="c")
    product = Product(name="Vase", slug="vase", category=category, price="1.00")
    photo = make_image_bytes((96, 64))
    product.image.save("vase.jpg", ContentFile(photo), save=True)
    assert product.image.name.startswith("products/") and s3.keys("products/") == [product.image.name]
    # Stored re-encoded by the upload gate: what is hashed is what the bucket holds.
    stored = s3.read(product.image.name)
    (source,) = sync_sources([product], "image")
    assert source.content_hash == hashlib.sha256(stored).hexdigest()
    assert (source.width, source.height) == (96, 64)
    assert fetch(client, product.image.url) == (200, stored)


def test_rendered_variants_are_whole_keyed_objects_with_public_urls(s3, client, sources, styles):
    ids = requests.request_variants(sources(2), styles, requests.RenderRequest(max_side=256)).created
    assert tasks.render_variants(ids)["ready"] == 4
    assert tasks.render_variants(ids) == {"claimed": 0}  # a second delivery uploads nothing
    assert_variants_in_bucket(s3, client, 96)
    # Whatever else the render stored beside the photos (product masks) is in the bucket too.
    masks = [source.mask.name for source in SourceImage.objects.exclude(mask="")]
    assert set(masks) <= set(s3.keys())


def test_a_written_variant_name_is_never_overwritten(s3):
    name = f"{stylestore_settings.UPLOAD_TO}/ab/{'ab' * 16}.webp"
    first, second = make_image_bytes((64, 64), fmt="WEBP"), make_image_bytes((64, 64), color=(0, 0, 0), fmt="WEBP")
    assert files.save_atomically(name, first) == name
    # A duplicate render of the same content address finds the object and keeps it.
    assert files.save_atomically(name, second) == name
    assert s3.keys(stylestore_settings.UPLOAD_TO) == [name] and s3.read(name) == first


def test_deleting_a_product_or_style_deletes_its_objects(s3, client, sources, styles,
                                                         django_capture_on_commit_callbacks):
    srcs = sources(2)
    tasks.render_variants(requests.request_variants(srcs, styles, requests.RenderRequest(max_side=256)).created)
    assert len(s3.keys(stylestore_settings.UPLOAD_TO)) == 4
    gone = [variant_storage().url(r.file.name) for r in StylizedImage.objects.filter(source=srcs[0])]
    with django_capture_on_commit_callbacks(execute=True):
        srcs[0].source.delete()
    assert len(s3.keys(stylestore_settings.UPLOAD_TO)) == 2
    assert all(fetch(client, url)[0] == 404 for url in gone)
    with django_capture_on_commit_callbacks(execute=True):
        styles[0].delete()
    (remaining,) = StylizedImage.objects.all()
    assert s3.keys(stylestore_settings.UPLOAD_TO) == [remaining.file.name]
    assert variant_storage().exists(remaining.file.name)


@pytest.mark.slow
def test_a_worker_process_renders_into_the_bucket(s3, client, sources, styles, start_worker):
    # Tasks earlier tests left in a shared broker (a Redis list outlives them) would be
    # this worker's too, their files in this bucket.
    get_broker().purge_queue()
    ids = requests.request_variants(sources(3), styles, requests.RenderRequest(max_side=256)).created
    worker = start_worker(workers=1, extra_env=s3.env)
    wait_until(lambda: StylizedImage.objects.filter(pk__in=ids, status=Status.READY).count() == len(ids),
               timeout=240, message="the worker's variants")
    worker.stop()
    assert_variants_in_bucket(s3, client, 96)
