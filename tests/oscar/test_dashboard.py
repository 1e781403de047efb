"""Stylestore inside Oscar's dashboard (stylestore.contrib.oscar.dashboard): the example
shop driven by dashboard_scenario.py in a process of its own, once for the module; each
test reads one of its observations."""

import pytest

from .conftest import run_scenario

pytestmark = pytest.mark.slow  # Oscar's migrations take tens of seconds here


@pytest.fixture(scope="module")
def seen(tmp_path_factory):
    return run_scenario("dashboard_scenario", tmp_path_factory)


def test_each_page_follows_oscars_dashboard_permissions(seen):
    access = seen["access"]
    assert access["anonymous_redirect"] == "/dashboard/login/?next=/dashboard/stylestore/styles/"
    assert access["anonymous"] == {"styles": 302, "progress": 302, "review": 302, "analytics": 302}
    assert access["plain"] == {"styles": 403, "progress": 403, "review": 403, "analytics": 403}  # no permission
    assert access["viewer"] == access["editor"] == {"styles": 200, "progress": 200, "review": 200, "analytics": 200}
    # Applying a style takes stylestore.apply_style, seeing the pages does not.
    assert seen["apply_access"] == {"anonymous": 302, "plain": 403, "viewer": 403, "editor": 200}
    assert seen["viewer_apply_post"] == 403


def test_the_menu_shows_each_page_to_those_who_may_open_it(seen):
    pages = ["/dashboard/stylestore/analytics/", "/dashboard/stylestore/progress/", "/dashboard/stylestore/review/",
             "/dashboard/stylestore/styles/"]
    assert not set(pages) & set(seen["menu"]["plain"])
    assert set(pages) <= set(seen["menu"]["viewer"]) and set(pages) <= set(seen["menu"]["editor"])


def test_the_styles_page_lists_the_styles_in_oscars_layout(seen):
    assert seen["styles_page"] == {"names": ["Look 0", "Look 1"], "edit_links": 2, "layout": True}


def test_the_analytics_report_is_in_oscars_layout(seen):
    assert seen["analytics_page"] == {"report": True, "window": True, "layout": True, "categories": True}
    # The report's CSV export, behind the page's permission.
    assert seen["analytics_csv"] == {"viewer": [200, "text/csv"], "plain": [403, "text/htm"]}


def test_apply_style_is_on_the_product_list_and_the_product_page_for_those_who_may(seen):
    assert seen["product_list"] == {"apply_button": True, "viewer_sees_it": False}
    assert seen["product_page"] == [200, True]


def test_the_apply_page_counts_and_estimates_before_queuing_anything(seen):
    assert seen["apply_page"] == {"status": 200, "titles": ["Blue vase", "Blue jug", "No photo"], "form": True,
                                  "without_image": True}
    # Two products with a photo x two styles; the product without a photo adds none.
    assert seen["recount"] == {"new": "4", "estimate": True, "rows_added": 0}


def test_bad_input_is_refused_with_the_reason_and_keeps_the_selection(seen):
    invalid = seen["invalid"]
    assert invalid["status"] == 200 and invalid["rows_added"] == 0
    assert invalid["errors"] == ["Choose at least one style.", "Select a valid choice"]
    assert invalid["kept_selection"] == 3
    assert seen["bad_selection"] == [302, ["Select the products to apply a style to."]]


def test_queuing_makes_the_rows_and_a_batch_and_says_what_was_queued(seen):
    queued, products = seen["queued"], seen["products"]
    assert queued["rows_added"] == queued["pending"] == 4
    assert queued["batch"] == {"variants": 4, "by": "editor"}
    assert queued["messages"] == ["Queued 4 images. Follow or cancel it."]
    # Then the progress of those products: two styles queued on each photographed one.
    assert queued["redirects"][0].startswith("/dashboard/stylestore/progress/?product=")
    assert dict(queued["progress_cells"]) == {str(products["Blue vase"]): "2", str(products["Blue jug"]): "2",
                                              str(products["No photo"]): "0"}


def test_select_all_on_a_searched_list_applies_to_what_the_search_finds(seen):
    assert seen["select_across"] == ["Red bowl"]


def test_progress_per_product_with_the_admins_words_and_polling(seen):
    products, progress = seen["products"], seen["progress"]
    assert sorted(progress["all"]) == sorted(str(products[t]) for t in ("Blue vase", "Blue jug", "Red bowl"))
    assert progress["one"] == [str(products["Blue jug"])]
    assert progress["label"][0].startswith("Styles: 0/2 ready · 2 queued, waiting for a worker")
    assert progress["script"]


def test_the_review_queue_lists_unreviewed_and_held_images_before_and_after(seen):
    review = seen["review"]
    ids = review["ids"]
    assert review["queue"] == sorted([ids["unreviewed"], ids["held"]])  # not the approved one
    assert review["held_only"] == [ids["held"]]
    assert review["before_after"] == [True, True] and review["gate_reason"]
    assert review["buttons"] == 2 and review["viewer_buttons"] == 0


def test_approve_and_reject_change_the_rows_for_reviewers_only(seen):
    decisions, ids = seen["decisions"], seen["review"]["ids"]
    assert decisions["viewer_post"] == 403 and decisions["held_after_viewer"] == "held"
    assert decisions["get"] == 405
    assert decisions["approve"] == ["/dashboard/stylestore/review/?held=1", "approved", ["Approved 1 image."]]
    assert decisions["reject"] == ["/dashboard/stylestore/review/", "rejected",
                                   ["Rejected 1 image: customers will not see it."]]
    assert decisions["nonsense"] == ["rejected", ["Choose approve or reject."]]
    assert decisions["offsite_next"] == "/dashboard/stylestore/review/"
    assert decisions["missing"] == 404
    assert decisions["queue_after"] == [] and ids


def test_a_page_of_the_review_queue_costs_the_same_queries_whatever_its_rows(seen):
    (one, one_cost), (three, three_cost) = seen["review_queries"]
    assert (one, three) == (1, 3)
    assert three_cost == one_cost


def test_manage_py_check_says_when_the_dashboard_app_or_its_urls_are_missing(seen):
    assert seen["checks"] == {"installed": [], "app_missing": ["stylestore.E060"], "urls_missing": ["stylestore.E061"]}
