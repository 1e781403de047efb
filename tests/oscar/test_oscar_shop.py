"""django-oscar 4.2 with stylestore.contrib.oscar: the example shop
(examples/oscar_shop) driven by scenario.py in a process of its own (Oscar's settings
are not the demo's), once for the module; each test reads one of its observations."""

import pytest

from .conftest import run_scenario

pytestmark = pytest.mark.slow  # Oscar's migrations take tens of seconds here


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    return run_scenario("scenario", tmp_path_factory)


def image_refs(shop, product_pks):
    return {f"catalogue.productimage:{pk}" for product in product_pks for pk in shop["images"][str(product)]}


def test_a_product_without_an_image_renders_oscars_placeholder(shop):
    assert shop["bare_page"] == {"status": 200, "placeholder": True}
    assert shop["listing_small"]["status"] == 200 and shop["listing_small"]["placeholder"]


def test_a_listing_costs_the_same_queries_for_two_or_six_products(shop):
    small, large = shop["listing_small"], shop["listing_large"]
    assert len(small["refs"]) == 2 and len(large["refs"]) == 6  # every card personalized
    assert large["queries"] == small["queries"]
    assert large["stylestore_queries"] == small["stylestore_queries"] == 2  # the page's variants, the visitor
    # Images new to the process cost one query more, once: their products' categories
    # (what the policy learns styles per category by).
    assert shop["listing_large_first"]["queries"] == small["queries"] + 1


def test_an_unpublished_product_appears_nowhere_public(shop):
    hidden = image_refs(shop, [shop["products"]["hidden"]])
    assert shop["hidden_detail"] == 404  # Oscar's own
    assert not hidden & set(shop["listing_large"]["refs"])
    assert not hidden & set(shop["detail"]["more"]) and not hidden & set(shop["api"]["more"])
    for suffix in ("variants", "personalized", "more-in-this-style"):
        assert shop["api"][f"hidden_image {suffix}"] == 404
        assert shop["api"][f"public_image {suffix}"] == 200


def test_more_in_this_style_ranks_products_never_the_products_own_images(shop):
    first = shop["products"]["public"][0]
    own = image_refs(shop, [first])
    assert len(own) == 2  # the product has a second image
    product_of = {f"catalogue.productimage:{pk}": product for product, pks in shop["images"].items() for pk in pks}
    for listed in (shop["detail"]["more"], shop["api"]["more"]):
        assert listed and not own & set(listed)
        products = [product_of[ref] for ref in listed]
        assert len(products) == len(set(products))  # one image per product


def test_the_product_page_shows_a_variant_the_picker_and_the_beacon_and_keeps_its_look(shop):
    detail = shop["detail"]
    assert detail["shown"][0].startswith("/media/stylestore/") and detail["shown"][0].endswith(".webp")
    assert len(set(detail["shown"])) == 1  # a refresh keeps the look
    assert detail["picker"]
    assert detail["beacon"] == [f"catalogue.productimage:{shop['images'][str(shop['products']['public'][0])][0]}"]


def test_dashboard_navigation_follows_permissions(shop):
    assert shop["dashboard"]["staff"] == {"status": 200, "styles_link": True, "analytics_link": True}
    assert shop["dashboard"]["plain"] == {"status": 200, "styles_link": False, "analytics_link": False}


def test_a_product_is_a_reference_for_its_images(shop):
    first = shop["products"]["public"][0]
    assert shop["api"]["public_product variants"] == 200 and shop["api"]["hidden_product variants"] == 404
    assert shop["api"]["product personalized"] == f"catalogue.productimage:{shop['images'][str(first)][0]}"


def test_apply_style_from_the_admins_product_changelist_queues_and_a_worker_renders(shop):
    applied = shop["apply_style"]
    assert applied["menu_link"] and applied["changelist"] == 200 and applied["progress_column"]
    assert applied["status"] == 302  # back to the changelist, with its message
    assert applied["new_jobs"] == applied["images_of_first"] == 2  # the product without an image has none
    assert applied["rendered"] == 2  # and the worker's task renders them, files stored


def test_new_visitors_keep_their_look_after_the_beacon_reports_the_view(shop):
    """Oscar's class-based product view sends product_viewed, wired to expect_view: the
    first load chooses as if the view were recorded, so the refresh matches it."""
    assert shop["refresh"] == [{"status": 202, "same": True}] * 6


def test_a_per_product_pick_shows_every_image_of_the_gallery_in_the_picked_look(shop):
    pick = shop["gallery_pick"]
    assert pick["status"] == 202 and pick["images"] == 2 and len(pick["before"]) == 2
    assert pick["after"] == [pick["picked"], pick["picked"]]
    # The page tells the storefront script which images a pick on this picker applies
    # to, so it shows the whole gallery in the picked look without a reload.
    product = f"catalogue.product:{pick['product']}"
    assert pick["marks"]["products"] == [product, product]
    assert [scope or mark for scope, mark in pick["marks"]["picker"]] == ["product", product]
