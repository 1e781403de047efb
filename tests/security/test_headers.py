"""The demo shop sends a Content-Security-Policy and a Permissions-Policy on every
response: storefront, API, API docs and admin. That its pages run under them without a
violation is checked in Chromium (tests/e2e/test_security_headers.py)."""
import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/", "/api/v1/styles/", "/api/docs/", "/admin/login/", "/no-such-page/"])
def test_every_response_carries_the_policies(client, path):
    response = client.get(path)
    directives = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    assert directives["script-src"] == "'self'"  # no inline or injected script runs
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    assert directives["default-src"] == "'self'" and directives["form-action"] == "'self'"
    policy = response["Permissions-Policy"]
    for feature in ("camera", "microphone", "geolocation", "payment"):
        assert f"{feature}=()" in policy
