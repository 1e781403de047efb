"""The admin tells you what you are looking at, in a real browser with a real worker:
presets shown by their swatches (rendered by the worker) and a live blend preview; the
Apply page's estimate, its warning past the workers' limit and the preview of its
settings; a product's variants on its own page, reviewed there; variants found by the
product's name; the variant's page in words."""
import re

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from shop.models import Product
from stylestore.engine.preset_names import NUM_PRESETS
from stylestore.models import Style, StylizedImage

from .conftest import log_in, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

#: The worker imports PyTorch, then renders on a shared CPU.
RENDER_TIMEOUT_MS = 240_000


def test_presets_apply_preview_product_variants_and_search(live_server, new_context, artifacts, admin_user,
                                                           start_worker):
    call_command("seed_demo", verbosity=0)  # also asks the worker for the preset swatches
    start_worker(workers=1)
    page = new_context().new_page()
    log_in(page, live_server)

    # Styles: each preset style shows its swatch once the worker has rendered it.
    page.goto(f"{live_server.url}/admin/stylestore/style/")
    presets = Style.objects.filter(kind=Style.Kind.PRESET).count()
    swatches = page.locator("#result_list img.stylestore-swatch")
    expect(swatches).to_have_count(presets, timeout=RENDER_TIMEOUT_MS)
    for index in range(presets):
        assert swatches.nth(index).evaluate("img => img.complete && img.naturalWidth") > 0
    expect(page.locator("#result_list")).not_to_contain_text("Preset")  # no grey box left
    artifacts.shot(page, "styles-swatches", docs="admin-styles-swatches.png")

    # The blend editor: every preset named with its swatch, and the blend previewed live.
    blend = Style.objects.get(slug="preset-dusk-blend")
    page.goto(f"{live_server.url}/admin/stylestore/style/{blend.pk}/change/")
    editor = page.locator(".stylestore-blend-editor")
    expect(editor.locator(".stylestore-preset-weight img.stylestore-swatch")).to_have_count(
        NUM_PRESETS, timeout=RENDER_TIMEOUT_MS)
    expect(editor.get_by_label("Preset 19", exact=True)).to_have_value("0.5")
    first_blend = editor.locator(".stylestore-blend-image img")
    expect(first_blend).to_be_visible(timeout=RENDER_TIMEOUT_MS)
    shown = first_blend.get_attribute("src")
    editor.get_by_label("Preset 3", exact=True).fill("1")  # a new blend: rendered by the worker, then shown
    expect(editor.locator(".stylestore-blend-image img")).not_to_have_attribute("src", shown,
                                                                               timeout=RENDER_TIMEOUT_MS)
    editor.locator(".stylestore-blend-image img").scroll_into_view_if_needed()
    artifacts.shot(page, "blend-editor", docs="admin-blend-editor.png",
                   locator=page.locator(".form-row.field-preset_weights"))

    # Apply style on the serape: cards with swatches, the estimate, the warning, the preview.
    serape = Product.objects.get(slug="serape-blanket")
    wave = Style.objects.get(slug="great-wave")
    shards = Style.objects.get(slug="preset-shards")
    page.goto(f"{live_server.url}/admin/shop/product/")
    page.get_by_role("row").filter(has_text=serape.name).get_by_role("checkbox").check()
    page.get_by_role("combobox", name="Action").select_option("apply_style")
    page.get_by_role("button", name="Go").click()
    expect(page).to_have_title(re.compile("^Apply style"))
    page.wait_for_load_state("domcontentloaded")  # the live recount listens from then on
    expect(page.locator(".stylestore-style-choice").filter(has_text=shards.name).locator("img")).to_be_visible()
    page.get_by_label(wave.name, exact=True).check()
    page.get_by_label(shards.name, exact=True).check()
    page.get_by_label("Size").select_option("256")
    counts = page.locator("#stylestore-counts")
    expect(counts).to_contain_text("2 images will be generated")
    expect(counts).to_contain_text(re.compile(r"About \d+ (s|min) of rendering"))

    # Past the workers' limit: said beside the estimate, live, and nothing can be queued.
    page.get_by_label("Engine").select_option("optimize")
    page.get_by_label("Size").select_option("1024")
    expect(counts.locator(".errornote")).to_contain_text("more than the workers' limit")
    artifacts.shot(page, "apply-too-slow", docs="admin-apply-too-slow.png", locator=counts)
    page.get_by_label("Engine").select_option("")
    page.get_by_label("Size").select_option("256")
    expect(counts.locator(".errornote")).to_have_count(0)

    # The preview follows the settings: half strength, the background only.
    page.get_by_label("Strength").fill("0.5")
    page.get_by_label("Region").select_option("background")
    preview = page.locator("#stylestore-settings-preview")
    expect(preview).to_contain_text(f"Preview on “{serape.name}”")
    expect(preview.locator("img")).to_have_count(3, timeout=RENDER_TIMEOUT_MS)  # the original and two styles
    for index in range(3):
        assert preview.locator("img").nth(index).evaluate("img => img.complete && img.naturalWidth") > 0
    artifacts.shot(page, "apply-preview", docs="admin-apply-preview.png", full_page=True)
    page.get_by_role("button", name="Queue images").click()
    expect(page.locator(".messagelist .success")).to_contain_text("Queued 2 images.")

    # The product's own page: its variants, reviewed there.
    wait_until(lambda: StylizedImage.objects.filter(source__object_id=str(serape.pk),
                                                     status=StylizedImage.Status.READY).count() == 2,
               timeout=RENDER_TIMEOUT_MS / 1000, message="the serape's two variants")
    page.goto(f"{live_server.url}/admin/shop/product/{serape.pk}/change/")
    panel = page.locator(".stylestore-object-variants-panel")
    expect(panel.locator("img.stylestore-thumb")).to_have_count(2)
    card = panel.locator(".stylestore-object-variant").filter(has_text=wave.name)
    card.get_by_role("button", name="Approve").click()
    expect(page.locator(".messagelist .success")).to_have_text("Approved 1 image.")
    expect(page).to_have_url(re.compile(rf"/admin/shop/product/{serape.pk}/change/$"))
    expect(panel.locator(".stylestore-object-variant").filter(has_text=wave.name)).to_contain_text("Approved")
    panel.scroll_into_view_if_needed()
    artifacts.shot(page, "product-variants", docs="admin-product-variants.png", full_page=True)

    # Variants found by the product's name.
    page.goto(f"{live_server.url}/admin/stylestore/stylizedimage/")
    page.locator("#searchbar").fill("Serape")
    page.locator("#searchbar").press("Enter")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text(serape.name)
    artifacts.shot(page, "variants-search", docs="admin-variants-search.png")

    # The variant's page in words.
    rows.filter(has_text=wave.name).locator("a").first.click()
    expect(page.locator("h1")).to_have_text(f"{serape.name} — {wave.name}, 256 px")
    expect(page.locator(".field-product_colour")).to_contain_text(re.compile(r"(true|changed) \(ΔE"))
    expect(page.locator(".field-file_link")).to_contain_text("Open the image")
    expect(page.get_by_role("button", name="Reject")).to_be_visible()
    artifacts.shot(page, "variant-page", docs="admin-variant-page.png", full_page=True)
