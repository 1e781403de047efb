"""The personalization API for headless storefronts."""
import pytest
from django.test import Client

from shop.models import Product
from stylestore.models import SourceImage, StyleEvent, StylizedImage, Visitor
from stylestore.personalization import identity

from .conftest import browsing_predicts_clicks, post_events, view_product

pytestmark = pytest.mark.django_db


def personalized(client, product, headers=None, **params):
    return client.get(f"/api/v1/sources/shop.product:{product.pk}/personalized/", params, headers=headers)


def test_personalized_pick_returns_the_variant_and_what_to_log(client, world):
    products, styles = world(2, 3)
    response = personalized(client, products[0], size=256)
    assert response.status_code == 200
    body = response.json()
    assert body["source"] == f"shop.product:{products[0].pk}" and body["field"] == "image"
    assert body["url"].startswith("http://testserver/media/stylestore/")
    assert (body["width"], body["height"]) == (256, 170)
    assert body["srcset"].count("http://testserver/media/") == 2 and body["srcset"].endswith(" 512w")
    assert body["style"]["slug"] in {s.slug for s in styles}
    assert 0 < body["probability"] <= 1 and body["reason"] in {"global", "explore"}
    assert body["choice_id"] and identity.unsign_token(body["visitor"])
    assert "private" in response["Cache-Control"] and "no-store" in response["Cache-Control"]


def test_a_headless_visitor_keeps_its_look_and_can_report_it(world):
    products, styles = world(3, 3)
    client = Client()  # a storefront server: no cookies kept, the token travels in X-Visitor-Id
    first = personalized(client, products[0]).json()
    token = first["visitor"]
    client.cookies.clear()
    again = personalized(client, products[0], headers={"X-Visitor-Id": token}).json()
    assert again["style"] == first["style"] and again["visitor"].split("-")[0] == token.split("-")[0]
    client.cookies.clear()
    response = post_events(client, [{"kind": "impression", "choice": again["choice_id"]},
                                    {"kind": "click", "choice": again["choice_id"]}], HTTP_X_VISITOR_ID=token)
    assert response.status_code == 202 and response.json()["accepted"] == 2
    assert Visitor.objects.get().key == identity.unsign_token(token)[0]


def test_a_headless_product_page_that_posts_its_view_first_gets_a_look_chosen_knowing_it(world, settings):
    """The README's headless flow: the view, then the image. Where browsing predicts
    clicks, a new visitor opening a product that looks like one style is shown that
    style, chosen from their own data; asked before the view, the same product gets
    the population's draw."""
    settings.STYLESTORE = {**settings.STYLESTORE, "EXPLORATION_EPSILON": 0.0}
    products, styles = world(3, 3, looks=[2, 2, 2])
    browsing_predicts_clicks(styles)
    before = [personalized(Client(), products[0]).json() for _ in range(6)]
    assert {body["reason"] for body in before} == {"global"}
    for visitor in range(6):
        client = Client()
        ref = f"shop.product:{products[visitor % 3].pk}"
        response = post_events(client, [{"kind": "view", "source": ref}])
        assert response.status_code == 202 and response.json()["accepted"] == 1
        body = personalized(client, products[visitor % 3]).json()
        assert (body["reason"], body["style"]["slug"]) == ("history", styles[2].slug), visitor
        post_events(client, [{"kind": "impression", "choice": body["choice_id"]}])
    shares = StyleEvent.objects.filter(kind=StyleEvent.Kind.IMPRESSION).values_list("history_share", flat=True)
    assert len(shares) == 6 and min(shares) > 0.4


def test_original_when_nothing_is_ready(client, make_products, make_styles, make_variant):
    (product,) = make_products(1)
    make_variant(product, make_styles(1)[0], review=StylizedImage.Review.REJECTED)
    body = personalized(client, product).json()
    assert body["url"] == f"http://testserver{product.image.url}"
    assert body["style"] is None and body["choice_id"] is None and body["srcset"] == ""
    assert body["reason"] == "original" and body["probability"] == 1.0


@pytest.mark.parametrize(
    "path, status, code",
    [
        ("/api/v1/sources/shop.product:99999/personalized/", 404, "unknown_reference"),
        ("/api/v1/sources/not-a-reference/personalized/", 400, "malformed_reference"),
        ("/api/v1/sources/auth.user:1/personalized/", 404, "unknown_reference"),
        ("/api/v1/sources/shop.product:99999/more-in-this-style/", 404, "unknown_reference"),
    ],
)
def test_bad_references_in_the_error_shape(client, db, path, status, code):
    response = client.get(path)
    assert response.status_code == status and response.json()["error"]["code"] == code


@pytest.mark.parametrize("params, field", [({"field": "thumbnail"}, "field"), ({"size": "0"}, "size"),
                                           ({"size": "huge"}, "size")])
def test_bad_parameters(client, world, params, field):
    products, _ = world(1, 1)
    response = personalized(client, products[0], **params)
    assert response.status_code == 400 and field in response.json()["error"]["fields"]


def test_more_in_this_style(client, make_products, make_styles, make_variant):
    products = make_products(5, looks=[0, 1, 1, 2, 2])
    styles = make_styles(3)
    for product in products:
        for style in styles:
            make_variant(product, style)
    post_events(client, [{"kind": "pick", "style": styles[1].slug}])
    response = client.get(f"/api/v1/sources/shop.product:{products[4].pk}/more-in-this-style/", {"limit": 2})
    assert response.status_code == 200
    results = response.json()["results"]
    assert {r["source"] for r in results} == {f"shop.product:{products[1].pk}", f"shop.product:{products[2].pk}"}
    assert all(r["image"]["style"]["slug"] == styles[1].slug for r in results)  # the pick, on them too
    assert results[0]["similarity"] >= results[1]["similarity"]
    response = client.get(f"/api/v1/sources/shop.product:{products[4].pk}/more-in-this-style/", {"limit": 99})
    assert response.status_code == 400


def test_more_in_this_style_reads_past_the_closest_candidates(client, make_products, make_styles, make_variant,
                                                              settings):
    """The ranking is read a few dozen photos at a time: when the closest 150 are not
    public, the next ones are still found, closest first (all in the one style)."""
    public = ["Vase 160", "Vase 170", "Vase 180"]
    settings.STYLESTORE = {**settings.STYLESTORE, "SOURCE_MODELS": {
        "shop.Product": {"fields": ["image"], "public": {"name__in": ["Vase 0", *public]}}}}
    viewed, *others = make_products(200, looks=[1] * 200)
    for rank, product in enumerate(others):  # Vase 1 closest to the viewed one's photo, Vase 199 furthest
        vector = list(SourceImage.objects.get(object_id=str(product.pk)).embedding)
        vector[2] += (rank + 1) / 200
        SourceImage.objects.filter(object_id=str(product.pk)).update(embedding=vector)
    (style,) = make_styles(1)
    for product in [viewed, *Product.objects.filter(name__in=public)]:
        make_variant(product, style)
    response = client.get(f"/api/v1/sources/shop.product:{viewed.pk}/more-in-this-style/", {"limit": 3})
    names = [Product.objects.get(pk=r["source"].split(":")[1]).name for r in response.json()["results"]]
    assert names == public


def test_consent_required_without_consent(client, world, settings):
    settings.STYLESTORE = {**settings.STYLESTORE, "CONSENT_REQUIRED": True}
    products, _ = world(1, 2)
    body = personalized(client, products[0]).json()
    assert body["visitor"] is None and body["choice_id"] is None and body["probability"] == 1.0
    response = post_events(client, [{"kind": "pick", "style": None}])
    assert response.status_code == 403 and response.json()["error"]["code"] == "consent_required"
    body = personalized(client, products[0], headers={"X-Visitor-Consent": "1"}).json()
    assert body["visitor"] is not None and body["choice_id"]


def test_session_users_need_no_csrf_token_for_beacons(world, django_user_model):
    """sendBeacon cannot send a CSRF token; the events endpoint must not ask a
    logged-in customer for one (the SameSite=Lax visitor cookie is the protection)."""
    world(1, 1)
    user = django_user_model.objects.create_user("ada", password="secret-pass-123")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/")
    assert post_events(client, [{"kind": "pick", "style": "s0"}]).status_code == 202


def test_the_schema_documents_the_endpoints(client, db):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    paths = schema["paths"]
    for path in ("/api/v1/sources/{reference}/personalized/", "/api/v1/sources/{reference}/more-in-this-style/",
                 "/api/v1/visitor/events/", "/api/v1/visitor/erase/"):
        assert path in paths
    assert {"202", "400", "413", "415", "429"} <= set(paths["/api/v1/visitor/events/"]["post"]["responses"])


def test_erase_endpoint(client, world):
    products, _ = world(2, 2)
    view_product(client, products[0])
    post_events(client, [{"kind": "pick", "style": "s1"}])
    response = client.post("/api/v1/visitor/erase/")
    assert response.status_code == 200 and response.json() == {"visitors": 1, "events": 2}
    assert response.cookies["stylestore_vid"]["max-age"] == 0
    assert not Visitor.objects.exists() and not StyleEvent.objects.exists()


def test_a_headless_product_page_can_ask_with_expect_view_and_report_the_view_with_the_impression(world, settings):
    """Two requests instead of three: the image with ``expect_view=true`` (chosen as if
    the view were recorded, nothing written), then the view and the impression in one
    batch; the look is the one the view-first flow gets, and the view counts once."""
    settings.STYLESTORE = {**settings.STYLESTORE, "EXPLORATION_EPSILON": 0.0}
    products, styles = world(3, 3, looks=[2, 2, 2])
    browsing_predicts_clicks(styles)
    for visitor in range(6):
        client = Client()
        product = products[visitor % 3]
        body = personalized(client, product, expect_view="true").json()
        assert (body["reason"], body["style"]["slug"]) == ("history", styles[2].slug), visitor
        assert not StyleEvent.objects.filter(kind=StyleEvent.Kind.VIEW, visitor__key=identity.unsign_token(
            body["visitor"])[0]).exists()  # asking wrote nothing
        ref = f"shop.product:{product.pk}"
        batch = [{"kind": "view", "source": ref}, {"kind": "impression", "choice": body["choice_id"]}]
        assert post_events(client, batch).json()["accepted"] == 2
        again = personalized(client, product, expect_view="true").json()  # a refresh: the same look
        assert again["style"] == body["style"]
        assert post_events(client, [{"kind": "view", "source": ref}]).json()["accepted"] == 0
    assert StyleEvent.objects.filter(kind=StyleEvent.Kind.VIEW).count() == 6
    shares = StyleEvent.objects.filter(kind=StyleEvent.Kind.IMPRESSION).values_list("history_share", flat=True)
    assert len(shares) == 6 and min(shares) > 0.4


def test_expect_view_must_be_a_boolean(client, world):
    products, _ = world(1, 1)
    response = personalized(client, products[0], expect_view="maybe")
    assert response.status_code == 400 and "expect_view" in response.json()["error"]["fields"]
