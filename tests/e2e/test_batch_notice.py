"""Completion you cannot miss, in a real browser with a real worker: queue → the
progress cell → the notice on the next admin page → its results link; and a batch
cancelled before any worker took it."""
import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import expect

from shop.models import Product
from stylestore.models import Batch, Style, StylizedImage
from stylestore.variants import state

from .conftest import log_in

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

#: The worker imports PyTorch, then renders on a shared CPU: minutes, not seconds, at worst.
RENDER_TIMEOUT_MS = 240_000


def apply_style(page, live_server, products, style_name):
    """Select ``products`` on the changelist and queue ``style_name`` at 256 px."""
    page.goto(f"{live_server.url}/admin/shop/product/")
    for product in products:
        page.get_by_role("row").filter(has_text=product.name).get_by_role("checkbox").check()
    page.get_by_role("combobox", name="Action").select_option("apply_style")
    page.get_by_role("button", name="Go").click()
    # By its card: a preset's card also names it in its swatch's alt text.
    page.locator(".stylestore-style-choice").filter(has_text=style_name).get_by_role("checkbox").check()
    page.get_by_label("Size").select_option("256")
    page.get_by_role("button", name="Queue images").click()
    expect(page.locator(".messagelist .success")).to_have_text(
        f"Queued {len(products)} images. Follow or cancel it.")


def test_queue_then_the_notice_and_its_results(live_server, new_context, artifacts, admin_user, start_worker):
    call_command("seed_demo", verbosity=0)
    start_worker(workers=1)  # boots (imports PyTorch) while the admin clicks through
    chosen = list(Product.objects.filter(slug__in=["delft-basin", "serape-blanket"]).order_by("name"))
    page = new_context().new_page()
    log_in(page, live_server)

    apply_style(page, live_server, chosen, "The Great Wave")
    batch = Batch.objects.get()
    cells = [page.locator(f'[data-stylestore-progress="{product.pk}"]') for product in chosen]
    for cell in cells:  # a link to the product's variants, whatever the worker is doing yet
        expect(cell).to_have_attribute("href", re.compile(r"/admin/stylestore/stylizedimage/\?source__in=\d+$"))
        expect(cell).to_contain_text(re.compile(r"queued, waiting for a worker|rendering|1/1 ready"))
    artifacts.shot(page, "queued")
    for cell in cells:
        expect(cell).to_have_text("Styles: 1/1 ready", timeout=RENDER_TIMEOUT_MS)
    artifacts.shot(page, "rendered")

    # The next admin page, whichever it is, says the batch is done, once.
    page.goto(f"{live_server.url}/admin/auth/user/")
    notice = page.locator(f'.messagelist [data-stylestore-batch="{batch.pk}"]')
    expect(notice).to_have_text(
        "Done: The Great Wave on 2 products — 2 ready. See the results")
    expect(page.locator(".messagelist .success")).to_be_visible()
    artifacts.shot(page, "notice", docs="admin-batch-notice.png")

    # Its link: the variants list narrowed to the batch (the notice is not repeated there).
    notice.get_by_role("link", name="See the results").click()
    expect(page).to_have_url(re.compile(rf"/admin/stylestore/stylizedimage/\?batch={batch.pk}$"))
    expect(page.locator(".messagelist")).to_have_count(0)
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)
    variants = StylizedImage.objects.filter(batches=batch)
    for variant in variants:
        assert variant.status == StylizedImage.Status.READY
        expect(page.locator(f'img.stylestore-thumb[src="{variant.file.url}"]')).to_be_visible()
    artifacts.shot(page, "results")


def test_the_notice_link_and_cancel_before_a_worker_takes_it(live_server, new_context, artifacts, admin_user):
    """No worker runs: the batch waits, says so (with an estimate), and is cancelled
    from its page; nothing of it is left."""
    call_command("seed_demo", verbosity=0)
    chosen = list(Product.objects.filter(slug__in=["delft-basin", "serape-blanket", "peony-panel"]).order_by("name"))
    style = Style.objects.get(slug="preset-shards")
    page = new_context().new_page()
    log_in(page, live_server)

    apply_style(page, live_server, chosen, style.name)
    for product in chosen:
        cell = page.locator(f'[data-stylestore-progress="{product.pk}"]')
        expect(cell).to_have_text(re.compile(r"^Styles: 0/1 ready · 1 queued, waiting for a worker · about \d+ (s|min) of rendering left$"))
    artifacts.shot(page, "progress-queued", docs="admin-progress-queued.png")

    page.locator(".messagelist .success").get_by_role("link", name="Follow or cancel it").click()
    batch = Batch.objects.get()
    expect(page).to_have_url(re.compile(rf"/admin/stylestore/batch/{batch.pk}/change/$"))
    expect(page.locator(".field-state")).to_contain_text("queued, waiting for a worker")
    expect(page.locator(".field-progress")).to_contain_text("3 queued, waiting for a worker")
    artifacts.shot(page, "batch", docs="admin-batch.png", full_page=True)
    # Another admin reads the batch in their own language, not in its author's.
    french = new_context().new_page()
    log_in(french, live_server)
    french.context.set_extra_http_headers({"Accept-Language": "fr"})
    french.goto(page.url)
    expect(french.locator(".field-description")).to_contain_text(f"{style.name} sur 3 produits")
    artifacts.shot(french, "batch-fr")

    # Ten minutes on, still no worker: the page says what is wrong, not only "waiting".
    StylizedImage.objects.update(created_at=timezone.now() - timedelta(seconds=state.STALLED_AFTER + 60))
    page.reload()
    expect(page.locator(".messagelist .warning")).to_contain_text(
        "none started or finished rendering in the last 10 minutes: is a worker running (manage.py qcluster)?")
    artifacts.shot(page, "batch-stalled")

    page.get_by_role("button", name="Cancel this batch").click()
    expect(page.locator(".messagelist .success")).to_have_text(
        "Cancelled 1 batch. 3 images were dropped before rendering.")
    expect(page.locator(".field-state")).to_contain_text("cancelled")
    expect(page.get_by_role("button", name="Cancel this batch")).to_have_count(0)
    assert not StylizedImage.objects.filter(style=style).exists()
    batch.refresh_from_db()
    assert batch.cancelled_at and batch.dropped == 3

    page.goto(f"{live_server.url}/admin/shop/product/")
    for product in chosen:
        expect(page.locator(f'[data-stylestore-progress="{product.pk}"]')).to_have_text("No styles yet")
    expect(page.locator(".messagelist")).to_have_count(0)  # cancelled: no completion notice
