"""Batches in the admin: what "Apply style…" queued, the completion notice on the next
page, the progress cell (styles, not sizes; rejected is not ready), the Styles filter,
cancel and re-render. Renders are real (the worker's entry point, in this process)."""
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import strip_tags
from django_q.conf import Conf

from stylestore import tasks
from stylestore.models import Batch, Style, StylizedImage
from stylestore.variants import batches, requests, state, worker
from stylestore.variants.signals import batch_finished, variant_ready
from stylestore.variants.sources import sync_sources

from .test_apply_style import PRODUCTS, confirm_post

pytestmark = pytest.mark.django_db

VARIANTS = reverse("admin:stylestore_stylizedimage_changelist")
INDEX = reverse("admin:index")
Status = StylizedImage.Status


@pytest.fixture
def root(admin_client):
    return admin_client


def texts(response):
    return [strip_tags(str(m)) for m in get_messages(response.wsgi_request)]


def notices(response):
    """The completion notices among a page's messages (the test client follows no
    redirect, so the page after a submit also shows the submit's own message)."""
    return [m for m in get_messages(response.wsgi_request) if "stylestore-notice" in str(m)]


@pytest.fixture
def sync_worker(monkeypatch, django_capture_on_commit_callbacks):
    """``run(callable)``: call it, then run what it queued after commit, here and now
    (django-q2's sync mode, switched on its Conf: it reads Q_CLUSTER once at import)."""
    monkeypatch.setattr(Conf, "SYNC", True)

    def run(call):
        with django_capture_on_commit_callbacks(execute=True):
            return call()

    return run


def test_apply_records_one_batch_covering_new_and_reused_variants(editor_client, products, styles):
    requests.request_for_objects(products[:2], "image", [styles["ink"]], requests.RenderRequest(max_side=256))
    response = editor_client.post(PRODUCTS, confirm_post(products, styles.values()))
    batch = Batch.objects.get()
    assert batch.created_by.username == "editor" and batch.origin == Batch.Origin.ADMIN
    assert batch.description == "Ink, Wave on 3 products"
    assert batch.variants.count() == 6  # 4 new + the 2 that existed: all the request stands for
    assert batches.counts(batch)["queued"] == 6 and batch.finished_at is None
    message = [str(m) for m in get_messages(response.wsgi_request)][-1]
    assert f'href="{reverse("admin:stylestore_batch_change", args=[batch.pk])}"' in message


def test_completion_notice_once_on_any_admin_page_with_a_link_to_the_results(root, products, styles, sync_worker):
    ready, sent = [], []

    def on_ready(sender, variant, **kwargs):
        ready.append(variant.pk)

    def on_finished(sender, batch, counts, **kwargs):
        sent.append((batch.pk, counts))

    variant_ready.connect(on_ready)
    batch_finished.connect(on_finished)
    try:
        sync_worker(lambda: root.post(PRODUCTS, confirm_post(products[:2], [styles["ink"]])))
    finally:
        variant_ready.disconnect(on_ready)
        batch_finished.disconnect(on_finished)
    batch = Batch.objects.get()
    assert batch.finished_at is not None and batch.notified_at is None
    variants = set(batch.variants.values_list("pk", flat=True))
    assert set(ready) == variants and len(ready) == 2  # once per render
    assert sent == [(batch.pk, {**batches.EMPTY_COUNTS, "total": 2, "ready": 2})]

    # The next admin page, whichever it is, says so; the one after does not.
    page = root.get(reverse("admin:auth_user_changelist"))
    assert [strip_tags(str(m)) for m in notices(page)] == ["Done: Ink on 2 products — 2 ready. See the results"]
    results = f"{VARIANTS}?batch={batch.pk}"
    assert f'href="{results}"' in page.content.decode()
    assert notices(root.get(INDEX)) == []
    listed = root.get(results)
    assert {row.pk for row in listed.context["cl"].result_list} == variants


def test_failures_get_a_warning_with_a_link_to_them(root, products, styles, sync_worker):
    broken = products[1]
    sync_sources([broken], "image")  # hashed while readable; then its file is garbage
    with broken.image.storage.open(broken.image.name, "wb") as fh:
        fh.write(b"not an image at all")
    sync_worker(lambda: root.post(PRODUCTS, confirm_post(products[:2], [styles["ink"]])))
    batch = Batch.objects.get()
    assert batch.finished_at is not None
    page = root.get(INDEX)
    [message] = notices(page)
    assert message.level_tag == "warning"
    assert strip_tags(str(message)) == ("Finished with failures: Ink on 2 products — 1 ready · 1 failed. "
                                        "See the results · See the failures")
    failures = root.get(f"{VARIANTS}?batch={batch.pk}&status=attention").context["cl"].result_list
    assert [row.source.object_id for row in failures] == [str(broken.pk)]


def test_the_progress_cell_counts_styles_not_sizes_and_rejected_is_not_ready(root, products, styles):
    vase = products[0]
    dots = Style.objects.create(name="Dots", slug="dots", kind=Style.Kind.PRESET, preset_weights={"7": 1})
    for style in (styles["ink"], styles["wave"], dots):
        for size in (256, 512):
            requests.request_for_objects([vase], "image", [style], requests.RenderRequest(max_side=size))
    StylizedImage.objects.update(status=Status.READY, file="x/ready.webp")
    assert "Styles: 3/3 ready" in root.get(PRODUCTS).content.decode()  # 6 images, 3 styles

    StylizedImage.objects.filter(style=styles["wave"]).update(review=StylizedImage.Review.REJECTED)
    StylizedImage.objects.filter(style=dots, max_side=512).update(status=Status.PENDING, file="")
    page = root.get(PRODUCTS).content.decode()
    assert "Styles: 1/3 ready · 1 queued, waiting for a worker · 1 rejected · about " in page
    link = f"{VARIANTS}?source__in={StylizedImage.objects.first().source_id}"
    assert f'href="{link}"' in page
    assert root.get(link).context["cl"].result_count == 6  # the link lists the product's variants

    StylizedImage.objects.filter(style=dots, max_side=512).update(status=Status.RUNNING)
    assert "Styles: 1/3 ready · 1 rendering · 1 rejected · about " in root.get(PRODUCTS).content.decode()


def test_styles_filter_finds_products_without_styles_and_with_failures(root, products, styles):
    vase, bowl, rug = products
    result = requests.request_for_objects([vase, bowl], "image", [styles["ink"]], requests.RenderRequest(max_side=256))
    StylizedImage.objects.filter(pk__in=result.ids, source__object_id=str(bowl.pk)).update(status=Status.FAILED)

    def listed(value):
        return {row.pk for row in root.get(PRODUCTS, {"stylestore_styles": value}).context["cl"].result_list}

    assert listed("none") == {rug.pk}
    assert listed("failures") == {bowl.pk}


def queue(client, objects, style, size="256"):
    client.post(PRODUCTS, confirm_post(objects, [style], size=size))
    return Batch.objects.latest("pk")


def test_cancel_drops_what_is_not_rendered_unless_another_batch_waits_for_it(root, products, styles):
    vase, bowl, rug = products
    first = queue(root, [vase, bowl], styles["ink"])
    second = queue(root, [bowl, rug], styles["ink"])
    bowl_row = second.variants.get(source__object_id=str(bowl.pk))
    rug_row = second.variants.get(source__object_id=str(rug.pk))

    page = root.get(reverse("admin:stylestore_batch_change", args=[second.pk])).content.decode()
    assert "Cancel this batch" in page and "2 queued, waiting for a worker" in page
    response = root.post(reverse("admin:stylestore_batch_cancel", args=[second.pk]))
    assert response.status_code == 302
    assert texts(response) == ["Cancelled 1 batch. 1 image was dropped before rendering."]

    assert not StylizedImage.objects.filter(pk=rug_row.pk).exists()  # dropped: its task will claim nothing
    assert StylizedImage.objects.get(pk=bowl_row.pk).status == Status.PENDING  # the first batch waits for it
    second.refresh_from_db()
    assert second.cancelled_at and second.finished_at and second.dropped == 1 and second.notified_at
    assert first.variants.count() == 2 and Batch.objects.get(pk=first.pk).finished_at is None
    assert tasks.render_variants([rug_row.pk]) == {"claimed": 0}
    # Told on the spot, not again on the next page; and a finished batch cannot be cancelled.
    assert notices(root.get(INDEX)) == []
    assert "Cancel this batch" not in root.get(reverse("admin:stylestore_batch_change", args=[second.pk])).content.decode()
    response = root.post(reverse("admin:stylestore_batch_cancel", args=[second.pk]))
    assert texts(response) == ["This batch had already finished: nothing was cancelled."]


def test_a_variant_cancelled_while_rendering_is_not_published(root, products, styles, media_root):
    batch = queue(root, products[:2], styles["ink"])
    claimed = state.claim(list(batch.variants.values_list("pk", flat=True)))
    assert len(claimed) == 2
    assert batches.cancel(batch) == 2
    outcome = worker.render_rows(claimed)
    assert outcome["cancelled"] == 2 and outcome["ready"] == 0
    assert not StylizedImage.objects.exists()
    written = [p for p in (media_root / "stylestore" / "variants").rglob("*") if p.is_file()] \
        if (media_root / "stylestore" / "variants").exists() else []
    assert written == []  # nothing half-written left


def test_only_the_author_or_a_job_manager_may_cancel(client, make_staff, root, products, styles):
    batch = queue(root, products[:1], styles["ink"])
    client.force_login(make_staff("apply_style", "view_product"))
    url = reverse("admin:stylestore_batch_cancel", args=[batch.pk])
    assert client.post(url).status_code == 403
    assert client.get(url).status_code == 405
    client.force_login(make_staff("apply_style", "change_stylizedimage", username="manager"))
    assert client.post(url).status_code == 302
    assert Batch.objects.get(pk=batch.pk).cancelled_at is not None


def test_batch_list_says_where_each_stands(root, products, styles):
    queue(root, products[:2], styles["ink"])
    page = root.get(reverse("admin:stylestore_batch_changelist")).content.decode()
    assert "Ink on 2 products" in page and "queued, waiting for a worker" in page and "about " in page


def test_a_batch_is_described_in_the_readers_language_whoever_queued_it(root, products, styles):
    root.post(PRODUCTS, confirm_post(products[:2], [styles["ink"]]), HTTP_ACCEPT_LANGUAGE="fr")
    batch = Batch.objects.get()
    pages = {language: root.get(reverse("admin:stylestore_batch_changelist"), HTTP_ACCEPT_LANGUAGE=language)
             .content.decode() for language in ("en", "fr", "zh-hans")}
    assert "Ink on 2 products" in pages["en"]
    assert 'class="sortable column-description' in pages["en"]  # sorted as the field was
    assert "Ink sur 2 produits" in pages["fr"]
    assert "Ink，应用于 2 个商品" in pages["zh-hans"]
    with translation.override("fr"):
        assert batch.description == "Ink sur 2 produits"
        batch.object_type = None  # objects of several models
        assert batch.description == "Ink sur 2 éléments"


def test_the_batch_pages_warn_when_no_worker_is_taking_jobs(root, products, styles):
    queue(root, products[:2], styles["ink"])
    batch = Batch.objects.get()
    pages = [reverse("admin:stylestore_batch_changelist"), reverse("admin:stylestore_batch_change", args=[batch.pk])]
    stalled = "none started or finished rendering in the last 10 minutes"
    assert not any(stalled in text for page in pages for text in texts(root.get(page)))  # just queued
    StylizedImage.objects.update(created_at=timezone.now() - timedelta(seconds=state.STALLED_AFTER + 60))
    for page in pages:
        assert any(stalled in text and "manage.py qcluster" in text for text in texts(root.get(page))), page
    state.claim(list(StylizedImage.objects.values_list("pk", flat=True)[:1]))  # a worker took one
    assert not any(stalled in text for page in pages for text in texts(root.get(page)))


def test_rerender_opens_the_apply_page_for_the_products_and_queues_other_settings(root, products, styles):
    vase, bowl, _rug = products
    batch = queue(root, [vase, bowl], styles["ink"])
    ids = list(batch.variants.values_list("pk", flat=True))
    page = root.post(VARIANTS, {"action": "rerender", "index": "0", "_selected_action": ids})
    assert page.status_code == 200 and "stylestore/admin/apply_style.html" in [t.name for t in page.templates]
    html = page.content.decode()
    assert f'action="{PRODUCTS}"' in html and "Apply styles to 2 products" in html
    for product in (vase, bowl):
        assert f'name="_selected_action" value="{product.pk}"' in html
    # The page posts to the products' changelist: the usual flow from there.
    root.post(PRODUCTS, confirm_post([vase, bowl], [styles["wave"]], size="512"))
    assert StylizedImage.objects.filter(style=styles["wave"], max_side=512).count() == 2


def test_a_fully_reused_request_is_finished_at_once(root, products, styles):
    requests.request_for_objects(products[:1], "image", [styles["ink"]], requests.RenderRequest(max_side=256))
    StylizedImage.objects.update(status=Status.READY, file="x/ready.webp")
    batch = queue(root, products[:1], styles["ink"])
    assert batch.finished_at is not None
    assert [strip_tags(str(m)) for m in notices(root.get(INDEX))] == ["Done: Ink on 1 product — 1 ready. See the results"]


def test_notices_are_for_their_author_only(client, make_staff, root, products, styles):
    queue(root, products[:1], styles["ink"])
    Batch.objects.update(finished_at=Batch.objects.get().created_at)
    client.force_login(make_staff("apply_style", "view_product"))
    assert notices(client.get(INDEX)) == []
    assert len(notices(root.get(INDEX))) == 1



def test_a_batch_whose_jobs_went_with_their_product_is_finished_by_the_sweep(root, products, styles):
    from stylestore.variants import sweeper

    batch = queue(root, products[:1], styles["ink"])
    products[0].delete()  # its photo's variants go with it: nothing of the batch is left to render
    assert Batch.objects.get(pk=batch.pk).finished_at is None
    assert sweeper.sweep()["batches_finished"] == 1
    assert Batch.objects.get(pk=batch.pk).finished_at is not None
    assert [strip_tags(str(m)) for m in notices(root.get(INDEX))] == [
        "Done: Ink on 1 product — nothing to render. See the results"]


def test_no_notice_in_a_popup(root, products, styles):
    requests.request_for_objects(products[:1], "image", [styles["ink"]], requests.RenderRequest(max_side=256))
    StylizedImage.objects.update(status=Status.READY, file="x/ready.webp")
    queue(root, products[:1], styles["ink"])
    assert notices(root.get(reverse("admin:shop_category_add"), {"_popup": "1"})) == []
    assert len(notices(root.get(INDEX))) == 1
