"""A customer in a real browser: the listing, a product page, a look that stays the
same on refresh, a picked look that sticks; every event lands in the database. Then
the shop's admin sees those events on the analytics page."""
import re

import pytest
from playwright.sync_api import expect

from stylestore.models import SourceImage, StyleEvent
from stylestore.personalization import choices

from .conftest import RENDER_SIZE, contrast, log_in, theme_colour, variant_of, visitor_of, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PRODUCT = "delft-basin"


def shown_variant(img):
    """The variant an ``<img>`` (or the ``<picture>`` around it) shows, once it loaded."""
    expect(img).to_have_js_property("complete", True)
    url = img.evaluate("img => img.naturalWidth > 0 ? img.currentSrc : ''")
    assert url, "the image did not load"
    variant = variant_of(url)
    assert variant is not None, f"{url} is not a styled variant"
    return variant


def test_customer_sees_a_personal_look_that_sticks(live_server, new_context, artifacts, render_catalogue, admin_user,
                                                   settings):
    # Every product in one look, the product opened below in three (plus its original).
    products = render_catalogue({"great-wave": "*", "preset-shards": [PRODUCT], "irises": [PRODUCT]})
    product = products[PRODUCT]
    context = new_context()
    page = context.new_page()

    # The listing: every product in a look, as WebP with the original photo as fallback.
    page.goto(f"{live_server.url}/")
    cards = page.locator(".product-grid > .product-card")
    expect(cards).to_have_count(len(products))
    page.wait_for_load_state("load")
    for index in range(len(products)):
        card = cards.nth(index)
        source, img = card.locator("picture > source"), card.locator("picture > img")
        expect(source).to_have_attribute("type", "image/webp")
        expect(source).to_have_attribute("srcset", re.compile(r"^/media/stylestore/\S+\.webp \d+w$"))
        expect(img).to_have_attribute("src", re.compile(r"^/media/products/[\w-]+\.jpg$"))
        expect(img).to_have_attribute("alt", re.compile(r", in the style “.+”$"))
        assert img.get_attribute("width") and img.get_attribute("height")
        expect(img).to_have_attribute("loading", "eager" if index < 4 else "lazy")
    first_row = [shown_variant(cards.nth(i).locator("img")) for i in range(4)]
    assert {v.style.slug for v in first_row} <= {"great-wave", "preset-shards", "irises"}
    assert all(max(v.width, v.height) == RENDER_SIZE for v in first_row)
    artifacts.shot(page, "listing", docs="storefront-listing.png", full_page=True)

    # The images on screen were reported as seen (at least half in view: the first row).
    wait_until(lambda: StyleEvent.objects.filter(kind="impression").count() >= 4, timeout=30, message="impressions")

    # Open the product from its card: the click is reported, the view recorded.
    card = cards.filter(has_text=product.name)
    listed_choice = card.locator("img").get_attribute("data-stylestore-choice")
    card.scroll_into_view_if_needed()
    card_look = shown_variant(card.locator("img"))
    card.get_by_role("link").click()
    page.wait_for_url(f"**{product.get_absolute_url()}")
    source_row = SourceImage.objects.get(object_id=str(product.pk), field_name="image")
    wait_until(lambda: StyleEvent.objects.filter(kind="click").exists(), timeout=30, message="the click")
    click = StyleEvent.objects.get(kind="click")
    # Attributed to the very image clicked: the choice id the listing signed for it.
    assert click.choice_id == choices.read_choice(visitor_of(context).key, listed_choice).choice_id
    assert click.source_id == source_row.pk
    # The page's beacon reports the view, with the page's first impressions.
    wait_until(lambda: StyleEvent.objects.filter(kind="view", source=source_row).count() == 1, timeout=30,
               message="the view")

    main = page.locator(".product-photo img")
    shown = shown_variant(main)
    assert shown.source_id == source_row.pk
    # In the card's look, whether the click's beacon arrived before the page or not.
    assert shown.style_id == card_look.style_id
    expect(page.locator("[data-stylestore-look]")).to_have_text(shown.style.name)
    expect(main).to_have_attribute("fetchpriority", "high")
    artifacts.shot(page, "product")

    # A refresh shows the same look, and is not a second view: once the reloaded page's
    # beacon (its view and its main image's impression, in one batch) has arrived, the
    # product still has one view.
    page.reload()
    assert shown_variant(main).pk == shown.pk
    reloaded = choices.read_choice(visitor_of(context).key, main.get_attribute("data-stylestore-choice")).choice_id
    wait_until(lambda: StyleEvent.objects.filter(kind="impression", choice_id=reloaded).exists(), timeout=30,
               message="the reloaded page's beacon")
    assert StyleEvent.objects.filter(kind="view", source=source_row).count() == 1

    # The product's other looks, loaded lazily, each with its size and a description.
    gallery = page.locator(".looks-gallery img")
    expect(gallery).to_have_count(2)  # three looks, one of them shown above
    for index in range(2):
        look = gallery.nth(index)
        expect(look).to_have_attribute("loading", "lazy")
        expect(look).to_have_attribute("alt", re.compile(r"in the style"))
        assert look.get_attribute("width") and look.get_attribute("height")
        look.scroll_into_view_if_needed()
        assert shown_variant(look).style_id != shown.style_id

    # "More in this style": other products shown in the product's look, linked; only
    # this product has its other two looks, so there are none in those.
    more = page.locator(".more-in-this-style .product-card a")
    if shown.style.slug == "great-wave":
        assert 1 <= more.count() <= 4
        assert product.get_absolute_url() not in [more.nth(i).get_attribute("href") for i in range(more.count())]
        for index in range(more.count()):
            more.nth(index).scroll_into_view_if_needed()
            assert shown_variant(more.nth(index).locator("img")).style_id == shown.style_id
    else:
        expect(page.locator(".more-in-this-style")).to_have_count(0)

    # Pick another look: it swaps in place, the button says so, the pick is stored...
    picker = page.get_by_role("group", name="Choose a look")
    expect(picker.get_by_role("button")).to_have_count(4)  # the original photo and three looks
    expect(picker.locator(".stylestore-picker-scope")).to_have_text(
        "Your pick applies across the shop: every product that has the look shows it.")
    target = next(slug for slug in ("irises", "great-wave", "preset-shards") if slug != shown.style.slug)
    button = picker.locator(f'button[value="{target}"]')
    page.evaluate("window.__e2eSamePage = true")
    button.click()
    expect(button).to_have_attribute("aria-pressed", "true")
    wait_until(lambda: (variant_of(main.evaluate("i => i.currentSrc")) or shown).style.slug == target,
               timeout=30, message="the picked look")
    picked = shown_variant(main)
    expect(page.locator("[data-stylestore-look]")).to_have_text(picked.style.name)
    assert page.evaluate("window.__e2eSamePage") is True, "the pick reloaded the page"
    wait_until(lambda: StyleEvent.objects.filter(kind="pick").exists(), timeout=30, message="the pick")
    expect(page.get_by_role("status")).to_have_text(picked.style.name)  # announced to screen readers
    # What follows the pick ("More in this style": the products in the picked look, here
    # none but this one has it) changed with it, without a reload.
    expect(page.locator(".more-in-this-style")).to_have_count(1 if target == "great-wave" else 0)
    artifacts.shot(page, "picked-whole-page", full_page=True)
    page.evaluate("window.scrollTo(0, 0)")
    artifacts.shot(page, "picked", docs="storefront-product.png")

    # ... and sticks: after a reload the page is served with it.
    page.reload()
    assert shown_variant(main).style.slug == target
    expect(picker.locator(f'button[value="{target}"]')).to_have_attribute("aria-pressed", "true")

    # The original photo and back: the <picture> loses its WebP <source>, then regains it.
    picker.get_by_role("button", name="Original photo").click()
    expect(page.locator(".product-photo picture > source")).to_have_count(0)
    expect(main).to_have_js_property("currentSrc", f"{live_server.url}{product.image.url}")
    expect(page.locator("[data-stylestore-look]")).to_have_text("Original photo")
    picker.locator(f'button[value="{target}"]').click()
    expect(page.locator(".product-photo picture > source")).to_have_attribute("type", "image/webp")
    wait_until(lambda: (variant_of(main.evaluate("i => i.currentSrc")) or shown).style.slug == target,
               timeout=30, message="the picked look again")
    # A visitor keeps one pick row, their latest (repeated picks cannot grow the log).
    wait_until(lambda: list(StyleEvent.objects.filter(kind="pick").values_list("style__slug", flat=True)) == [target],
               timeout=30, message="the latest pick recorded")
    page.reload()

    # Keyboard: the skip link comes first and shows; the picker's buttons show focus.
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    assert skip.bounding_box()["y"] >= 0
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.closest('[data-stylestore-picker]') !== null"):
            break
    focused = page.locator(":focus")
    assert focused.evaluate("el => el.closest('[data-stylestore-picker]') !== null"), "Tab never reached the picker"
    outline = focused.evaluate("el => [getComputedStyle(el).outlineStyle, parseFloat(getComputedStyle(el).outlineWidth)]")
    assert outline[0] != "none" and outline[1] >= 2
    artifacts.shot(page, "keyboard-focus")

    # Where a pick applies to one product, the picker says so.
    settings.STYLESTORE = {**settings.STYLESTORE, "PICK_SCOPE": "product"}
    page.reload()
    expect(picker.locator(".stylestore-picker-scope")).to_have_text("Your pick applies to this product only.")
    artifacts.shot(page, "picker-product-scope")
    settings.STYLESTORE = {**settings.STYLESTORE, "PICK_SCOPE": "shop"}

    # Everything the customer did is in the log, under their visitor.
    visitor = visitor_of(context)
    kinds = set(StyleEvent.objects.filter(visitor=visitor).values_list("kind", flat=True))
    assert {"view", "impression", "click", "pick"} <= kinds
    picks = list(StyleEvent.objects.filter(visitor=visitor, kind="pick").order_by("pk"))
    assert [(p.style.slug if p.style else p.reason) for p in picks] == [target]
    assert all(p.source_id == source_row.pk for p in picks)
    assert visitor.state.get("p") == str(picks[-1].style_id)

    # A phone: two products per row, the product page in one column.
    phone = new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True)
    mobile = phone.new_page()
    mobile.goto(f"{live_server.url}/")
    first, second = (mobile.locator(".product-card").nth(i).bounding_box() for i in range(2))
    assert first["y"] == second["y"] and second["x"] > first["x"] + first["width"]
    assert mobile.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the screen
    mobile.wait_for_load_state("load")
    artifacts.shot(mobile, "mobile-listing", docs="storefront-mobile.png")
    mobile.goto(f"{live_server.url}{product.get_absolute_url()}")
    photo, info = mobile.locator(".product-photo").bounding_box(), mobile.locator(".product-info").bounding_box()
    assert info["y"] >= photo["y"] + photo["height"] and photo["width"] > 340
    assert mobile.evaluate("document.documentElement.scrollWidth") <= 390
    artifacts.shot(mobile, "mobile-product")

    # The shop's admin sees these events on the analytics page, in both themes.
    admin = new_context().new_page()
    log_in(admin, live_server)
    admin.goto(f"{live_server.url}/admin/stylestore/styleevent/")
    admin.locator("#content-main").get_by_role("link", name="Analytics").click()  # not the sidebar's entry
    expect(admin).to_have_title(re.compile("^Personalization analytics"))
    rows = admin.locator(".stylestore-analytics-styles tbody tr")
    expect(rows.first).to_be_visible()
    names = [rows.nth(i).locator("th").inner_text() for i in range(rows.count())]
    assert picked.style.name in names
    picked_row = rows.filter(has_text=picked.style.name)
    assert int(picked_row.locator("td").last.inner_text()) >= 1  # its pick
    chart = admin.get_by_role("img", name=re.compile("Click-through rate per style"))
    expect(chart).to_be_visible()
    assert chart.locator("rect.stylestore-chart-bar").count() == len(names)
    artifacts.shot(admin, "analytics", docs="admin-analytics.png", full_page=True)
    admin.emulate_media(color_scheme="dark")
    whisker = chart.locator(".stylestore-chart-whisker").first
    actual, expected = theme_colour(whisker, "stroke", "--body-loud-color")
    assert actual == expected
    assert contrast(rows.first.locator("th")) >= 4.5
    artifacts.shot(admin, "analytics-dark", full_page=True)
