"""Visitor identity: our own signed cookie, consent, and the link to user accounts."""
import time

import pytest
from django.contrib.auth.models import User

from stylestore.models import StyleEvent, Visitor
from stylestore.personalization import identity

from .conftest import impressions, page_images, post_events, shown_styles, view_product

pytestmark = pytest.mark.django_db

COOKIE = "stylestore_vid"


@pytest.fixture
def consent_required(settings):
    settings.STYLESTORE = {**settings.STYLESTORE, "CONSENT_REQUIRED": True}


def test_a_new_visitor_gets_a_long_lived_httponly_lax_cookie_but_no_row(client, world):
    world(2, 2)
    response = client.get("/")
    cookie = response.cookies[COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["max-age"] == 365 * 24 * 3600
    assert identity.unsign_token(cookie.value) is not None
    assert "Cookie" in response["Vary"]
    assert not Visitor.objects.exists()  # browsing a listing stores nothing
    assert COOKIE not in client.get("/").cookies  # not re-sent on every response


def test_the_cookie_slides_once_a_day(client, world):
    world(1, 1)
    key = identity.new_key()
    client.cookies[COOKIE] = identity.sign_key(key, issued=int(time.time()) - 2 * 24 * 3600)
    response = client.get("/")
    assert identity.unsign_token(response.cookies[COOKIE].value)[0] == key  # same visitor, fresh expiry


def test_a_forged_or_tampered_cookie_is_replaced(client, world):
    world(1, 1)
    key = identity.new_key()
    for value in (key, identity.sign_key(key)[:-2] + "xx", "garbage"):
        client.cookies[COOKIE] = value
        response = client.get("/")
        assert identity.unsign_token(response.cookies[COOKIE].value)[0] != key
    assert not Visitor.objects.filter(key=key).exists()


def test_without_consent_nothing_is_stored_and_the_global_best_is_shown(client, world, consent_required):
    products, styles = world(3, 2)
    response = client.get("/")
    assert COOKIE not in response.cookies
    html = response.content.decode()
    assert "data-stylestore-choice" not in html and "stylestore.js" not in html
    assert len(set(shown_styles(client).values())) == 1  # one look for everyone: the global best
    detail = client.get(products[0].get_absolute_url()).content.decode()
    assert "data-stylestore-picker" not in detail
    assert post_events(client, [{"kind": "view", "source": f"shop.product:{products[0].pk}"}]).status_code == 403
    client.post("/stylestore/pick/", {"style": styles[1].slug, "next": "/"})
    assert not Visitor.objects.exists() and not StyleEvent.objects.exists()


def test_with_consent_the_visitor_is_remembered(client, world, consent_required):
    products, _ = world(2, 2)
    client.cookies["stylestore_consent"] = "granted"
    assert COOKIE in view_product(client, products[0]).cookies
    assert Visitor.objects.count() == 1 and StyleEvent.objects.filter(kind="view").count() == 1


def test_withdrawing_consent_deletes_the_cookie_and_the_data(client, world, consent_required):
    products, _ = world(2, 2)
    client.cookies["stylestore_consent"] = "1"
    html = client.get("/").content.decode()
    view_product(client, products[0])
    post_events(client, impressions(html))
    assert StyleEvent.objects.count() == 3
    client.cookies["stylestore_consent"] = "denied"
    response = client.get("/")
    assert response.cookies[COOKIE].value == "" and response.cookies[COOKIE]["max-age"] == 0
    assert not Visitor.objects.exists() and not StyleEvent.objects.exists()


def test_a_consent_cookie_that_merely_expired_keeps_the_data_until_the_purge(client, world, consent_required):
    products, _ = world(1, 1)
    client.cookies["stylestore_consent"] = "yes"
    view_product(client, products[0])
    del client.cookies["stylestore_consent"]
    response = client.get("/")
    assert response.cookies[COOKIE]["max-age"] == 0  # no longer used or sent back
    assert Visitor.objects.count() == 1


def test_header_identifies_a_headless_visitor(client, world):
    products, _ = world(1, 2)
    url = f"/api/v1/sources/shop.product:{products[0].pk}/personalized/"
    token = client.get(url).json()["visitor"]
    client.cookies.clear()
    again = client.get(url, HTTP_X_VISITOR_ID=token).json()
    assert identity.unsign_token(again["visitor"])[0] == identity.unsign_token(token)[0]


def test_login_links_the_visitor_and_a_new_device_adopts_the_state(client, world, django_user_model):
    products, styles = world(2, 3)
    user = django_user_model.objects.create_user("ada", password="secret-pass-123", is_staff=True)
    client.post("/stylestore/pick/", {"style": styles[1].slug, "next": "/"})
    client.post("/admin/login/", {"username": "ada", "password": "secret-pass-123", "next": "/admin/"})
    visitor = Visitor.objects.get()
    assert visitor.user == user

    from django.test import Client

    other_device = Client()
    other_device.post("/admin/login/", {"username": "ada", "password": "secret-pass-123", "next": "/admin/"})
    assert Visitor.objects.filter(user=user).count() == 2
    assert set(shown_styles(other_device).values()) == {str(styles[1].pk)}  # the pick followed ada


def test_logout_starts_a_new_visitor_and_another_account_does_not_inherit(client, world, django_user_model):
    world(1, 2)
    ada = django_user_model.objects.create_user("ada", password="secret-pass-123", is_staff=True)
    bob = django_user_model.objects.create_user("bob", password="secret-pass-123", is_staff=True)
    client.post("/admin/login/", {"username": "ada", "password": "secret-pass-123", "next": "/admin/"})
    ada_key = Visitor.objects.get(user=ada).key
    response = client.post("/admin/logout/")
    assert identity.unsign_token(response.cookies[COOKIE].value)[0] != ada_key
    client.post("/admin/login/", {"username": "bob", "password": "secret-pass-123", "next": "/admin/"})
    assert Visitor.objects.get(user=bob).key != ada_key
    assert Visitor.objects.get(key=ada_key).user == ada


def test_a_browser_of_one_account_is_not_relinked_to_another(rf, world):
    """Defence in depth for a login without a logout in between (sessions expired)."""
    world(1, 1)
    ada = User.objects.create_user("ada")
    bob = User.objects.create_user("bob")
    request = rf.get("/")
    context = identity.get_visitor(request)
    identity.link_user(context, ada)
    ada_key = context.key
    identity.link_user(context, bob)
    assert context.key != ada_key
    assert Visitor.objects.get(key=ada_key).user == ada and Visitor.objects.get(key=context.key).user == bob


def test_page_images_carry_the_visitor_bound_choice(client, world):
    """A choice id is signed for the visitor it was made for: another visitor's is refused."""
    world(1, 2)
    html = client.get("/").content.decode()
    (attrs,) = page_images(html).values()
    from django.test import Client

    stranger = Client()
    stranger.get("/")
    response = post_events(stranger, [{"kind": "click", "choice": attrs["data-stylestore-choice"]}])
    assert response.status_code == 400 and "0.choice" in response.json()["error"]["fields"]


@pytest.mark.parametrize("value", ["reject", "none", "null", "undefined", "necessary", "0;", "%30", "%31", "maybe",
                                   "", "essential-only"])
def test_only_explicit_agreement_is_consent(client, world, consent_required, value):
    """Issue 19: consent failed open, anything not on a list of refusals counted."""
    products, styles = world(1, 2)
    client.cookies["stylestore_consent"] = value
    assert COOKIE not in view_product(client, products[0]).cookies
    assert post_events(client, [{"kind": "pick", "style": styles[0].slug}]).status_code == 403
    response = post_events(client, [{"kind": "pick", "style": styles[0].slug}], HTTP_X_VISITOR_CONSENT=value)
    assert response.status_code == 403
    assert not Visitor.objects.exists() and not StyleEvent.objects.exists()


@pytest.mark.parametrize("value", ["1", "true", "Yes", " granted ", "ACCEPTED"])
def test_the_documented_agreements_are_consent(client, world, consent_required, value):
    products, styles = world(1, 2)
    response = post_events(client, [{"kind": "pick", "style": styles[0].slug}], HTTP_X_VISITOR_CONSENT=value)
    assert response.status_code == 202 and Visitor.objects.count() == 1


def test_a_shop_names_what_its_consent_banner_writes(client, world, settings):
    settings.STYLESTORE = {**settings.STYLESTORE, "CONSENT_REQUIRED": True, "CONSENT_GRANTED_VALUES": ["analytics"]}
    products, styles = world(1, 2)
    pick = [{"kind": "pick", "style": styles[0].slug}]
    assert post_events(client, pick, HTTP_X_VISITOR_CONSENT="1").status_code == 403
    assert post_events(client, pick, HTTP_X_VISITOR_CONSENT="analytics").status_code == 202
