"""Erase my data: every row tied to a visitor or a user account goes; aggregates stay."""
import pytest
from django.test import Client

from stylestore.models import StyleEvent, StyleHourlyStats, Visitor
from stylestore.personalization import erase
from stylestore.personalization.identity import unsign_token

from .conftest import ERASE_URL, impressions, post_events, view_product

pytestmark = pytest.mark.django_db


def browse(client, products, styles):
    """A visitor who viewed, saw, clicked, added to cart and picked: one of every event."""
    view_product(client, products[0])
    html = client.get("/").content.decode()
    post_events(client, impressions(html)[:1] + impressions(html, kind="click")[:1]
                + impressions(html, kind="add_to_cart")[:1])
    post_events(client, [{"kind": "pick", "style": styles[1].slug}])


def visitor_of(client):
    return Visitor.objects.get(key=unsign_token(client.cookies["stylestore_vid"].value)[0])


def test_erase_a_visitor_deletes_every_row_and_the_state(client, world):
    products, styles = world(2, 2)
    browse(client, products, styles)
    bystander = Client()
    browse(bystander, products, styles)
    mine = visitor_of(client)
    assert StyleEvent.objects.filter(visitor=mine).count() == 5 and mine.state["p"] == str(styles[1].pk)
    stats_before = list(StyleHourlyStats.objects.values_list("impressions", "clicks", "add_to_carts", "picks"))

    response = client.post(ERASE_URL)
    assert response.json() == {"visitors": 1, "events": 5}
    assert response.cookies["stylestore_vid"]["max-age"] == 0
    assert not Visitor.objects.filter(pk=mine.pk).exists()
    assert not StyleEvent.objects.filter(visitor_id=mine.pk).exists()
    assert Visitor.objects.get() == visitor_of(bystander) and StyleEvent.objects.count() == 5  # untouched
    # The per-style sums hold no identity: they stay.
    assert list(StyleHourlyStats.objects.values_list("impressions", "clicks", "add_to_carts", "picks")) == stats_before

    # The next page starts a new visitor with nothing remembered.
    response = client.get("/")
    assert unsign_token(response.cookies["stylestore_vid"].value)[0] != mine.key
    assert client.post(ERASE_URL).json() == {"visitors": 0, "events": 0}


def test_erase_a_user_account_on_every_device(world, django_user_model):
    products, styles = world(2, 2)
    ada = django_user_model.objects.create_user("ada", password="secret-pass-123", is_staff=True)
    devices = [Client(), Client()]
    for device in devices:
        browse(device, products, styles)
        device.post("/admin/login/", {"username": "ada", "password": "secret-pass-123", "next": "/admin/"})
    stranger = Client()
    browse(stranger, products, styles)
    assert Visitor.objects.filter(user=ada).count() == 2

    report = erase.erase_user(ada)
    assert report == {"visitors": 2, "events": 10}
    assert not Visitor.objects.filter(user=ada).exists()
    assert Visitor.objects.count() == 1 and StyleEvent.objects.count() == 5


def test_deleting_the_account_deletes_its_visitors(world, django_user_model):
    products, styles = world(1, 2)
    ada = django_user_model.objects.create_user("ada", password="secret-pass-123", is_staff=True)
    client = Client()
    browse(client, products, styles)
    client.post("/admin/login/", {"username": "ada", "password": "secret-pass-123", "next": "/admin/"})
    ada.delete()
    assert not Visitor.objects.exists() and not StyleEvent.objects.exists()


def test_erasure_works_after_consent_is_gone(client, world, settings):
    """Withdrawing consent must not lock a visitor out of erasing what was stored."""
    settings.STYLESTORE = {**settings.STYLESTORE, "CONSENT_REQUIRED": True}
    products, styles = world(1, 2)
    client.cookies["stylestore_consent"] = "1"
    browse(client, products, styles)
    token = client.cookies["stylestore_vid"].value
    client.cookies.clear()  # consent cookie gone, visitor token kept by a headless client
    response = client.post(ERASE_URL, headers={"X-Visitor-Id": token})
    assert response.json()["visitors"] == 1 and not Visitor.objects.exists()


def test_an_erased_visitors_token_is_revoked(client, world):
    """Issue 19: the old token recreated the same visitor, and its clicks counted again."""
    products, styles = world(2, 2)
    html = client.get("/").content.decode()
    token = client.cookies["stylestore_vid"].value
    key = unsign_token(token)[0]
    clicks = impressions(html, kind="click")
    assert post_events(client, clicks).json()["accepted"] == len(clicks)
    stats_before = list(StyleHourlyStats.objects.values_list("impressions", "clicks"))
    assert client.post(ERASE_URL, HTTP_X_VISITOR_ID=token).json()["visitors"] == 1

    replay = Client()
    response = post_events(replay, clicks, HTTP_X_VISITOR_ID=token)
    assert response.status_code == 400  # the choice ids were issued to the erased key
    assert list(StyleHourlyStats.objects.values_list("impressions", "clicks")) == stats_before
    response = post_events(replay, [{"kind": "view", "source": f"shop.product:{products[0].pk}"}],
                           HTTP_X_VISITOR_ID=token)
    assert response.status_code == 202
    assert unsign_token(response.json()["visitor"])[0] != key  # a new visitor, not the erased one
    assert not Visitor.objects.filter(key=key).exists() and Visitor.objects.count() == 1
    # A token that never stored anything is revoked by erasure too.
    fresh = Client()
    fresh.get("/")
    fresh_key = unsign_token(fresh.cookies["stylestore_vid"].value)[0]
    assert fresh.post(ERASE_URL).json() == {"visitors": 0, "events": 0}
    assert erase.is_revoked(fresh_key)


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://testserver.evil.example"])
def test_a_cross_site_form_post_cannot_erase(client, world, origin):
    """Issue 19: a form on another site could erase the visitor (the cookie went along
    wherever the browser sent it, e.g. from a sibling subdomain)."""
    products, styles = world(2, 2)
    browse(client, products, styles)
    response = client.post(ERASE_URL, HTTP_ORIGIN=origin)
    assert response.status_code == 403 and response.json()["error"]["code"] == "cross_site"
    assert client.post(ERASE_URL, HTTP_SEC_FETCH_SITE="cross-site").status_code == 403
    assert Visitor.objects.count() == 1 and StyleEvent.objects.count() == 5
    # The shop's own pages, and server-side or headless clients, still can.
    assert client.post(ERASE_URL, HTTP_ORIGIN="http://testserver").json()["visitors"] == 1


def test_a_headless_client_may_erase_from_another_origin(client, world):
    products, styles = world(2, 2)
    browse(client, products, styles)
    token = client.cookies["stylestore_vid"].value
    response = Client().post(ERASE_URL, HTTP_ORIGIN="https://storefront.example", HTTP_X_VISITOR_ID=token)
    assert response.json() == {"visitors": 1, "events": 5}
