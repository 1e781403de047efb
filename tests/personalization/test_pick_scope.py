"""What a pick applies to (``STYLESTORE["PICK_SCOPE"]``): every product ("shop") or the
product it was made on ("product"), on the listing, the product page and the API alike;
the picker and its confirmation page say which; clearing works in both."""
import re
from html import unescape

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from stylestore.conf import stylestore_settings
from stylestore.models import StyleEvent, Visitor
from stylestore.personalization import looks
from stylestore.personalization.choices import ChoiceRecord

from .conftest import impressions, page_images, post_events, shown_styles, style_of
from .test_consistency import styles_alike

pytestmark = pytest.mark.django_db

PICKER_SCOPE = re.compile(r'<p class="stylestore-picker-scope">([^<]*)</p>')


@pytest.fixture
def scope(settings):
    def use(value):
        settings.STYLESTORE = {**settings.STYLESTORE, "PICK_SCOPE": value}
    return use


@pytest.fixture
def seen(world):
    """Three products in three styles, a visitor who has seen the listing (its looks
    remembered): ``(client, products, styles, {reference: style shown})``."""
    products, styles = world(3, 3)
    styles_alike(styles)
    client = Client()
    assert post_events(client, impressions(client.get("/").content.decode())).status_code == 202
    return client, products, styles, shown_styles(client)


def ref(product):
    return f"shop.product:{product.pk}"


def looks_everywhere(client, product):
    """The look of ``product`` on the listing, its page and through the API."""
    page = page_images(client.get(product.get_absolute_url()).content.decode())[ref(product)]
    api = client.get(f"/api/v1/sources/{ref(product)}/personalized/").json()
    return {shown_styles(client)[ref(product)], style_of(page["src"]), style_of(api["url"])}


def pick(client, product, style):
    return post_events(client, [{"kind": "pick", "style": style, "source": ref(product)}])


def test_the_scope_is_validated(scope):
    scope("everywhere")
    with pytest.raises(ImproperlyConfigured, match=r"STYLESTORE\['PICK_SCOPE'\] must be one of 'shop', 'product'; "
                                                   r"got 'everywhere'"):
        stylestore_settings.PICK_SCOPE


def test_a_product_pick_changes_that_product_only_everywhere_until_cleared(seen, scope):
    scope("product")
    client, products, styles, before = seen
    picked = next(s for s in styles if str(s.pk) != before[ref(products[0])])
    assert pick(client, products[0], picked.slug).status_code == 202
    assert looks_everywhere(client, products[0]) == {str(picked.pk)}
    api = client.get(f"/api/v1/sources/{ref(products[0])}/personalized/").json()
    assert (api["reason"], api["probability"]) == ("pick", 1.0)
    for other in products[1:]:
        assert looks_everywhere(client, other) == {before[ref(other)]}  # their own looks kept
    assert pick(client, products[0], picked.slug).json()["duplicates"] == 1  # the look it already has
    # The original photo for the second product alone.
    assert pick(client, products[1], "original").status_code == 202
    assert looks_everywhere(client, products[1]) == {"original"}
    assert shown_styles(client)[ref(products[2])] == before[ref(products[2])]
    # Let the shop choose the first product again: its look is the shop's (no pick),
    # the second keeps its pick.
    assert pick(client, products[0], None).status_code == 202
    api = client.get(f"/api/v1/sources/{ref(products[0])}/personalized/").json()
    assert api["reason"] != "pick" and style_of(api["url"]) != "original"
    assert shown_styles(client)[ref(products[1])] == "original"
    # A clear without a source clears every pick.
    assert post_events(client, [{"kind": "pick", "style": None}]).status_code == 202
    assert shown_styles(client)[ref(products[1])] != "original"
    assert not any(isinstance(entry, list) and entry[0] == "pick" for entry in Visitor.objects.get().looks.values())


def test_a_product_pick_needs_its_product(seen, scope):
    scope("product")
    client, _, styles, before = seen
    response = post_events(client, [{"kind": "pick", "style": styles[0].slug}])
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["0.source"] == [
        "In this shop a pick applies to one product: name it in source."]
    assert shown_styles(client) == before and not StyleEvent.objects.filter(kind="pick").exists()


def test_the_setting_decides_which_picks_apply_and_the_next_pick_follows_it(seen, scope):
    """Picks stored under the other scope (the setting changed since) are dormant; the
    visitor's next pick, in the current scope, replaces them."""
    client, products, styles, before = seen
    scope("product")
    assert pick(client, products[0], "original").status_code == 202
    scope("shop")
    assert shown_styles(client)[ref(products[0])] != "original"  # the product pick is dormant
    assert pick(client, products[1], styles[2].slug).status_code == 202
    assert set(shown_styles(client).values()) == {str(styles[2].pk)}
    scope("product")
    shown = shown_styles(client)  # the shop-wide pick is dormant: every product its own look
    assert {r: shown[r] for r in map(ref, products[1:])} == {r: before[r] for r in map(ref, products[1:])}
    assert shown[ref(products[0])] != "original"  # the shop-wide pick gave the product pick up
    assert pick(client, products[2], "original").status_code == 202
    scope("shop")
    assert shown_styles(client)[ref(products[2])] != "original"  # that pick cleared the shop-wide one
    assert Visitor.objects.get().state.get("p") is None


@pytest.mark.parametrize("value, note", [
    ("shop", "Your pick applies across the shop: every product that has the look shows it."),
    ("product", "Your pick applies to this product only."),
])
def test_the_picker_and_its_confirmation_say_what_a_pick_applies_to(seen, scope, value, note):
    scope(value)
    client, products, styles, before = seen
    picked = next(s for s in styles if str(s.pk) != before[ref(products[1])])
    html = client.get(products[0].get_absolute_url()).content.decode()
    assert [unescape(text) for text in PICKER_SCOPE.findall(html)] == [note]
    form = {"style": picked.slug, "source": ref(products[0]), "field": "image", "next": "/"}
    confirm = unescape(client.get("/stylestore/pick/", form).content.decode())
    assert note in confirm
    question = "Show this product in the look" if value == "product" else "Show products in the look"
    assert f"{question} “{picked.name}”?" in confirm
    # The confirmed pick (the form posts back) applies in that scope too.
    assert client.post("/stylestore/pick/", form).status_code == 302
    shown = shown_styles(client)
    assert shown[ref(products[0])] == str(picked.pk)
    assert shown[ref(products[1])] == (str(picked.pk) if value == "shop" else before[ref(products[1])])


def test_the_picker_marks_the_products_own_pick(seen, scope):
    scope("product")
    client, products, styles, _ = seen
    pick(client, products[0], styles[2].slug)
    for product, pressed in ((products[0], styles[2].slug), (products[1], None)):
        html = client.get(product.get_absolute_url()).content.decode()
        marked = re.findall(r'value="([^"]*)" aria-pressed="true"', html)
        assert marked == ([pressed] if pressed else [])
        assert ("data-stylestore-reset" in html) == bool(pressed)


def test_a_pin_outlasts_remembered_looks_and_late_impressions():
    shown, product = {}, "shop.product:1"
    looks.pin(shown, product, "3", at=1)
    for source in range(2, looks.MAX_LOOKS + 10):
        looks.remember(shown, source, ChoiceRecord("c", source, 3, 0.5, 0.0, "global", "3", (2, 3)), at=100 + source)
    assert len(shown) == looks.MAX_LOOKS and looks.pinned(shown, product) == "3"
    # The impression of a look drawn before the pick arrives late: the pick stays.
    looks.remember(shown, 1, ChoiceRecord("d", 1, 2, 0.5, 0.0, "global", "2", (2, 3)), at=999)
    assert looks.pinned(shown, product, 1) == "3"
    looks.pin(shown, product, None, at=1_000)
    assert looks.pinned(shown, product, 1) is None and product not in shown


def test_an_image_pinned_before_pins_were_per_product_keeps_its_pick_until_the_next():
    shown = {"5": ["pick", "original", 1]}
    assert looks.pinned(shown, "shop.product:9", 5) == "original"
    assert looks.pinned(shown, "shop.product:9", 6) is None  # another of its images: not pinned then
    looks.pin(shown, "shop.product:9", "3", at=2, source_id=5)
    assert shown == {"shop.product:9": ["pick", "3", 2]}
