import re

import pytest
import yaml
from django.core.management import call_command

pytestmark = pytest.mark.django_db

OPERATIONS = {
    ("get", "/api/v1/styles/"), ("post", "/api/v1/styles/"), ("get", "/api/v1/styles/{slug}/"),
    ("patch", "/api/v1/styles/{slug}/"), ("get", "/api/v1/sources/{reference}/variants/"),
    ("get", "/api/v1/jobs/"), ("post", "/api/v1/jobs/"), ("get", "/api/v1/jobs/{id}/"),
    ("post", "/api/v1/jobs/{id}/retry/"), ("post", "/api/v1/jobs/{id}/approve/"),
    ("post", "/api/v1/jobs/{id}/reject/"), ("get", "/api/v1/batches/{id}/"), ("post", "/api/v1/batches/{id}/cancel/"),
}


@pytest.fixture
def schema(api):
    response = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def test_schema_documents_every_endpoint(schema):
    assert schema["openapi"].startswith("3.")
    documented = {(method, path) for path, item in schema["paths"].items() for method in item}
    assert OPERATIONS <= documented
    assert not any("/schema/" in path or "/docs/" in path for path in schema["paths"])


def test_schema_documents_errors_and_conditional_get(schema):
    styles = schema["paths"]["/api/v1/styles/"]
    assert set(styles["get"]["responses"]) == {"200", "304", "400", "401", "404", "412", "429"}
    assert "ETag" in styles["get"]["responses"]["200"]["headers"]
    assert {"If-None-Match", "kind", "active", "page", "page_size"} <= {p["name"] for p in styles["get"]["parameters"]}
    assert set(styles["post"]["responses"]) == {"201", "400", "401", "403", "413", "415", "429"}
    assert set(styles["post"]["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    jobs = schema["paths"]["/api/v1/jobs/"]
    assert "202" in jobs["post"]["responses"] and "201" not in jobs["post"]["responses"]
    retry = schema["paths"]["/api/v1/jobs/{id}/retry/"]["post"]
    assert {"202", "404", "409"} <= set(retry["responses"]) and "requestBody" not in retry
    variants = schema["paths"]["/api/v1/sources/{reference}/variants/"]["get"]
    assert {"200", "304", "400", "404"} <= set(variants["responses"])
    assert variants["security"] == [] and {} not in jobs["get"]["security"]
    error = schema["components"]["schemas"]["ErrorDetail"]
    assert set(error["required"]) == {"code", "message", "fields"}
    for operations in schema["paths"].values():
        for operation in operations.values():
            for code, response in operation["responses"].items():
                if code >= "400":
                    assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_schema_is_valid_without_warnings(tmp_path):
    call_command("spectacular", "--custom-settings", "stylestore.api.schema.SCHEMA_SETTINGS", "--validate",
                 "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    schema = yaml.safe_load((tmp_path / "schema.yaml").read_text())
    assert schema["info"]["title"] == "Stylestore API" and "/api/v1/styles/" in schema["paths"]


def test_schema_in_yaml(api):
    response = api.get("/api/schema/", {"format": "yaml"})
    assert response.status_code == 200 and response.content.startswith(b"openapi: 3.")


def test_docs_page_loads_without_external_urls_or_inline_script(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html and "/static/drf_spectacular_sidecar/" in html
    # Its start-up script is a file of its own, so a CSP without inline scripts lets it run.
    assert "<script>" not in html
    script = client.get("/api/docs/", {"script": ""})
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert "/api/schema/" in script.content.decode()
    for body in (html, script.content.decode()):
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", body, re.IGNORECASE), re.findall(r"https?://\S+", body)


def test_schema_ignores_the_shops_spectacular_settings_and_other_apis(api, settings):
    """A shop with an API of its own and no SPECTACULAR_SETTINGS: Stylestore's schema
    and docs still work, and describe only Stylestore. (Without drf-spectacular as the
    shop's DEFAULT_SCHEMA_CLASS: tests/test_install.py, in a fresh process.)"""
    settings.SPECTACULAR_SETTINGS = {}
    settings.ROOT_URLCONF = "tests.api.other_api_urls"
    response = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["title"] == "Stylestore API"
    assert OPERATIONS <= {(method, path) for path, item in schema["paths"].items() for method in item}
    assert not any(path.startswith("/shop-api/") for path in schema["paths"])
    assert schema["paths"]["/api/v1/styles/"]["get"]["tags"] == ["styles"]
    docs = api.get("/api/docs/")
    assert docs.status_code == 200 and "/static/drf_spectacular_sidecar/" in docs.content.decode()


def test_public_operations_need_no_credentials_and_staff_ones_say_which(schema):
    public = {("get", "/api/v1/styles/"), ("get", "/api/v1/styles/{slug}/"),
              ("get", "/api/v1/sources/{reference}/variants/"), ("get", "/api/v1/sources/{reference}/personalized/"),
              ("get", "/api/v1/sources/{reference}/more-in-this-style/"), ("post", "/api/v1/visitor/events/"),
              ("post", "/api/v1/visitor/erase/")}
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if (method, path) in public:
                assert operation["security"] == [], (method, path)  # Swagger UI: no lock
                assert "403" not in operation["responses"]
            else:
                assert {"tokenAuth": []} in operation["security"] and {} not in operation["security"], (method, path)
