"""The variant's own page in plain words: "Vase — Ink, 256 px", metrics explained,
approve / reject buttons (with the permissions of the list's actions), no file path."""
import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from stylestore.models import StylizedImage

from .test_review import reviewer_client, variants  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db

METRICS = {"product_delta_e": 1.62, "product_delta_e_p95": 4.1, "structure": 0.83, "style_visibility": 0.71,
           "product_coverage": 0.42, "gate": {"passed": True, "reasons": []}}


def page_of(client, pk):
    return client.get(reverse("admin:stylestore_stylizedimage_change", args=[pk]))


def test_the_page_names_product_style_and_size_and_explains_the_metrics(reviewer_client, variants):  # noqa: F811
    variant = StylizedImage.objects.get(pk=variants["ready"])
    StylizedImage.objects.filter(pk=variant.pk).update(metrics=METRICS)
    page = page_of(reviewer_client, variant.pk).content.decode()
    product = variant.source.source
    assert f"<h1>{product.name} — Ink, 256 px</h1>" in page
    assert f"&rsaquo; {product.name} — Ink, 256 px\n</div>" in page  # the breadcrumbs too
    assert "<h2>Ready · Unreviewed</h2>" in page and "[ready]" not in page
    assert "Open the image</a> WebP" in page and variant.file.name not in page.replace(variant.file.url, "")
    assert "true (ΔE 1.6): the product&#x27;s mean colour difference from the photo" in page
    assert "kept (0.83): how much of the product&#x27;s outlines and detail remain" in page
    assert "strong (0.71): how far the picture moved towards the full style" in page
    assert "42% of the picture" in page
    assert "ssim" not in page.lower()


def test_approve_and_reject_from_the_page(reviewer_client, variants):  # noqa: F811
    pk = variants["ready"]
    page = page_of(reviewer_client, pk).content.decode()
    review_url = reverse("admin:stylestore_stylizedimage_review", args=[pk])
    assert f'formaction="{review_url}"' in page and 'value="approve"' in page and 'value="reject"' in page
    response = reviewer_client.post(review_url, {"decision": "approve"})
    assert response.status_code == 302 and response.url == reverse("admin:stylestore_stylizedimage_change", args=[pk])
    assert StylizedImage.objects.get(pk=pk).review == StylizedImage.Review.APPROVED
    assert "Approved 1 image." in [str(m) for m in get_messages(response.wsgi_request)]
    page = page_of(reviewer_client, pk).content.decode()
    assert 'value="approve"' not in page and 'value="reject"' in page  # only what changes something
    reviewer_client.post(review_url, {"decision": "reject"})
    assert StylizedImage.objects.get(pk=pk).review == StylizedImage.Review.REJECTED


def test_a_pending_image_cannot_be_approved(reviewer_client, variants):  # noqa: F811
    pk = variants["pending"]
    page = page_of(reviewer_client, pk).content.decode()
    assert "not ready: pending" in page.lower() and 'value="approve"' not in page
    reviewer_client.post(reverse("admin:stylestore_stylizedimage_review", args=[pk]), {"decision": "approve"})
    assert StylizedImage.objects.get(pk=pk).review == StylizedImage.Review.UNREVIEWED


def test_review_needs_the_permission_of_the_actions(client, make_staff, variants):  # noqa: F811
    client.force_login(make_staff("view_stylizedimage", "view_product"))
    pk = variants["ready"]
    page = page_of(client, pk).content.decode()
    assert "Unreviewed" in page and 'value="approve"' not in page
    response = client.post(reverse("admin:stylestore_stylizedimage_review", args=[pk]), {"decision": "approve"})
    assert response.status_code == 403
    assert StylizedImage.objects.get(pk=pk).review == StylizedImage.Review.UNREVIEWED


def test_review_is_a_post_and_goes_back_only_to_this_site(reviewer_client, variants):  # noqa: F811
    url = reverse("admin:stylestore_stylizedimage_review", args=[variants["ready"]])
    assert reviewer_client.get(url, {"decision": "approve"}).status_code == 405
    response = reviewer_client.post(url + "?next=https://evil.example/", {"decision": "approve"})
    assert response.url == reverse("admin:stylestore_stylizedimage_change", args=[variants["ready"]])
    response = reviewer_client.post(url + "?next=/admin/shop/product/", {"decision": "nonsense"})
    assert response.url == "/admin/shop/product/"
    assert "Choose approve or reject." in [str(m) for m in get_messages(response.wsgi_request)]
