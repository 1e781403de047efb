"""Recording events: validation, idempotency, throttling, bounded state and retention."""
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from stylestore.models import Style, StyleEvent, StyleHourlyStats, ViewerDailyStats, Visitor
from stylestore.personalization import analytics, caches, choices, embeddings, events, policy, population
from stylestore.schedules import PURGE_SCHEDULE, ensure_schedules

from .conftest import EVENTS_URL, impressions, post_events, unit, view_product

pytestmark = pytest.mark.django_db


@pytest.fixture
def page(client, world):
    """A visitor who has loaded a listing of 3 products x 3 styles."""
    products, styles = world(3, 3)
    html = client.get("/").content.decode()
    return products, styles, html


def test_impressions_are_logged_with_their_propensity_and_counted(client, page):
    products, styles, html = page
    response = post_events(client, impressions(html))
    assert response.status_code == 202
    assert response.json()["accepted"] == 3 and response.json()["duplicates"] == 0
    rows = StyleEvent.objects.filter(kind="impression")
    assert rows.count() == 3
    for row in rows:
        assert 0 < row.propensity <= 1 and row.reason in {"global", "explore"}
        assert row.available == [s.pk for s in styles] and row.source_id is not None
    stats = StyleHourlyStats.objects.get()
    assert stats.impressions == 3 and stats.clicks == 0
    assert Visitor.objects.get().state["c"]  # the sticky choice is remembered


def test_a_click_counts_once_and_brings_its_lost_impression(client, page):
    products, styles, html = page
    click = impressions(html, kind="click")[:1]
    assert post_events(client, click).json()["accepted"] == 1
    assert post_events(client, click).json()["duplicates"] == 1  # at most one click per impression
    assert post_events(client, impressions(html)[:1]).json()["duplicates"] == 1  # the impression is there already
    assert StyleEvent.objects.filter(kind="click").count() == 1
    assert StyleEvent.objects.filter(kind="impression").count() == 1
    stats = StyleHourlyStats.objects.get()
    assert (stats.impressions, stats.clicks) == (1, 1)


def test_add_to_cart_and_event_id_idempotency(client, page):
    products, styles, html = page
    cart = [{**impressions(html, kind="add_to_cart")[0], "event_id": "cart-0001"},
            {"kind": "view", "source": f"shop.product:{products[2].pk}", "event_id": "view-0001"}]
    assert post_events(client, cart).json()["accepted"] == 2
    retried = post_events(client, cart).json()
    assert (retried["accepted"], retried["duplicates"]) == (0, 2)
    assert StyleEvent.objects.filter(kind="add_to_cart").count() == 1
    assert StyleEvent.objects.filter(kind="view").count() == 1
    assert StyleHourlyStats.objects.get().add_to_carts == 1


def test_a_single_event_object_is_accepted(client, page):
    products, styles, html = page
    response = post_events(client, {"kind": "pick", "style": styles[0].slug})
    assert response.status_code == 202
    assert Visitor.objects.get().state["p"] == str(styles[0].pk)


@pytest.mark.parametrize(
    "event, field",
    [
        ({"kind": "refund"}, "0.kind"),
        ({"kind": "purchase"}, "0.value"),
        ({"kind": "impression"}, "0.choice"),
        ({"kind": "click", "choice": "1|forged|1|1|1.0|0.0|global||1:bad"}, "0.choice"),
        ({"kind": "view"}, "0.source"),
        ({"kind": "view", "source": "shop.product:99999"}, "0.source"),
        ({"kind": "view", "source": "auth.user:1"}, "0.source"),
        ({"kind": "view", "source": "shop.product:1", "field": "thumbnail"}, "0.field"),
        ({"kind": "pick"}, "0.style"),
        ({"kind": "pick", "style": "no-such-style"}, "0.style"),
        ({"kind": "view", "source": "shop.product:1", "event_id": "short"}, "0.event_id"),
    ],
)
def test_invalid_events_are_refused_in_the_error_shape(client, page, event, field):
    response = post_events(client, [event])
    assert response.status_code == 400
    body = response.json()["error"]
    assert body["code"] == "invalid" and field in body["fields"]
    assert not StyleEvent.objects.exists()


def test_one_bad_event_refuses_the_whole_batch(client, page):
    products, styles, html = page
    response = post_events(client, [*impressions(html), {"kind": "pick", "style": "nope"}])
    assert response.status_code == 400 and "3.style" in response.json()["error"]["fields"]
    assert not StyleEvent.objects.exists()


def test_batch_size_body_size_and_content_type_are_limited(client, page):
    products, styles, html = page
    view = {"kind": "view", "source": f"shop.product:{products[0].pk}"}
    assert post_events(client, [view] * (events.MAX_BATCH + 1)).status_code == 400
    assert post_events(client, []).status_code == 400
    padded = [{**view, "field": "x" * 60} for _ in range(40)] * 20
    response = post_events(client, padded)
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"
    response = client.post(EVENTS_URL, data={"kind": "view"})  # a form post
    assert response.status_code == 415
    response = client.post(EVENTS_URL, data="{not json", content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "parse_error"


def test_events_are_throttled_per_visitor(client, page, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        **settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {}), "stylestore_visitor": "3/minute"}}
    products, styles, html = page
    view = [{"kind": "pick", "style": None}]
    assert [post_events(client, view).status_code for _ in range(4)] == [202, 202, 202, 429]
    from django.test import Client

    other = Client()  # another visitor from the same address is not held back
    other.get("/")
    assert post_events(other, view).status_code == 202


def test_events_are_throttled_per_ip(client, page, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        **settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {}), "stylestore_anon": "2/minute"}}
    from django.test import Client

    visitors = [Client() for _ in range(3)]
    codes = []
    for visitor in visitors:
        visitor.get("/")
        codes.append(post_events(visitor, [{"kind": "pick", "style": None}]).status_code)
    assert codes == [202, 202, 429]
    assert "Retry-After" in post_events(visitors[0], [{"kind": "pick", "style": None}])


def test_state_stays_under_1kb_after_many_events(client, make_products, make_styles, make_variant):
    """Twelve styles (more than the state keeps), hundreds of views, impressions,
    clicks, add to carts and picks: the stored state stays bounded."""
    styles = make_styles(12)
    products = make_products(12, looks=list(range(12)))
    for product in products:
        for style in styles:
            make_variant(product, style)
    for round_ in range(6):
        views = [{"kind": "view", "source": f"shop.product:{product.pk}"} for product in products]
        assert post_events(client, views).json()["accepted"] == 12
        # Age the views, so the next round's are new views rather than refreshes.
        recent = Visitor.objects.get().recent_views
        Visitor.objects.update(recent_views={source: at - 3600 for source, at in recent.items()})
        html = client.get("/").content.decode()
        batch = impressions(html) + impressions(html, kind="click")[:3] + impressions(html, kind="add_to_cart")[:2]
        assert post_events(client, batch[:events.MAX_BATCH]).status_code == 202
        post_events(client, [{"kind": "pick", "style": styles[round_].slug}])
    visitor = Visitor.objects.get()
    assert StyleEvent.objects.filter(kind="view").count() == 72
    assert len(json.dumps(visitor.state)) < policy.MAX_STATE_BYTES
    assert len(visitor.state["s"]) <= policy.PolicyParams().max_styles
    assert len(visitor.recent_views) <= events.MAX_RECENT_VIEWS


def test_purge_deletes_what_is_older_than_the_retention(client, page, settings):
    products, styles, html = page
    view_product(client, products[0])
    post_events(client, impressions(html))
    old = timezone.now() - timedelta(days=91)
    StyleEvent.objects.filter(kind="impression").update(created_at=old)
    StyleHourlyStats.objects.update(hour=old)
    viewer_rows = ViewerDailyStats.objects.count()
    assert viewer_rows  # the impressions were credited to the product viewed before them
    ViewerDailyStats.objects.update(day=old.date())
    from django.test import Client

    idle = Client()
    view_product(idle, products[1])
    Visitor.objects.exclude(pk=Visitor.objects.order_by("pk").first().pk).update(last_seen_at=old)

    assert events.purge_expired() == {"events": 3, "visitors": 1, "hourly_stats": 1, "viewer_stats": viewer_rows,
                                      "erased_visitors": 0}
    assert not ViewerDailyStats.objects.exists()
    assert list(StyleEvent.objects.values_list("kind", flat=True)) == ["view"]
    assert Visitor.objects.count() == 1


def test_the_purge_runs_daily(db):
    from django_q.models import Schedule

    ensure_schedules()
    schedule = Schedule.objects.get(name=PURGE_SCHEDULE)
    assert schedule.func == "stylestore.personalization.events.purge_expired"
    assert schedule.schedule_type == Schedule.DAILY


def test_a_deleted_styles_choice_is_not_counted(client, page):
    products, styles, html = page
    for style in styles:
        style.delete()
    response = post_events(client, impressions(html))
    assert response.json()["duplicates"] == 3 and not StyleEvent.objects.exists()


def test_server_side_view_is_skipped_without_a_known_image(rf, category, db):
    from shop.models import Product
    from stylestore.personalization.identity import get_visitor

    product = Product.objects.create(name="Bare", slug="bare", category=category, price="1.00")
    request = rf.get("/")
    assert events.record_view(request, product, "image") is False
    assert get_visitor(request).consent and not Visitor.objects.exists()


def test_choice_tokens_belong_to_one_visitor_and_survive_a_secret_key_rotation(settings):
    record = choices.ChoiceRecord(choice_id="c" * 12, source_id=3, style_id=2, propensity=0.25, history_share=0.5,
                                  reason="history", sticky="2", available=(1, 2))
    token = choices.sign_choice("visitor-a", record)
    assert choices.read_choice("visitor-a", token) == record
    assert choices.read_choice("visitor-b", token) is None  # made for another visitor
    assert choices.read_choice("visitor-a", token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-new-secret-" + "x" * 40, [old_key]
    assert choices.read_choice("visitor-a", token) == record  # issued before the rotation
    assert choices.read_choice("visitor-a", choices.sign_choice("visitor-a", record)) == record
    settings.SECRET_KEY_FALLBACKS = []
    assert choices.read_choice("visitor-a", token) is None  # the old key retired


def test_a_views_preference_is_computed_once_per_photo_and_matches_the_policy(world):
    world(2, 3)
    temperature = population.policy_params().temperature
    expected = policy.view_preference(embeddings.style_table(), unit(1), temperature)
    assert max(expected, key=expected.get) == str(Style.objects.get(slug="s1").pk)
    first = embeddings.view_preference(7, unit(1), temperature)
    assert first == expected
    assert embeddings.view_preference(7, unit(2), temperature) is first  # per photo, for every visitor
    assert embeddings.view_preference(8, None, temperature) == {}  # no embedding yet: teaches nothing
    assert embeddings.view_preference(9, [1.0, 0.0], temperature) == {}  # not the styles' dimension
    assert embeddings.view_preference(10, [0.0] * len(unit(1)), temperature) == {}  # a zero vector
    caches.clear_caches()
    assert embeddings.view_preference(7, unit(2), temperature) != first  # recomputed once the caches turn over


def test_repeated_picks_collapse_to_one_row_and_one_count(client, page):
    """Issue 19: every pick without an event_id was a new row and a new count."""
    products, styles, html = page
    pick = {"kind": "pick", "style": styles[0].slug}
    body = post_events(client, [pick] * 20).json()
    assert (body["accepted"], body["duplicates"]) == (1, 19)
    for _ in range(5):
        assert post_events(client, [pick]).json()["duplicates"] == 1
    assert StyleEvent.objects.filter(kind="pick").count() == 1
    assert sum(StyleHourlyStats.objects.values_list("picks", flat=True)) == 1
    post_events(client, [{"kind": "pick", "style": styles[1].slug}])
    (row,) = StyleEvent.objects.filter(kind="pick")
    assert row.style_id == styles[1].pk and Visitor.objects.get().state["p"] == str(styles[1].pk)
    picks_by_style = dict(StyleHourlyStats.objects.filter(picks__gt=0).values_list("style_id", "picks"))
    assert picks_by_style == {styles[0].pk: 1, styles[1].pk: 1}


def budgets(settings, **rates):
    settings.STYLESTORE = {**settings.STYLESTORE, "EVENT_BUDGETS": {
        "IP": "1000/hour", "VISITOR": "1000/hour", "NEW_VISITORS_PER_IP": "1000/hour", **rates}}


def picks(styles, n):
    """``n`` picks that each change the look: each one a row."""
    return [{"kind": "pick", "style": styles[i % 2].slug} for i in range(n)]


def test_events_come_out_of_a_budget_per_visitor_and_per_address(page, settings):
    from django.test import Client

    products, styles, html = page
    budgets(settings, IP="8/hour", VISITOR="5/hour")
    first, second = Client(), Client()
    for visitor in (first, second):
        visitor.get("/")  # each has its visitor cookie
    assert [post_events(first, picks(styles, 2)).status_code for _ in range(3)] == [202, 202, 429]
    refused = post_events(first, picks(styles, 1))
    assert refused.status_code == 202  # one more fits the visitor's 5
    refused = post_events(first, picks(styles, 1))
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    # Another visitor at the same address has a budget of its own, within the address's
    # 8 (5 used): a refused request costs nothing.
    assert [post_events(second, picks(styles, n)).status_code for n in (2, 2, 1, 1)] == [202, 429, 202, 429]


def test_requests_without_a_visitor_make_few_visitors(settings, world):
    """Issue 19: every token-less POST created a Visitor."""
    from django.test import Client

    products, styles = world(1, 2)
    budgets(settings, NEW_VISITORS_PER_IP="3/hour")
    codes = [post_events(Client(), [{"kind": "pick", "style": styles[0].slug}]).status_code for _ in range(10)]
    assert codes == [202] * 3 + [429] * 7
    assert Visitor.objects.count() == 3 and StyleEvent.objects.count() == 3


def test_a_visitors_impressions_beyond_the_days_allowance_are_logged_but_not_counted(client, page, settings):
    """A crawler that runs the page's script sees hundreds of images in one look and never
    clicks: only its first COUNTED_IMPRESSIONS_PER_DAY a day reach the counters the
    population model learns from. The log keeps everything, and purchases always count."""
    settings.STYLESTORE = {**settings.STYLESTORE, "COUNTED_IMPRESSIONS_PER_DAY": 4}
    products, styles, html = page

    def counted(field="impressions"):
        return sum(StyleHourlyStats.objects.values_list(field, flat=True))

    post_events(client, impressions(html))
    assert counted() == 3
    again = client.get("/").content.decode()  # the listing again: new choices, the same looks
    post_events(client, impressions(again))
    assert counted() == 4 and StyleEvent.objects.filter(kind="impression").count() == 6
    visitor = Visitor.objects.get()
    assert (visitor.impressions_on, visitor.impressions_that_day) == (timezone.now().date(), 6)
    assert policy.VisitorState.from_dict(visitor.state).styles  # the visitor's own state learnt from all six

    # A click on an impression beyond the allowance: logged, not counted. A click on one
    # of the day's first four counts, however many impressions came between.
    post_events(client, impressions(again, kind="click")[-1:])
    assert StyleEvent.objects.filter(kind="click").count() == 1 and counted("clicks") == 0
    post_events(client, impressions(html, kind="click")[:1])
    assert StyleEvent.objects.filter(kind="click").count() == 2 and counted("clicks") == 1
    # The per-category figures, from the log, count the same rows.
    rows = analytics.category_rows(analytics.window_start(1))
    assert (sum(r.impressions for r in rows), sum(r.clicks for r in rows)) == (4, 1)
    # A purchase always counts.
    bought = post_events(client, [{"kind": "purchase", "source": f"shop.product:{products[0].pk}", "value": "20.00",
                                   "currency": "USD", "event_id": "order-1042-1"}])
    assert bought.status_code == 202, bought.content
    assert counted("purchases") == 1

    # A new day, a new allowance.
    Visitor.objects.update(impressions_on=timezone.now().date() - timedelta(days=1))
    post_events(client, impressions(client.get("/").content.decode()))
    assert counted() == 7
    assert Visitor.objects.get().impressions_that_day == 3

    # None counts everything.
    settings.STYLESTORE = {**settings.STYLESTORE, "COUNTED_IMPRESSIONS_PER_DAY": None}
    post_events(client, impressions(client.get("/").content.decode()) + impressions(again, kind="click")[:1])
    assert counted() == 10 and counted("clicks") == 2
