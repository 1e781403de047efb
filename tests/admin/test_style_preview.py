"""The style preview: asked for by the admin page, rendered by the worker's task, shown
when ready; a failure is shown on the page with "Try again", never a server error."""
import pytest
from django.contrib.messages import get_messages
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from django_q.brokers import get_broker
from PIL import Image, ImageChops, ImageStat

from shop.models import Product
from stylestore import tasks
from stylestore.storage import variant_storage
from stylestore.variants import previews
from stylestore.variants.sources import sync_sources

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def own_cache(settings):
    """The preview's state lives in the cache: a cache of this test's own, which test runs
    in other processes (sharing the file cache and clearing it) cannot empty meanwhile."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": "stylestore-preview-tests"}}


@pytest.fixture
def reviewer_client(client, make_staff):
    client.force_login(make_staff("view_product", "view_style", "change_style"))
    return client


@pytest.fixture
def sample(products):
    return sync_sources(products[:1], "image")[0]


def preview_page(client, style, sample, **query):
    return client.get(reverse("admin:stylestore_style_preview", args=[style.pk]), {"source": sample.pk, **query})


def test_the_worker_renders_the_preview_and_the_page_shows_it(reviewer_client, styles, sample):
    ink = styles["ink"]
    queued = get_broker().queue_size()
    response = preview_page(reviewer_client, ink, sample)
    assert response.status_code == 200
    assert "Rendering preview…" in response.content.decode()
    assert get_broker().queue_size() == queued + 1  # one task for the worker
    assert preview_page(reviewer_client, ink, sample, format="json").json() == {
        "status": "rendering", "url": "", "error": ""}
    assert get_broker().queue_size() == queued + 1  # polling asks for nothing more

    assert tasks.render_preview(ink.pk, sample.pk)["rendered"]  # what the worker runs
    polled = preview_page(reviewer_client, ink, sample, format="json").json()
    assert polled["status"] == "ready"
    response = preview_page(reviewer_client, ink, sample)
    assert f'src="{polled["url"]}"' in response.content.decode()
    name = previews.preview_name(ink, sample)
    assert polled["url"] == variant_storage().url(name)
    with Image.open(variant_storage().open(name)) as preview, Image.open(default_storage.open(sample.get_field_file().name)) as photo:
        assert preview.format == "WEBP" and preview.size == photo.size == (96, 64)  # never upscaled
        difference = ImageStat.Stat(ImageChops.difference(preview.convert("RGB"), photo.convert("RGB"))).mean
        # The style changed the photo: as texture only, since the style keeps the product's
        # colours by default and a plain photo is all product.
        assert sum(difference) / 3 > 3

    # Saving the style with other defaults asks for a new preview.
    ink.default_strength = 0.5
    ink.save()
    assert preview_page(reviewer_client, ink, sample, format="json").json()["status"] == "rendering"
    assert get_broker().queue_size() == queued + 2


def test_a_failed_preview_is_shown_with_try_again(reviewer_client, styles, sample):
    # The photo in storage is replaced by something that is not an image (past the upload gate).
    name = default_storage.save("products/broken.jpg", ContentFile(b"\xff\xd8\xff\xe0 not really a jpeg"))
    Product.objects.filter(pk=sample.object_id).update(image=name)
    ink = styles["ink"]
    preview_page(reviewer_client, ink, sample)
    assert tasks.render_preview(ink.pk, sample.pk)["rendered"] is None

    response = preview_page(reviewer_client, ink, sample)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Could not render a preview:" in page and "Try again" in page
    assert preview_page(reviewer_client, ink, sample, format="json").json()["status"] == "failed"
    queued = get_broker().queue_size()
    response = preview_page(reviewer_client, ink, sample, retry=1)
    assert response.status_code == 302 and response["Location"] == f"?source={sample.pk}"
    assert preview_page(reviewer_client, ink, sample, format="json").json()["status"] == "rendering"
    assert get_broker().queue_size() == queued + 1  # asked again
    assert not variant_storage().exists(previews.preview_name(ink, sample))


def test_a_preview_needs_a_product_photo(reviewer_client, styles):
    response = reviewer_client.get(reverse("admin:stylestore_style_preview", args=[styles["ink"].pk]))
    assert response.status_code == 302
    assert "no product image to preview on yet" in [str(m) for m in get_messages(response.wsgi_request)][-1]
    assert reviewer_client.get(reverse("admin:stylestore_style_preview", args=[9999])).status_code == 404


def test_the_preview_is_found_only_with_the_secret(styles, sample, settings):
    """Keyed like variant files: an unreleased style's preview cannot be found either."""
    name = previews.preview_name(styles["ink"], sample)
    assert sample.content_hash not in name and styles["ink"].fingerprint not in name
    settings.SECRET_KEY = "another-secret-" + "x" * 40
    assert previews.preview_name(styles["ink"], sample) != name


def test_a_new_engine_renders_previews_and_swatches_again(styles, sample, monkeypatch):
    """After an upgrade that changes the pixels (``ENGINE_VERSION``), a stored preview
    or swatch of the older engine is not shown as the new one's."""
    preview, swatch = previews.preview_name(styles["ink"], sample), previews.swatch_name({"3": 1})
    monkeypatch.setattr(previews, "ENGINE_VERSION", "next")
    assert previews.preview_name(styles["ink"], sample) != preview
    assert previews.swatch_name({"3": 1}) != swatch
