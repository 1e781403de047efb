"""The storefront script in a real browser: impressions, clicks, add to cart, picks.

Chromium (the session browser shared with the e2e suite, ``tests.conftest.browser``)
against pytest-django's live server; the events the script sends are checked where
they land, in the database.
"""
import os
import time

import pytest
from django.db import connections

from stylestore.models import StyleEvent, Visitor

from .conftest import page_images, style_of

# Playwright's sync API runs an event loop in the test thread; the ORM calls here are
# synchronous all the same.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = pytest.mark.slow
TIMEOUT_MS = 30_000


@pytest.fixture
def page(browser, live_server):
    """A browser page in a fresh context of the session's Chromium."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda exc: problems.append(f"uncaught: {exc}"))
    page.on("response", lambda r: "/api/" in r.url and r.status >= 400 and problems.append(f"{r.status} {r.url}"))
    yield page
    # While Playwright's event loop runs in this thread, Django keeps this thread's
    # database connections per async context: the test's queries used one of their
    # own, which must be closed from here or PostgreSQL cannot drop the test database.
    connections.close_all()
    context.close()
    assert not problems, problems


def wait_for(predicate, message, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {message}")


def test_the_script_reports_what_the_visitor_sees_and_does(page, live_server, transactional_db, world):
    products, styles = world(3, 3)
    page.goto(live_server.url + "/")
    wait_for(lambda: StyleEvent.objects.filter(kind="impression").count() == 3, "three impressions")

    page.click(f'a[href="{products[1].get_absolute_url()}"]')
    page.wait_for_url(f"**{products[1].get_absolute_url()}")
    wait_for(lambda: StyleEvent.objects.filter(kind="click").count() == 1, "the click")
    click = StyleEvent.objects.get(kind="click")
    assert click.source.object_id == str(products[1].pk)

    page.click("button.add-to-cart")  # the demo's cart: the product is added, the cart opens
    page.wait_for_url("**/cart/")
    wait_for(lambda: StyleEvent.objects.filter(kind="add_to_cart").exists(), "the add to cart")
    page.go_back()

    # The picker: the image swaps in place, the button is marked, the pick is stored.
    target = styles[2]
    page.click(f'button[name="style"][value="{target.slug}"]')
    main = page.locator(f'.product-photo img[data-stylestore-ref="shop.product:{products[1].pk}"]')
    # currentSrc: in a <picture> the look comes from its <source>, not the <img>'s src.
    wait_for(lambda: style_of(main.evaluate("img => img.currentSrc")) == str(target.pk), "the swapped image")
    assert page.locator(f'button[value="{target.slug}"]').get_attribute("aria-pressed") == "true"
    wait_for(lambda: Visitor.objects.get().state.get("p") == str(target.pk), "the stored pick")
    # The product page's own picked impression comes after the page is fetched again
    # with the pick; leaving before it arrives would lose it (a CI run left first).
    picked = StyleEvent.objects.filter(kind="impression", reason="pick")
    wait_for(lambda: picked.count() == 1, "the product page's picked impression")

    page.goto(live_server.url + "/")
    page.wait_for_load_state("load")
    sources = page.eval_on_selector_all("img[data-stylestore-ref]", "imgs => imgs.map(i => i.currentSrc)")
    assert {style_of(src) for src in sources} == {str(target.pk)}
    # The pick is shown everywhere now, and its impressions are logged as such: the
    # product page's, then the listing's three. (Waiting for them also keeps a late
    # beacon from reaching the server after the test.)
    wait_for(lambda: picked.count() == 4, "the picked impressions")


def test_a_pick_shows_on_the_rest_of_the_page_without_a_reload(page, live_server, transactional_db, world):
    """A shop-wide pick changes more than the picked image: "More in this style"
    follows it, and the add-to-cart button credits the picked look, at once."""
    products, styles = world(4, 5)
    page.goto(live_server.url + products[0].get_absolute_url())
    page.wait_for_load_state("load")
    more = page.locator(".more-in-this-style")

    def looks():
        """The main image's look, then the cards' (style ids, from the markup: lazy
        images below the fold have not loaded)."""
        html = page.content()
        main = page_images(html)[f"shop.product:{products[0].pk}"]
        cards = page_images(more.inner_html()) if more.count() else {}
        return [style_of(main["src"])] + [style_of(attrs["src"]) for attrs in cards.values()]

    before = looks()
    assert len(before) >= 2, "no cards in 'More in this style'"
    cart = page.locator("button.add-to-cart")
    credited = cart.get_attribute("data-stylestore-cart")
    target = next(style for style in styles if str(style.pk) not in before)  # shown nowhere yet
    page.evaluate("window.samePage = true")
    page.click(f'button[name="style"][value="{target.slug}"]')

    wait_for(lambda: set(looks()) == {str(target.pk)} and len(looks()) >= 2, "the page in the picked look")
    assert page.evaluate("window.samePage") is True, "the pick reloaded the page"
    wait_for(lambda: cart.get_attribute("data-stylestore-cart") not in (None, credited), "the cart's new choice")
    page.click("button.add-to-cart")
    page.wait_for_url("**/cart/")
    wait_for(lambda: StyleEvent.objects.filter(kind="add_to_cart").exists(), "the add to cart")
    assert StyleEvent.objects.get(kind="add_to_cart").style_id == target.pk
