"""The admin and the storefront in Simplified Chinese with no English app string left on
the pages a shop admin and a customer visit, and Stylestore's changelists fitting a
1366 px screen (no column header cut off) in every shipped language."""
import re
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from stylestore.models import StyleEvent, StylizedImage
from tests.test_translations import PLACEHOLDER, entries

from .conftest import log_in, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LAPTOP = {"width": 1366, "height": 768}
CATALOGUE = Path(settings.BASE_DIR) / "stylestore" / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
CHANGELISTS = ["/admin/stylestore/style/", "/admin/stylestore/stylizedimage/", "/admin/stylestore/styleevent/"]

#: The trimmed text of every text node the user can see (``textContent``, so CSS's
#: uppercase headers still read as written), plus the labels of buttons and options.
VISIBLE_TEXT_JS = """() => {
    const texts = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
        const node = walker.currentNode, parent = node.parentElement, text = node.textContent.trim();
        if (!text || !parent || parent.closest('script, style, template, noscript')) continue;
        if (parent.tagName === 'OPTION' ? parent.parentElement.checkVisibility() : parent.checkVisibility()) {
            texts.push(text);
        }
    }
    document.querySelectorAll('input[type=submit], input[type=button]').forEach(
        (el) => { if (el.checkVisibility() && el.value.trim()) texts.push(el.value.trim()); });
    return texts;
}"""

#: ``[header texts cut off]`` and whether the table is wider than its box, on a changelist.
CUT_HEADERS_JS = """() => {
    const table = document.querySelector('#result_list'), box = document.querySelector('#changelist-form .results');
    const cut = [...table.querySelectorAll('thead th')].filter((th) => th.scrollWidth > th.clientWidth + 1
        || [...th.querySelectorAll('.text, .text > *')].some((el) => el.scrollWidth > el.clientWidth + 1));
    return {cut: cut.map((th) => th.textContent.trim()), overflow: table.scrollWidth - box.clientWidth};
}"""


def english_messages():
    """``(exact, patterns)``: the app's English messages that Chinese translates
    differently, as strings and, for those with placeholders, as regexes."""
    exact, patterns = set(), []
    for _flags, _context, msgid, plural, strings in entries(CATALOGUE):
        for english in filter(None, (msgid, plural)):
            if english in strings:
                continue  # the same in both languages ("API", "ΔE %.1f")
            literal = PLACEHOLDER.split(english.replace("%%", "%"))
            if len(literal) == 1:
                exact |= {english, english[:1].upper() + english[1:]}  # as written, or capitalised as a label
            elif sum(len(part.split()) for part in literal[::2]) >= 3:  # enough words to recognise it
                parts = [re.escape(part) for part in PLACEHOLDER.sub("\0", english.replace("%%", "%")).split("\0")]
                patterns.append(re.compile(".+".join(parts), re.IGNORECASE | re.DOTALL))
    return exact, patterns


def untranslated(page, messages):
    exact, patterns = messages
    texts = page.evaluate(VISIBLE_TEXT_JS)
    found = [t for t in texts if t.rstrip(":：") in exact or any(p.fullmatch(t) for p in patterns)]
    return sorted(set(found))


def assert_translated(page, messages):
    found = untranslated(page, messages)
    assert not found, f"English app strings on {page.url}: {found}"


def assert_headers_fit(page):
    result = page.evaluate(CUT_HEADERS_JS)
    assert result["cut"] == [] and result["overflow"] <= 0, f"{page.url}: {result}"


def test_admin_and_storefront_in_simplified_chinese(live_server, new_context, artifacts, admin_user,
                                                  render_catalogue):
    products = render_catalogue({"great-wave": ["delft-basin", "serape-blanket"], "preset-shards": ["delft-basin"]})
    messages = english_messages()
    assert len(messages[0]) > 150 and len(messages[1]) > 50  # the catalogue was read

    # A customer whose browser asks for Chinese: the listing and a product page.
    shopper = new_context(viewport=LAPTOP, extra_http_headers={"Accept-Language": "zh-Hans"}).new_page()
    shopper.goto(f"{live_server.url}/")
    expect(shopper.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(shopper.get_by_role("heading", level=1)).to_have_text("全部商品")
    delft = products["delft-basin"]
    expect(shopper.locator(".product-card").filter(has_text=delft.name).locator(".product-price")).to_have_text(
        re.compile(r"^US\$\d[\d,]*\.\d\d$"))
    assert_translated(shopper, messages)
    artifacts.shot(shopper, "storefront-zh", docs="i18n-storefront-zh.png")
    shopper.goto(f"{live_server.url}{delft.get_absolute_url()}")
    expect(shopper.get_by_role("button", name="加入购物车")).to_be_visible()
    expect(shopper.locator(".look-caption")).to_contain_text("画风：")
    assert_translated(shopper, messages)
    artifacts.shot(shopper, "product-zh", docs="i18n-product-zh.png")
    # The header's switcher, which sets the language cookie.
    shopper.get_by_label("语言").select_option("fr")
    shopper.get_by_role("button", name="切换").click()
    expect(shopper.get_by_role("button", name="Ajouter au panier")).to_be_visible()
    wait_until(StyleEvent.objects.exists, message="the beacon's events, for the event list below")

    # The admin, its language from the cookie a switcher would set.
    context = new_context(viewport=LAPTOP)
    page = context.new_page()
    log_in(page, live_server)
    context.add_cookies([{"name": settings.LANGUAGE_COOKIE_NAME, "value": "zh-hans", "url": live_server.url}])
    page.goto(f"{live_server.url}/admin/")
    assert page.request.get(f"{live_server.url}/favicon.ico").ok  # the admin links no icon: the browser asks
    page.get_by_role("link", name="分析", exact=True).first.click()  # the app list's analytics entry
    expect(page).to_have_url(f"{live_server.url}/admin/stylestore/styleevent/analytics/")
    expect(page.get_by_role("heading", level=1)).to_have_text("个性化分析")
    assert_translated(page, messages)
    artifacts.shot(page, "analytics-zh", docs="i18n-admin-analytics-zh.png", full_page=True)

    variant = StylizedImage.objects.filter(style__slug="great-wave").order_by("pk").first()
    for url, name in [
        ("/admin/stylestore/style/", "styles"),
        ("/admin/stylestore/style/add/", "style-add"),
        (f"/admin/stylestore/style/{variant.style_id}/change/", "style-change"),
        ("/admin/stylestore/stylizedimage/", "variants"),
        (f"/admin/stylestore/stylizedimage/{variant.pk}/change/", "variant-change"),
        ("/admin/stylestore/styleevent/", "events"),
    ]:
        page.goto(f"{live_server.url}{url}")
        assert_translated(page, messages)
        if url in CHANGELISTS:
            assert_headers_fit(page)
        artifacts.shot(page, f"{name}-zh", docs="i18n-admin-variants-zh.png" if name == "variants" else None)

    # "Apply style…" on two products, from the shop's own changelist.
    page.goto(f"{live_server.url}/admin/shop/product/")
    for product in (delft, products["serape-blanket"]):
        page.get_by_role("row").filter(has_text=product.name).get_by_role("checkbox").check()
    page.locator("select[name=action]").select_option("apply_style")
    page.get_by_role("button", name="执行").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("应用风格")
    page.locator(".stylestore-style-choice").filter(has_text="The Bedroom").get_by_role("checkbox").check()
    expect(page.locator("#stylestore-counts")).to_contain_text("将生成 2 张图片")
    assert_translated(page, messages)
    artifacts.shot(page, "apply-style-zh", full_page=True)


@pytest.mark.parametrize("language", ["en", "fr", "zh-hans"])
def test_stylestore_changelists_fit_a_laptop_screen(live_server, new_context, artifacts, admin_user,
                                                    render_catalogue, language):
    render_catalogue({"great-wave": ["delft-basin"], "preset-shards": ["delft-basin"]})
    shopper = new_context(viewport=LAPTOP).new_page()  # a customer's visit: events to list
    shopper.goto(f"{live_server.url}/products/delft-basin/")
    wait_until(StyleEvent.objects.exists, message="the beacon's events")
    context = new_context(viewport=LAPTOP)
    page = context.new_page()
    log_in(page, live_server)
    context.add_cookies([{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url}])
    for url in CHANGELISTS:
        page.goto(f"{live_server.url}{url}")
        expect(page.locator("#result_list tbody tr").first).to_be_visible()
        assert_headers_fit(page)
        name = url.strip("/").split("/")[-1]
        docs = f"layout-1366-{name}.png" if language == "en" else None
        artifacts.shot(page, f"{name}-{language}", docs=docs)
