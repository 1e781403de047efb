"""The admin's "Apply style…" flow in a real browser, with a real worker rendering."""
import re

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from shop.models import Product
from stylestore.models import SourceImage, Style, StylizedImage

from .conftest import contrast, log_in, theme_colour

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

#: The worker imports PyTorch, then renders on a shared CPU: minutes, not seconds, at worst.
RENDER_TIMEOUT_MS = 240_000


def test_admin_applies_a_style_and_watches_it_render(live_server, new_context, artifacts, admin_user, start_worker):
    call_command("seed_demo", verbosity=0)
    start_worker(workers=1)  # boots (imports PyTorch) while the admin clicks through
    chosen = list(Product.objects.filter(slug__in=["delft-basin", "serape-blanket"]).order_by("name"))
    style = Style.objects.get(slug="great-wave")

    page = new_context().new_page()
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/shop/product/")
    for product in chosen:
        page.get_by_role("row").filter(has_text=product.name).get_by_role("checkbox").check()
    page.get_by_role("combobox", name="Action").select_option("apply_style")
    artifacts.shot(page, "changelist-selected")
    page.get_by_role("button", name="Go").click()

    # The confirmation page: what is selected, the styles to choose from, the settings.
    expect(page).to_have_title(re.compile("^Apply style"))
    objects = page.locator(".stylestore-objects li")
    expect(objects).to_have_text([p.name for p in chosen])
    page.get_by_label(style.name, exact=True).check()
    page.get_by_label("Size").select_option("256")
    # The live recount (no page load) says what will be generated.
    expect(page.locator("#stylestore-counts")).to_contain_text("2 images will be generated")
    expect(page.locator(".stylestore-recount")).to_be_hidden()
    artifacts.shot(page, "apply-style", docs="admin-apply-style.png", full_page=True)
    page.get_by_role("button", name="Queue images").click()

    # Back on the changelist: queued, and the progress column updates in place.
    expect(page.locator(".messagelist .success")).to_have_text("Queued 2 images. Follow or cancel it.")
    cells = [page.locator(f'[data-stylestore-progress="{product.pk}"]') for product in chosen]
    page.evaluate("window.__e2eSamePage = true")  # gone if the page reloads
    artifacts.shot(page, "progress-queued")
    for cell in cells:
        expect(cell).to_have_text("Styles: 1/1 ready", timeout=RENDER_TIMEOUT_MS)
        expect(cell).to_have_attribute("data-pending", "0")
    assert page.evaluate("window.__e2eSamePage") is True, "the changelist reloaded instead of polling"
    artifacts.shot(page, "progress-done", docs="admin-progress.png")

    variants = list(
        StylizedImage.objects.filter(source__object_id__in=[str(p.pk) for p in chosen], style=style).order_by("pk")
    )
    assert len(variants) == 2
    for variant in variants:
        assert variant.status == StylizedImage.Status.READY and variant.max_side == 256
        assert max(variant.width, variant.height) == 256 and variant.file.storage.exists(variant.file.name)
    untouched = SourceImage.objects.exclude(object_id__in=[str(p.pk) for p in chosen])
    assert not StylizedImage.objects.filter(source__in=untouched).exists()

    # The variants' list shows the new thumbnails, served and decoded.
    page.goto(f"{live_server.url}/admin/stylestore/stylizedimage/")
    for variant in variants:
        thumb = page.locator(f'img.stylestore-thumb[src="{variant.file.url}"]')
        expect(thumb).to_be_visible()
        assert thumb.evaluate("img => img.complete && img.naturalWidth") > 0
    artifacts.shot(page, "variants")

    # One variant: the before/after slider moves the split.
    page.goto(f"{live_server.url}/admin/stylestore/stylizedimage/{variants[0].pk}/change/")
    compare = page.locator(".stylestore-compare")
    expect(compare.locator("img.stylestore-compare-before")).to_have_attribute(
        "src", SourceImage.objects.get(pk=variants[0].source_id).get_field_file().url
    )
    expect(compare.locator("img.stylestore-compare-after")).to_have_attribute("src", variants[0].file.url)
    slider = page.get_by_role("slider", name="Original ↔ styled")
    slider.fill("30")
    assert compare.evaluate("el => el.style.getPropertyValue('--position')") == "30%"
    artifacts.shot(page, "compare", docs="admin-compare.png")

    # The dark theme (the admin follows prefers-color-scheme): Stylestore's widgets take
    # their colours from the admin's variables, so they switch along with it.
    page.emulate_media(color_scheme="dark")
    label = page.locator(".stylestore-compare-label")
    assert _luminance(page.evaluate("getComputedStyle(document.body).backgroundColor")) < 0.1
    assert theme_colour(label, "color", "--body-quiet-color")[0] == theme_colour(label, "color", "--body-quiet-color")[1]
    assert contrast(label) >= 4.5
    artifacts.shot(page, "compare-dark")

    page.goto(f"{live_server.url}/admin/shop/product/")
    cell = page.locator(f'[data-stylestore-progress="{chosen[0].pk}"]')
    actual, expected = theme_colour(cell, "color", "--body-quiet-color")
    assert actual == expected and contrast(cell) >= 4.5
    artifacts.shot(page, "progress-dark")

    # The confirmation page in the dark theme, left with "Cancel".
    page.get_by_role("row").filter(has_text=chosen[0].name).get_by_role("checkbox").check()
    page.get_by_role("combobox", name="Action").select_option("apply_style")
    page.get_by_role("button", name="Go").click()
    card = page.locator(".stylestore-style-choice").filter(has_text=style.name)
    for property, variable in [("background-color", "--body-bg"), ("border-top-color", "--border-color"),
                               ("color", "--body-fg")]:
        actual, expected = theme_colour(card, property, variable)
        assert actual == expected, (property, actual, expected)
    assert contrast(card.locator(".stylestore-style-name")) >= 4.5
    # The finished variant already exists: nothing new would be generated.
    card.get_by_role("checkbox").check()
    actual, expected = theme_colour(card, "background-color", "--selected-row")
    assert actual == expected and contrast(card.locator(".stylestore-style-name")) >= 4.5
    page.get_by_label("Size").select_option("256")
    expect(page.locator("#stylestore-counts")).to_contain_text("1 already exists and will be reused")
    cancel = page.get_by_role("link", name="Cancel")
    actual, expected = theme_colour(cancel, "background-color", "--close-button-bg")
    assert actual == expected
    artifacts.shot(page, "apply-style-dark", docs="admin-apply-style-dark.png")
    cancel.click()
    expect(page).to_have_url(re.compile(r"/admin/shop/product/$"))
    assert StylizedImage.objects.count() == 2


def _luminance(css_colour):
    r, g, b = (int(v) for v in re.findall(r"\d+", css_colour)[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255
