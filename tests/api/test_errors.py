"""The error shape holds for every error under /api/, from DRF views and from Django."""
import pytest
from rest_framework.test import APIClient

from stylestore.api import views
from stylestore.api.exceptions import server_error

pytestmark = pytest.mark.django_db

ERROR_KEYS = {"code", "message", "fields"}


def error(response):
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == ERROR_KEYS, body
    return body["error"]


@pytest.mark.parametrize("path", ["/api/", "/api/v1/", "/api/v1/nope/", "/api/v1/styles", "/api/anything/at/all",
                                  "/api/v1/jobs/1/explode/", "/api/%FF/"])
def test_unknown_paths_are_json_404(api, path):
    for method in ("get", "post", "delete"):
        response = getattr(api, method)(path)
        assert response.status_code == 404
        assert error(response)["code"] == "not_found"


def test_unknown_paths_are_json_404_in_debug_too(api, settings):
    settings.DEBUG = True
    assert error(api.get("/api/v1/nope/"))["code"] == "not_found"


def test_unknown_version_is_404(api):
    response = api.get("/api/v2/styles/")
    assert response.status_code == 404 and error(response)["message"] == "Invalid version in URL path."


def test_method_not_allowed(api):
    response = api.post("/api/v1/sources/shop.product:1/variants/")
    assert response.status_code == 405 and error(response)["code"] == "method_not_allowed"


def test_not_acceptable(api):
    response = api.get("/api/v1/styles/", HTTP_ACCEPT="text/html")
    assert response.status_code == 406 and error(response)["code"] == "not_acceptable"


def test_unknown_format_suffix_is_404(api):
    assert error(api.get("/api/v1/styles/", {"format": "xml"}))["code"] == "not_found"


def test_invalid_token_is_401_even_on_public_endpoints(api):
    api.credentials(HTTP_AUTHORIZATION="Token nope")
    response = api.get("/api/v1/styles/")
    assert response.status_code == 401 and error(response)["code"] == "authentication_failed"
    assert response["WWW-Authenticate"] == "Token"


def test_anonymous_requests_are_throttled_per_client(api, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"stylestore_anon": "2/minute"}}
    assert [api.get("/api/v1/styles/").status_code for _ in range(2)] == [200, 200]
    response = api.get("/api/v1/styles/")
    assert response.status_code == 429
    assert error(response)["code"] == "throttled" and 0 < int(response["Retry-After"]) <= 60
    # Another client address has its own budget.
    assert api.get("/api/v1/styles/", REMOTE_ADDR="10.0.0.9").status_code == 200


def test_authenticated_requests_are_throttled_per_user(editor, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {"stylestore_anon": "1/minute", "stylestore_user": "3/minute"}}
    assert [editor.get("/api/v1/jobs/").status_code for _ in range(3)] == [200, 200, 200]
    assert editor.get("/api/v1/jobs/").status_code == 429


def test_throttling_keys_on_the_forwarded_address_behind_proxies(api, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1,
                               "DEFAULT_THROTTLE_RATES": {"stylestore_anon": "1/minute"}}
    assert api.get("/api/v1/styles/", HTTP_X_FORWARDED_FOR="203.0.113.1").status_code == 200
    assert api.get("/api/v1/styles/", HTTP_X_FORWARDED_FOR="203.0.113.1").status_code == 429
    assert api.get("/api/v1/styles/", HTTP_X_FORWARDED_FOR="203.0.113.2").status_code == 200


def test_throttling_can_be_switched_off(api, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"stylestore_anon": None}}
    assert {api.get("/api/v1/styles/").status_code for _ in range(5)} == {200}


def test_request_django_refuses_is_json_400(api):
    response = api.get("/api/v1/styles/", HTTP_HOST="evil.example")  # not in ALLOWED_HOSTS
    assert response.status_code == 400 and error(response)["code"] == "bad_request"


def test_unhandled_exception_is_json_500(monkeypatch):
    def explode(self, request, *args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(views.StyleViewSet, "list", explode)
    response = APIClient(raise_request_exception=False).get("/api/v1/styles/")
    assert response.status_code == 500 and error(response)["code"] == "server_error"


def test_django_handlers_leave_the_shop_alone(rf, client):
    assert "text/html" in server_error(rf.get("/products/vase/"))["Content-Type"]
    assert client.get("/no-such-page/", HTTP_HOST="evil.example").status_code == 400
    assert "text/html" in client.get("/no-such-page/", HTTP_HOST="evil.example")["Content-Type"]


def test_bytes_that_are_not_utf8_are_client_errors(api, editor):
    assert error(api.get("/api/v1/styles/", QUERY_STRING="kind=%FF%FE"))["fields"] == {
        "kind": ['"\ufffd\ufffd" is not a valid choice.']}
    assert editor.get("/api/v1/jobs/", QUERY_STRING="source=%FF&ids=%C0").status_code == 400
    assert error(api.get("/api/v1/sources/%FF%FE/variants/"))["code"] == "malformed_reference"
    assert api.get("/api/v1/styles/%FF/").status_code == 404
