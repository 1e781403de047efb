"""A product's own admin page lists its styled images: thumbnail, status, review
buttons and "Apply style…" for this product (``stylestore.admin.inline``)."""
import pytest
from django.urls import reverse

from stylestore.models import StylizedImage

from .test_review import reviewer_client, variants  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


def change_page(client, obj):
    return client.get(reverse(f"admin:shop_{obj._meta.model_name}_change", args=[obj.pk]))


def test_the_product_page_lists_its_variants_with_review_and_apply(reviewer_client, variants, products):  # noqa: F811
    ready = StylizedImage.objects.get(pk=variants["ready"])
    product = ready.source.source
    page = change_page(reviewer_client, product).content.decode()
    assert "Styled images" in page
    assert f'src="{ready.file.url}"' in page
    assert reverse("admin:stylestore_stylizedimage_change", args=[ready.pk]) in page
    review_url = reverse("admin:stylestore_stylizedimage_review", args=[ready.pk])
    assert f'formaction="{review_url}?next=' in page and 'value="approve"' in page
    assert f'formaction="{reverse("admin:shop_product_changelist")}"' in page and 'value="apply_style"' in page
    assert f"?q=shop.product:{product.pk}" in page  # all its styled images, in the variants list

    # Approve from the product's page, and come back to it.
    here = reverse("admin:shop_product_change", args=[product.pk])
    response = reviewer_client.post(f"{review_url}?next={here}", {"decision": "approve", "name": "ignored"})
    assert response.url == here
    assert StylizedImage.objects.get(pk=ready.pk).review == StylizedImage.Review.APPROVED


def test_apply_style_from_the_product_page_opens_its_apply_page(reviewer_client, variants, products):  # noqa: F811
    product = products[2]
    # What the page's "Apply style…" button posts: the change form, to the changelist.
    response = reviewer_client.post(reverse("admin:shop_product_changelist"), {
        "action": "apply_style", "_selected_action": [product.pk], "name": product.name, "price": "10.00"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Apply styles to 1 product" in page and f"<li>{product.name}</li>" in page


def test_failed_and_pending_images_show_their_status(reviewer_client, variants):  # noqa: F811
    for key, words in (("failed", "Failed"), ("pending", "Pending")):
        variant = StylizedImage.objects.get(pk=variants[key])
        page = change_page(reviewer_client, variant.source.source).content.decode()
        assert f'stylestore-status-{variant.status}' in page and words in page


def test_without_styles_yet_and_without_permissions(client, make_staff, products, categories):
    client.force_login(make_staff("view_product", "change_product", "view_category", "change_category"))
    page = change_page(client, products[0]).content.decode()
    assert "No styled images of this photo yet." in page
    assert 'value="apply_style"' not in page  # no permission to apply styles
    # A category's page styles no photo of its own: no panel; nor does a new product's.
    assert "Styled images" not in change_page(client, categories["ceramics"]).content.decode()
    assert "Styled images" not in client.get(reverse("admin:shop_product_add")).content.decode()


def test_saving_the_product_page_still_works(client, make_staff, products, variants):  # noqa: F811
    client.force_login(make_staff("view_product", "change_product", "view_stylizedimage", "change_stylizedimage",
                                  "apply_style"))
    product = products[0]
    assert 'value="apply_style"' in change_page(client, product).content.decode()
    url = reverse("admin:shop_product_change", args=[product.pk])
    data = {"name": "Renamed vase", "slug": product.slug, "category": product.category_id, "price": "12.00",
            "description": "", "image_alt": "", "attribution": "", "_save": "Save"}
    response = client.post(url, {**data, "_selected_action": [product.pk]})  # the panel's field goes along
    assert response.status_code == 302
    product.refresh_from_db()
    assert product.name == "Renamed vase"
