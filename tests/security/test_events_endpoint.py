"""The visitor events endpoint is the one write open to anyone: JSON only, bounded in
size before parsing, never a server error on hostile bodies, and throttled per client
address in a way a forged ``X-Forwarded-For`` cannot dodge (``NUM_PROXIES``)."""
import json

import pytest
from django.core.cache import cache
from django.test import Client

from stylestore.api.personalization import MAX_EVENTS_BODY

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/visitor/events/"
PICK = json.dumps({"kind": "pick", "style": None})


@pytest.fixture(autouse=True)
def fresh_throttle_counters():
    cache.clear()
    yield
    cache.clear()


def post(client, body, content_type="application/json", **headers):
    return client.generic("POST", EVENTS, body, content_type=content_type, **headers)


@pytest.mark.parametrize("content_type, body", [
    ("application/x-www-form-urlencoded", "kind=pick&style="),
    ("multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\npick\r\n--x--"),
    ("text/plain", PICK),
    ("text/html", "<html></html>"),
    ("application/xml", "<events/>"),
])
def test_only_json_is_accepted(client, content_type, body):
    response = post(client, body, content_type)
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


@pytest.mark.parametrize("size", [MAX_EVENTS_BODY + 1, 1024 * 1024, 8 * 1024 * 1024])
def test_oversized_bodies_are_refused(client, size):
    body = '{"kind": "pick", "style": "' + "x" * size + '"}'
    response = post(client, body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize("body", [
    "[" * 5000 + "]" * 5000,  # nesting that overflows Python's JSON decoder
    '{"kind": "pick", "style": "\\ud800"}',  # a lone surrogate
    b"\xff\xfe{\x00}\x00",  # not UTF-8
    "null", "42", '"a string"', "{}", "[[]]", '[{"kind": {"nested": []}}]',
    '{"kind": "view", "source": "shop.product:99999999999999999999999"}',
    '{"kind": "click", "choice": "' + "A" * 600 + '"}',
])
def test_hostile_json_is_a_client_error(client, body):
    response = post(client, body)
    assert 400 <= response.status_code < 500, response.content
    assert "error" in response.json()


def throttle(settings, num_proxies, rate="3/minute"):
    rates = {**settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {}), "stylestore_anon": rate,
             "stylestore_visitor": None}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates, "NUM_PROXIES": num_proxies}


def test_forged_forwarded_for_does_not_dodge_the_limit_without_proxies(settings):
    """NUM_PROXIES = 0 (clients connect directly): the header is ignored."""
    throttle(settings, 0)
    codes = [post(Client(), PICK, REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}").status_code
             for i in range(4)]
    assert codes == [202, 202, 202, 429]


def test_clients_behind_one_proxy_are_counted_apart(settings):
    """NUM_PROXIES = 1: the address the proxy appended is the client; what the client
    itself put in front of it is not trusted."""
    throttle(settings, 1)
    proxy = "10.0.0.2"

    def from_client(address, forged=""):
        chain = f"{forged}, {address}" if forged else address
        return post(Client(), PICK, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=chain).status_code

    assert [from_client("198.51.100.1") for _ in range(3)] == [202, 202, 202]
    assert from_client("198.51.100.1", forged="192.0.2.55") == 429  # a forged first hop changes nothing
    assert from_client("198.51.100.2") == 202  # another client behind the same proxy
