"""Purchases: through the events API and the checkout's Python call, attributed to the
look the visitor saw, counted per style; and the reward the policy optimises."""
from decimal import Decimal
from html import unescape

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Sum
from django.test import Client, RequestFactory

from stylestore.conf import stylestore_settings
from stylestore.models import StyleEvent, StyleHourlyStats, Visitor
from stylestore.personalization import analytics, events, population
from stylestore.personalization.identity import get_visitor

from .conftest import impressions, page_images, post_events, style_of

pytestmark = pytest.mark.django_db

ANALYTICS_URL = "/admin/stylestore/styleevent/analytics/"


@pytest.fixture
def seen(client, world):
    """A visitor who has seen a listing of 3 products x 3 styles (impressions reported)."""
    products, styles = world(3, 3)
    html = client.get("/").content.decode()
    assert post_events(client, impressions(html)).status_code == 202
    looks = {ref: int(style_of(attrs["src"])) for ref, attrs in page_images(html).items()}
    return products, styles, looks


def counted(style_id):
    """(purchases, {currency: revenue}) of a style's hourly counters: the counts and each
    currency's revenue may sit in rows of their own."""
    rows = StyleHourlyStats.objects.filter(style_id=style_id)
    revenue = dict(rows.filter(revenue__gt=0).values("currency").annotate(sum=Sum("revenue"))
                   .values_list("currency", "sum"))
    return rows.aggregate(n=Sum("purchases"))["n"], revenue


def purchase(product, value="49.90", currency="USD", event_id="order-1042-1", **extra):
    return {"kind": "purchase", "source": f"shop.product:{product.pk}", "value": value, "currency": currency,
            "event_id": event_id, **extra}


def test_a_purchase_is_attributed_to_the_look_seen_and_counted_once(client, seen):
    products, styles, looks = seen
    style_id = looks[f"shop.product:{products[0].pk}"]
    response = post_events(client, [purchase(products[0])])
    assert response.status_code == 202 and response.json()["accepted"] == 1
    row = StyleEvent.objects.get(kind="purchase")
    impression = StyleEvent.objects.get(kind="impression", source_id=row.source_id)
    assert (row.style_id, row.choice_id, row.value, row.currency) == (style_id, impression.choice_id,
                                                                      Decimal("49.90"), "USD")
    assert row.propensity == impression.propensity and row.reason == impression.reason
    assert counted(style_id) == (1, {"USD": Decimal("49.90")})

    retried = post_events(client, [purchase(products[0])]).json()  # the same order line again
    assert (retried["accepted"], retried["duplicates"]) == (0, 1)
    assert StyleEvent.objects.filter(kind="purchase").count() == 1
    assert counted(style_id) == (1, {"USD": Decimal("49.90")})

    # Another order of the same product: counted, the impression's choice id kept by the first.
    post_events(client, [purchase(products[0], value="10", event_id="order-1043-1")])
    second = StyleEvent.objects.get(kind="purchase", event_id="order-1043-1")
    assert second.style_id == style_id and second.choice_id == ""
    assert counted(style_id) == (2, {"USD": Decimal("59.90")})


def test_revenue_is_kept_and_shown_per_currency(client, seen, django_user_model):
    """Stylestore converts no currency: a shop selling in several sees each one's revenue."""
    products, styles, looks = seen
    style_id = looks[f"shop.product:{products[0].pk}"]
    response = post_events(client, [purchase(products[0]), purchase(products[0], "20", "EUR", "order-1043-1"),
                                     purchase(products[0], "5.10", "USD", "order-1044-1")])
    assert response.json()["accepted"] == 3
    assert counted(style_id) == (3, {"EUR": Decimal("20"), "USD": Decimal("55.00")})

    (row,) = [row for row in analytics.style_rows(analytics.window_start(1)) if row.style.pk == style_id]
    assert (row.purchases, row.revenue) == (3, {"EUR": Decimal("20"), "USD": Decimal("55.00")})
    (category,) = [c for c in analytics.category_rows(analytics.window_start(1)) if c.purchases]
    assert category.revenue == row.revenue
    analyst_client = Client()
    analyst_client.force_login(django_user_model.objects.create_superuser("ana", password="secret-pass-123"))
    html = unescape(analyst_client.get(ANALYTICS_URL).content.decode())
    assert "20.00\xa0EUR · 55.00\xa0USD" in html and "75.00" not in html  # never added up across currencies

    sheet = analyst_client.get(ANALYTICS_URL, {"table": "styles", "format": "csv"}).content.decode().splitlines()
    header, *lines = sheet
    assert header.split(",")[7:10] == ["purchases", "revenue_EUR", "revenue_USD"]
    (line,) = [line for line in lines if line.startswith(f"{row.style.name},")]
    assert line.split(",")[7:10] == ["3", "20.0000", "55.0000"]


def test_a_purchase_of_a_product_never_shown_counts_for_no_style(client, world, make_products):
    world(1, 2)
    (unseen,) = make_products(1, start=5)
    assert post_events(client, [purchase(unseen)]).status_code == 202
    row = StyleEvent.objects.get(kind="purchase")
    assert row.style_id is None and row.choice_id == "" and row.value == Decimal("49.90")
    assert not StyleHourlyStats.objects.filter(purchases__gt=0).exists()


@pytest.mark.parametrize(
    "change, field, message",
    [
        ({"value": "-5"}, "0.value", "positive amount"),
        ({"value": "0"}, "0.value", "positive amount"),
        ({"value": "12.345678"}, "0.value", "decimal places"),
        ({"value": "lots"}, "0.value", "number"),
        ({"currency": "usd"}, "0.currency", "ISO 4217"),
        ({"currency": "ABC"}, "0.currency", "ISO 4217"),
        ({"currency": None}, "0.currency", ""),
        ({"event_id": None}, "0.event_id", "Required for purchase events"),
        ({"source": "shop.product:99999"}, "0.source", ""),
    ],
)
def test_an_invalid_purchase_is_refused_with_a_message_and_nothing_is_recorded(client, seen, change, field,
                                                                                message):
    products, styles, looks = seen
    event = {key: value for key, value in {**purchase(products[0]), **change}.items() if value is not None}
    response = post_events(client, [event])
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert field in fields and message in " ".join(fields[field])
    assert not StyleEvent.objects.filter(kind="purchase").exists()


def test_the_schema_documents_the_purchase_event(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    event = schema["components"]["schemas"]["EventRequest"]
    assert "purchase" in schema["components"]["schemas"]["EventKindEnum"]["enum"]
    assert {"value", "currency"} <= set(event["properties"])
    assert "ISO 4217" in event["properties"]["currency"]["description"]


def checkout_request(client):
    """A request of the client's visitor, as a checkout view receives it."""
    request = RequestFactory().post("/checkout/")
    request.COOKIES.update({name: morsel.value for name, morsel in client.cookies.items()})
    request.session = {}
    return request


def test_record_purchase_from_python_attributes_each_line_and_is_idempotent_by_order(client, seen):
    products, styles, looks = seen
    request = checkout_request(client)
    lines = [(products[0], Decimal("20.00")), (products[1], Decimal("5.50")), (products[0], Decimal("1.00"))]
    report = events.record_purchase(request, "A-77", lines, "EUR")
    assert (report.accepted, report.duplicates) == (2, 0)  # two lines of one product: one purchase
    rows = {row.source.object_id: row for row in StyleEvent.objects.filter(kind="purchase").select_related("source")}
    assert rows[str(products[0].pk)].value == Decimal("21.00") and rows[str(products[0].pk)].currency == "EUR"
    assert rows[str(products[1].pk)].style_id == looks[f"shop.product:{products[1].pk}"]
    assert events.record_purchase(checkout_request(client), "A-77", lines, "EUR").duplicates == 2
    assert StyleEvent.objects.filter(kind="purchase").count() == 2
    assert get_visitor(request).visitor == Visitor.objects.get()

    with pytest.raises(ValueError, match="ISO 4217"):
        events.record_purchase(checkout_request(client), "A-78", lines, "euro")
    with pytest.raises(ValueError, match="positive"):
        events.record_purchase(checkout_request(client), "A-78", [(products[2], Decimal("-1"))], "EUR")
    assert StyleEvent.objects.filter(kind="purchase").count() == 2


def test_purchases_take_from_the_event_budgets(client, seen, settings):
    products, styles, looks = seen
    # The fixture's listing sent 3 impressions: 2 purchases fit in a budget of 5, a third not.
    settings.STYLESTORE = {**settings.STYLESTORE, "EVENT_BUDGETS": {"VISITOR": "5/hour"}}
    assert post_events(client, [purchase(products[0], event_id="order-1-aaaa"),
                                purchase(products[1], event_id="order-1-bbbb")]).status_code == 202
    assert post_events(client, [purchase(products[2], event_id="order-2-cccc")]).status_code == 429
    assert StyleEvent.objects.filter(kind="purchase").count() == 2


# ---------------------------------------------------------------------- the reward


def test_reward_setting_is_validated(settings):
    settings.STYLESTORE = {**settings.STYLESTORE, "REWARD": "revenue"}
    with pytest.raises(ImproperlyConfigured, match=r"STYLESTORE\['REWARD'\] must be one of 'click', 'add_to_cart'"):
        stylestore_settings.REWARD


def counters(style, *, impressions, clicks=0, add_to_carts=0, purchases=0):
    StyleHourlyStats.objects.create(style=style, hour=population.hour_start(events.timezone.now()),
                                    impressions=impressions, clicks=clicks, add_to_carts=add_to_carts,
                                    purchases=purchases)


@pytest.mark.parametrize("reward, best", [("click", 0), ("add_to_cart", 1), ("purchase", 1)])
def test_the_population_prefers_the_style_that_wins_the_configured_reward(settings, make_styles, reward, best):
    """Style 0 gets clicks but no add to carts; style 1 half the clicks, and the carts
    and purchases."""
    settings.STYLESTORE = {**settings.STYLESTORE, "REWARD": reward}
    styles = make_styles(2)
    counters(styles[0], impressions=2000, clicks=200, add_to_carts=2, purchases=0)
    counters(styles[1], impressions=2000, clicks=100, add_to_carts=60, purchases=30)
    model = population.global_model()
    ranked = sorted((str(s.pk) for s in styles), key=model.base_ctr, reverse=True)
    assert ranked[0] == str(styles[best].pk)
    assert population.best_style((str(styles[0].pk), str(styles[1].pk)), model) == str(styles[best].pk)


@pytest.mark.parametrize("reward, clicks, carts", [("click", 1, 2), ("add_to_cart", 1, 1), ("purchase", 1, 0)])
def test_the_visitor_state_counts_the_reward_as_its_success(client, seen, settings, reward, clicks, carts):
    """A click, an add to cart and a purchase of one look: the reward is the state's
    success (its click column), deeper outcomes extra evidence, shallower ones nothing."""
    products, styles, looks = seen
    settings.STYLESTORE = {**settings.STYLESTORE, "REWARD": reward}
    ref = f"shop.product:{products[0].pk}"
    choice = page_images(client.get("/").content.decode())[ref]["data-stylestore-choice"]
    post_events(client, [{"kind": "click", "choice": choice}, {"kind": "add_to_cart", "choice": choice},
                         purchase(products[0])])
    counters_of_look = Visitor.objects.get().state["s"][str(looks[ref])]
    assert (counters_of_look[2], counters_of_look[3]) == (clicks, carts)


def test_a_purchase_in_the_batch_of_its_impression_is_attributed_to_it(client, world):
    products, styles = world(2, 2)
    html = client.get("/").content.decode()
    shown = page_images(html)[f"shop.product:{products[1].pk}"]
    response = post_events(client, [{"kind": "impression", "choice": shown["data-stylestore-choice"]},
                                    purchase(products[1])])
    assert response.json()["accepted"] == 2
    row = StyleEvent.objects.get(kind="purchase")
    assert row.style_id == int(style_of(shown["src"])) and row.choice_id == StyleEvent.objects.get(
        kind="impression").choice_id
