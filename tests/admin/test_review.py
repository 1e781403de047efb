"""Reviewing variants and editing styles in the admin: StylizedImageAdmin and StyleAdmin.
The style preview has its own file, test_style_preview.py."""
import io

import pytest
from django.contrib.messages import get_messages
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from PIL import Image

from stylestore.models import Style, StylizedImage
from stylestore.variants import requests

pytestmark = pytest.mark.django_db

Status = StylizedImage.Status
VARIANTS = reverse("admin:stylestore_stylizedimage_changelist")
STYLES = reverse("admin:stylestore_style_changelist")


def webp_bytes(size=(96, 64)):
    buf = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(buf, "WEBP")
    return buf.getvalue()


def last_message(response):
    return [str(m) for m in get_messages(response.wsgi_request)][-1]


@pytest.fixture
def variants(products, styles):
    """The ink variant of each product: one ready (with a real file), one failed, one pending."""
    ids = requests.request_for_objects(products, "image", [styles["ink"]], requests.RenderRequest(max_side=256)).created
    ready, failed, pending = StylizedImage.objects.filter(pk__in=ids).order_by("pk")
    name = default_storage.save("stylestore/test/ready.webp", ContentFile(webp_bytes()))
    StylizedImage.objects.filter(pk=ready.pk).update(
        status=Status.READY, file=name, width=96, height=64, file_size=1234,
        metrics={"ssim": 0.8123, "color_difference": 3.2}, timings={"forward_ms": 12.34, "batch_size": 3},
    )
    StylizedImage.objects.filter(pk=failed.pk).update(status=Status.FAILED, attempts=3, last_error="Source image refused: <bad>")
    return {"ready": ready.pk, "failed": failed.pk, "pending": pending.pk}


@pytest.fixture
def reviewer_client(client, make_staff):
    client.force_login(make_staff("view_stylizedimage", "change_stylizedimage", "apply_style", "view_product",
                                  "view_style", "change_style", "add_style"))
    return client


def action(name, ids):
    return {"action": name, "index": "0", "_selected_action": list(ids)}


def test_changelist_shows_thumbnails_and_filters(reviewer_client, variants):
    response = reviewer_client.get(VARIANTS)
    page = response.content.decode()
    assert response.status_code == 200
    assert page.count('class="stylestore-thumb"') >= 4  # styled + original thumbnails
    assert "Failed or dead" in page  # the status filter's "needs attention" choice
    assert reviewer_client.get(VARIANTS, {"status": "attention"}).context["cl"].result_count == 1
    assert reviewer_client.get(VARIANTS, {"engine": "preset"}).context["cl"].result_count == 3


def test_change_page_has_comparison_metrics_and_error(reviewer_client, variants):
    page = reviewer_client.get(reverse("admin:stylestore_stylizedimage_change", args=[variants["ready"]])).content.decode()
    assert 'class="stylestore-compare"' in page and 'type="range"' in page
    assert "stylestore/test/ready.webp" in page and "/media/products/" in page  # styled over original
    assert "0.8123" in page and "12.3 ms" in page and "1.2\xa0KB" in page
    assert "stylestore/admin/compare.js" in page
    assert 'name="review"' in page and 'name="status"' not in page  # only the review is editable

    page = reviewer_client.get(reverse("admin:stylestore_stylizedimage_change", args=[variants["failed"]])).content.decode()
    assert "Source image refused: &lt;bad&gt;" in page
    assert "not ready yet" in page


def test_review_can_be_changed_on_the_change_page(reviewer_client, variants):
    url = reverse("admin:stylestore_stylizedimage_change", args=[variants["ready"]])
    response = reviewer_client.post(url, {"review": "approved"})
    assert response.status_code == 302
    assert StylizedImage.objects.get(pk=variants["ready"]).review == "approved"


def test_variants_cannot_be_added_by_hand(reviewer_client, variants):
    assert reviewer_client.get(reverse("admin:stylestore_stylizedimage_add")).status_code == 403


def test_approve_only_ready_images(reviewer_client, variants):
    response = reviewer_client.post(VARIANTS, action("approve", variants.values()))
    assert last_message(response) == "Approved 1 image. 2 images are not ready yet and were left as they were."
    reviews = dict(StylizedImage.objects.values_list("pk", "review"))
    assert reviews == {variants["ready"]: "approved", variants["failed"]: "unreviewed", variants["pending"]: "unreviewed"}


def test_reject_hides_images(reviewer_client, variants):
    response = reviewer_client.post(VARIANTS, action("reject", [variants["ready"]]))
    assert last_message(response) == "Rejected 1 image: customers will not see it."
    assert StylizedImage.objects.get(pk=variants["ready"]).review == "rejected"
    assert not StylizedImage.objects.visible().exists()


def test_retry_requeues_failed_images(reviewer_client, variants, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = reviewer_client.post(VARIANTS, action("retry", variants.values()))
    assert last_message(response) == "Re-queued 1 image."
    assert len(callbacks) == 1  # the task is sent once the transaction commits
    failed = StylizedImage.objects.get(pk=variants["failed"])
    assert (failed.status, failed.attempts, failed.last_error) == (Status.PENDING, 0, "")
    assert StylizedImage.objects.get(pk=variants["ready"]).status == Status.READY

    response = reviewer_client.post(VARIANTS, action("retry", [variants["ready"]]))
    assert last_message(response) == "Nothing to retry: only failed or dead images can be retried."


def test_view_only_staff_cannot_review(client, make_staff, variants):
    client.force_login(make_staff("view_stylizedimage", "view_product"))
    response = client.get(VARIANTS)
    assert response.context["action_form"] is None  # no approve/reject/retry offered
    client.post(VARIANTS, action("approve", variants.values()))
    assert set(StylizedImage.objects.values_list("review", flat=True)) == {"unreviewed"}


def test_reviewing_needs_what_the_api_needs(client, make_staff, variants):
    """Issue 19: change_stylizedimage alone let staff approve, reject and re-render in
    the admin, which the API refuses without apply_style as well."""
    client.force_login(make_staff("view_stylizedimage", "change_stylizedimage", "view_product"))
    response = client.get(VARIANTS)
    assert response.context["action_form"] is None  # no approve/reject/retry offered
    for name in ("approve", "reject", "retry"):
        client.post(VARIANTS, action(name, variants.values()))
    rows = StylizedImage.objects.order_by("pk")
    assert set(rows.values_list("review", flat=True)) == {"unreviewed"}
    assert StylizedImage.objects.get(pk=variants["failed"]).status == Status.FAILED
    url = reverse("admin:stylestore_stylizedimage_change", args=[variants["ready"]])
    client.post(url, {"review": "approved"})  # nor through the change form
    assert StylizedImage.objects.get(pk=variants["ready"]).review == "unreviewed"
    api = client.post(f"/api/v1/jobs/{variants['ready']}/approve/")
    assert api.status_code == 403


def test_a_huge_id_in_the_progress_poll_is_a_bad_request(client, make_staff):
    client.force_login(make_staff("view_product", "apply_style"))
    url = reverse("admin:shop_product_stylize_progress")
    for huge in ("9" * 30, str(2**63), "-" + "9" * 30):
        assert client.get(url, {"id": huge}).status_code == 400


def test_style_changelist_and_change_page(reviewer_client, styles):
    page = reviewer_client.get(STYLES).content.decode()
    assert styles["wave"].image.url in page
    assert "data-stylestore-swatch" in page  # the preset style's swatch, on its way (test_swatches.py)
    assert "Fast, built-in presets" in page  # the effective engine, not a blank
    page = reviewer_client.get(reverse("admin:stylestore_style_change", args=[styles["ink"].pk])).content.decode()
    assert "Preview on a sample product" in page
    assert reverse("admin:stylestore_style_preview", args=[styles["ink"].pk]) in page
    assert 'name="preset_weights_3"' in page and 'value="1.0"' in page
    assert 'name="auto_apply"' in page


def test_preset_weights_are_edited_as_numbers(reviewer_client, db):
    data = {"name": "Blend", "slug": "blend", "kind": "preset", "active": "on", "preset_weights_3": "2",
            "preset_weights_12": "2", "engine": "", "default_strength": "0.8", "preserve_color": "on", "region": "all",
            "description": "", "attribution": ""}
    response = reviewer_client.post(reverse("admin:stylestore_style_add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Style.objects.get(slug="blend").preset_weights == {"3": 0.5, "12": 0.5}

    response = reviewer_client.post(reverse("admin:stylestore_style_add"),
                                    {**data, "slug": "empty", "preset_weights_3": "", "preset_weights_12": ""})
    assert "preset_weights" in response.context["adminform"].form.errors
