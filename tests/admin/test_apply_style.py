"""The "Apply style…" admin action, driven through the real admin with the test client."""
import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils.html import strip_tags
from django_q.conf import Conf

from shop.models import Product
from stylestore.models import StylizedImage
from stylestore.variants import requests

from .conftest import make_product

pytestmark = pytest.mark.django_db

PRODUCTS = reverse("admin:shop_product_changelist")
CATEGORIES = reverse("admin:shop_category_changelist")


def action_post(objects, **extra):
    """What the changelist posts when the action is chosen from its dropdown."""
    return {"action": "apply_style", "index": "0", "_selected_action": [o.pk for o in objects], **extra}


def confirm_post(objects, styles, **extra):
    """What the confirmation page posts back."""
    data = {
        "action": "apply_style", "select_across": "0", "_selected_action": [o.pk for o in objects],
        "_stylestore_confirm": "1", "styles": [s.pk for s in styles], "strength": "", "preserve_color": "",
        "engine": "", "size": "256", "output_format": "webp",
    }
    data.update(extra)
    return data


def last_message(response):
    """The newest message's text (earlier ones stay queued until a page displays them)."""
    return strip_tags([str(m) for m in get_messages(response.wsgi_request)][-1])


def test_action_shows_the_confirmation_page(editor_client, products, styles):
    response = editor_client.post(PRODUCTS, action_post(products))
    assert response.status_code == 200
    assert "stylestore/admin/apply_style.html" in [t.name for t in response.templates]
    page = response.content.decode()
    assert "Apply styles to 3 products" in page
    assert "Ink" in page and "Wave" in page and "Retired" not in page  # only active styles
    assert 'class="stylestore-style-choices"' in page and styles["wave"].image.url in page  # thumbnails
    for product in products:  # the selection travels on, as in Django's delete confirmation
        assert f'name="_selected_action" value="{product.pk}"' in page
    assert "Choose one or more styles" in page
    assert StylizedImage.objects.count() == 0


def test_live_recount_reports_new_and_existing(editor_client, products, styles):
    data = confirm_post(products, styles.values(), _stylestore_recount="json")
    counts = editor_client.post(PRODUCTS, data).json()
    assert counts["valid"] and counts["counts"]["images"] == 6 and counts["counts"]["new"] == 6
    assert "<strong>6</strong> images will be generated" in counts["summary_html"]

    requests.request_for_objects(products[:2], "image", [styles["ink"]], requests.RenderRequest(max_side=256))
    counts = editor_client.post(PRODUCTS, data).json()["counts"]
    assert (counts["new"], counts["existing"]) == (4, 2)
    assert StylizedImage.objects.count() == 2  # counting writes nothing

    invalid = editor_client.post(PRODUCTS, {**data, "styles": []}).json()
    assert not invalid["valid"] and "styles" in invalid["errors"]


def test_recalculate_button_works_without_javascript(editor_client, products, styles):
    response = editor_client.post(PRODUCTS, confirm_post(products, [styles["ink"]], _stylestore_recount="Recalculate"))
    assert response.status_code == 200
    assert "<strong>3</strong> images will be generated" in response.content.decode()
    assert StylizedImage.objects.count() == 0


def test_submit_queues_then_reuses(editor_client, products, styles):
    response = editor_client.post(PRODUCTS, confirm_post(products, [styles["ink"]]))
    assert response.status_code == 302 and response["Location"] == PRODUCTS
    assert last_message(response) == "Queued 3 images. Follow or cancel it."

    response = editor_client.post(PRODUCTS, confirm_post(products, styles.values()))
    assert last_message(response) == "Queued 3 images (3 already existed). Follow or cancel it."
    rows = StylizedImage.objects.all()
    assert rows.count() == 6 and {r.status for r in rows} == {StylizedImage.Status.PENDING}
    assert {(r.max_side, r.output_format) for r in rows} == {(256, "webp")}

    response = editor_client.post(PRODUCTS, confirm_post(products, styles.values()))
    assert last_message(response) == "Nothing new to queue: all 6 images already existed."
    assert StylizedImage.objects.count() == 6


def test_parameters_reach_the_rows(editor_client, products, styles, settings):
    settings.STYLESTORE = {**settings.STYLESTORE, "DEVICE": "cuda"}  # the slow engine fits a task there
    editor_client.post(PRODUCTS, confirm_post(products[:1], styles.values(), strength="0.4", preserve_color="no",
                                              engine="optimize", size="512", output_format="png"))
    rows = {r.style.slug: r for r in StylizedImage.objects.select_related("style")}
    assert {r.strength for r in rows.values()} == {0.4}
    assert {r.preserve_color for r in rows.values()} == {False}
    assert (rows["wave"].engine, rows["ink"].engine) == ("optimize", "preset")  # presets keep their engine
    assert {(r.max_side, r.output_format) for r in rows.values()} == {(512, "png")}


def test_bad_input_shows_errors_and_keeps_the_selection(editor_client, products, styles):
    response = editor_client.post(PRODUCTS, confirm_post(products, [styles["ink"]], strength="1.5"))
    assert response.status_code == 200
    form = response.context["form"]
    assert "strength" in form.errors
    page = response.content.decode()
    assert 'value="1.5"' in page and f'name="_selected_action" value="{products[0].pk}"' in page
    assert StylizedImage.objects.count() == 0

    response = editor_client.post(PRODUCTS, confirm_post(products, []))
    assert "Choose at least one style." in response.content.decode()
    response = editor_client.post(PRODUCTS, confirm_post(products, [styles["ink"]], size="300"))
    assert "size" in response.context["form"].errors
    assert StylizedImage.objects.count() == 0


def test_select_all_matching_the_filter(editor_client, products, categories, styles):
    filtered = f"{PRODUCTS}?category__id__exact={categories['ceramics'].pk}"
    # "Select all N": select_across=1, with the visible page's checkboxes also ticked.
    response = editor_client.post(filtered, action_post(products[:1], select_across="1"))
    assert "Apply styles to 2 products" in response.content.decode()
    response = editor_client.post(filtered, confirm_post(products[:1], [styles["ink"]], select_across="1"))
    assert response["Location"] == filtered  # back to the filtered list
    assert set(StylizedImage.objects.values_list("source__object_id", flat=True)) == {
        str(products[0].pk), str(products[1].pk)
    }


def test_category_admin_styles_the_products_in_the_category(editor_client, products, categories, styles):
    ceramics = categories["ceramics"]
    response = editor_client.get(CATEGORIES)
    choices = dict(response.context["action_form"].fields["action"].choices)
    assert choices["apply_style"] == "Apply style to products in category…"
    response = editor_client.post(CATEGORIES, action_post([ceramics]))
    page = response.content.decode()
    assert "Apply styles to 2 products" in page and "Vase" in page and "Rug" not in page
    response = editor_client.post(CATEGORIES, confirm_post([ceramics], [styles["ink"]]))
    assert last_message(response) == "Queued 2 images. Follow or cancel it."
    assert StylizedImage.objects.count() == 2


def test_products_without_an_image_are_skipped(editor_client, products, categories, styles):
    bare = make_product("Plate", categories["ceramics"], with_image=False)
    data = confirm_post([*products, bare], [styles["ink"]], _stylestore_recount="json")
    payload = editor_client.post(PRODUCTS, data).json()
    assert payload["counts"]["without_image"] == 1 and payload["counts"]["images"] == 3
    assert "1 of the selected items has no image" in payload["summary_html"]


def test_staff_without_the_permission_get_no_action(client, make_staff, products, styles):
    client.force_login(make_staff("view_product", "change_product", "delete_product"))
    response = client.get(PRODUCTS)  # "Delete selected" is offered, "Apply style…" is not
    assert "apply_style" not in dict(response.context["action_form"].fields["action"].choices)
    response = client.post(PRODUCTS, action_post(products))
    assert response.status_code == 302  # Django refuses an unknown action and goes back
    response = client.post(PRODUCTS, confirm_post(products, [styles["ink"]]))
    assert response.status_code == 302
    assert StylizedImage.objects.count() == 0


def test_objects_the_user_cannot_view_are_left_out(client, make_staff, products, categories, styles):
    # May apply styles and see categories, but not products: nothing to act on.
    client.force_login(make_staff("view_category", "apply_style"))
    response = client.post(CATEGORIES, confirm_post([categories["ceramics"]], [styles["ink"]]))
    assert response.status_code == 302
    assert last_message(response) == "You do not have permission to view the selected items."
    assert StylizedImage.objects.count() == 0


def test_csrf_is_enforced(make_staff, products, styles):
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_staff("view_product", "apply_style"))
    assert client.post(PRODUCTS, confirm_post(products, [styles["ink"]])).status_code == 403
    assert StylizedImage.objects.count() == 0

    client.get(PRODUCTS)  # sets the CSRF cookie, as a browser visiting the list would
    token = client.cookies["csrftoken"].value
    response = client.post(PRODUCTS, confirm_post(products, [styles["ink"]], csrfmiddlewaretoken=token))
    assert response.status_code == 302 and StylizedImage.objects.count() == 3


def test_changelist_progress_column_and_endpoint(editor_client, products, styles):
    result = requests.request_for_objects(products, "image", styles.values(), requests.RenderRequest(max_side=256))
    vase_rows = StylizedImage.objects.filter(pk__in=result.created, source__object_id=str(products[0].pk))
    vase_rows.filter(style=styles["ink"]).update(status=StylizedImage.Status.READY, file="x/ready.webp")
    vase_rows.filter(style=styles["wave"]).update(status=StylizedImage.Status.FAILED)

    page = editor_client.get(PRODUCTS).content.decode()
    assert "Styles: 1/2 ready · 1 failed" in page
    assert "Styles: 0/2 ready · 2 queued, waiting for a worker · about " in page
    assert "stylestore/admin/progress.js" in page

    url = reverse("admin:shop_product_stylize_progress")
    payload = editor_client.get(url, {"id": [products[0].pk, products[1].pk]}).json()["progress"]
    vase_source = StylizedImage.objects.filter(pk__in=vase_rows).values_list("source_id", flat=True).first()
    assert payload[str(products[0].pk)] == {
        "pending": 0, "failed": 1, "label": "Styles: 1/2 ready · 1 failed",
        "url": reverse("admin:stylestore_stylizedimage_changelist") + f"?source__in={vase_source}"}
    assert payload[str(products[1].pk)]["pending"] == 2
    assert editor_client.get(url, {"id": "not-a-number"}).status_code == 400

    # Categories sum up their products.
    page = editor_client.get(CATEGORIES).content.decode()
    assert "Styles: 1/4 ready · 1 failed" not in page
    assert "Styles: 1/4 ready · 2 queued, waiting for a worker · 1 failed · about " in page


def test_progress_endpoint_needs_view_permission(client, make_staff, products):
    client.force_login(make_staff("view_category"))
    response = client.get(reverse("admin:shop_product_stylize_progress"), {"id": products[0].pk})
    assert response.status_code == 403
    client.logout()
    response = client.get(reverse("admin:shop_product_stylize_progress"), {"id": products[0].pk})
    assert response.status_code == 302  # to the admin login


def test_product_admin_uses_the_mixin_without_listing_the_action(products):
    from django.contrib import admin

    model_admin = admin.site.get_model_admin(Product)
    assert "apply_style" not in (model_admin.actions or [])


def test_items_without_a_readable_image_are_reported(editor_client, products, categories, styles):
    bare = make_product("Plate", categories["ceramics"], with_image=False)
    response = editor_client.post(PRODUCTS, confirm_post([*products, bare], [styles["ink"]]))
    assert last_message(response) == "Queued 3 images. 1 was skipped: its item has no readable image. Follow or cancel it."


def test_submitted_styles_are_rendered_by_the_worker(editor_client, products, styles, monkeypatch,
                                                     django_capture_on_commit_callbacks):
    """End to end: the admin submit queues tasks on commit; a (sync-mode) worker renders them all."""
    # django-q2 reads Q_CLUSTER once at import, so sync mode is switched on its Conf directly.
    monkeypatch.setattr(Conf, "SYNC", True)
    with django_capture_on_commit_callbacks(execute=True):
        response = editor_client.post(PRODUCTS, confirm_post(products, styles.values()))
    assert last_message(response) == "Queued 6 images. Follow or cancel it."
    rows = list(StylizedImage.objects.all())
    assert len(rows) == 6
    assert {r.status for r in rows} == {StylizedImage.Status.READY}, {r.pk: r.last_error for r in rows}
    assert all(r.file and max(r.width, r.height) == 96 for r in rows)  # 96 px photos are never upscaled

    page = editor_client.get(PRODUCTS).content.decode()
    assert page.count("Styles: 2/2 ready") == 3
