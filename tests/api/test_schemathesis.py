"""Property-based tests of every operation in the live OpenAPI schema (schemathesis).

The schema is loaded from the running WSGI application, so what is tested is what
``/api/schema/`` publishes. For each operation schemathesis generates requests, valid
and invalid, and checks that no response is a server error and that every response
(status code, content type, headers, body) is the one the schema documents.

- Public operations (the schema allows them without credentials) are called
  anonymously, with at least ``PUBLIC_EXAMPLES`` generated cases each.
- The others are called with the token of a staff user holding every Stylestore
  permission, ``STAFF_EXAMPLES`` cases each: enough to reach past the validation of
  each field, and the suite stays within a CI budget on two cores.

Generated slugs, ids and references rarely name rows that exist, so half the cases
have their path parameters (and a job request its sources and styles) replaced by
ones that do: the 200/202/409 answers are checked as well as the 400s and 404s.
"""
import collections

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from shop.wsgi import application
from stylestore.models import StylizedImage
from stylestore.variants.sources import sync_sources

PUBLIC_EXAMPLES = 100
STAFF_EXAMPLES = 40
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
HYPOTHESIS = dict(deadline=None, database=None, suppress_health_check=list(HealthCheck))

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


def is_public(ctx):
    """Public operations say so with ``security: []`` (no scheme required)."""
    return ctx.operation.definition.raw.get("security") == []


public_schema = schema.include(is_public)
staff_schema = schema.exclude(is_public)

# Rows of the current test, for the hooks below (filled by the ``catalogue`` fixture).
KNOWN = {}
# Generated cases per operation of the current test.
CASES = collections.Counter()


# Hooks also run while tests are collected (for the schema's examples), before any
# row exists: then they leave the generated values alone.


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    existing = [{**path_parameters, name: value}
                for name in path_parameters or () for value in KNOWN.get(name, ())]
    return st.one_of(st.just(path_parameters), st.sampled_from(existing)) if existing else st.just(path_parameters)


@schema.hook
def flatmap_body(context, body):
    if context.operation.label != "POST /api/v1/jobs/" or not isinstance(body, dict) or not KNOWN:
        return st.just(body)
    existing = {**body, "sources": KNOWN["reference"], "styles": ["ink", "wave"]}
    return st.one_of(st.just(body), st.just(existing))


@pytest.fixture(autouse=True)
def in_process_wsgi(settings):
    """Call the WSGI application in the test's own transaction, without throttling.

    Django's own test client does the same: the handler closes "old" database
    connections when a request starts and ends, which would close the test's.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {"stylestore_anon": None, "stylestore_user": None}}
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def catalogue(users, styles, make_product, make_variant):
    """Products, styles and jobs in every state the endpoints distinguish."""
    vase, bowl = make_product("vase"), make_product("bowl", color=(40, 160, 90))
    make_product("rug", with_image=False)
    vase_source, bowl_source = sync_sources([vase, bowl], "image")
    jobs = [
        make_variant(vase_source, styles["wave"], size=256),
        make_variant(vase_source, styles["wave"], size=512),
        make_variant(vase_source, styles["ink"], status=StylizedImage.Status.PENDING),
        make_variant(bowl_source, styles["wave"], status=StylizedImage.Status.FAILED),
        make_variant(bowl_source, styles["ink"], review=StylizedImage.Review.UNREVIEWED),
    ]
    KNOWN.update(
        slug=list(styles) + ["new"],
        id=[job.pk for job in jobs],
        reference=[f"shop.product:{vase.pk}", f"shop.product:{bowl.pk}"],
    )
    CASES.clear()
    yield
    KNOWN.clear()
    assert CASES, "no case was generated"


@pytest.fixture
def staff_token(users):
    return Token.objects.create(user=users["editor"]).key


@pytest.fixture
def counted_public_cases():
    yield
    (label, count), = CASES.items()
    assert count >= PUBLIC_EXAMPLES, f"{label}: only {count} cases were generated"


@pytest.mark.django_db
@public_schema.parametrize()
@settings(max_examples=PUBLIC_EXAMPLES, **HYPOTHESIS)
def test_public_operation(case, counted_public_cases):
    CASES[case.operation.label] += 1
    case.call_and_validate(checks=CHECKS)


@pytest.mark.django_db
@staff_schema.parametrize()
@settings(max_examples=STAFF_EXAMPLES, **HYPOTHESIS)
def test_staff_operation(case, staff_token):
    CASES[case.operation.label] += 1
    case.call_and_validate(headers={"Authorization": f"Token {staff_token}"}, checks=CHECKS)
