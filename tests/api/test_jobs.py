import json

import pytest

from stylestore.models import SourceImage, StylizedImage
from stylestore.variants import queue

pytestmark = pytest.mark.django_db

JOBS = "/api/v1/jobs/"


def job_ids(response):
    return [job["id"] for job in response.json()["results"]]


@pytest.fixture
def enqueued(monkeypatch):
    """Ids sent to the workers (after commit), instead of a django-q2 broker."""
    sent = []
    monkeypatch.setattr(queue, "enqueue", lambda ids, **kwargs: sent.extend(ids))
    return sent


# ---------------------------------------------------------------------------- request


def test_request_creates_jobs_and_enqueues_them_after_commit(editor, product, styles, enqueued,
                                                             django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = editor.post(JOBS, {"sources": [f"shop.product:{product.pk}"], "styles": ["wave", "ink"],
                                      "strength": 0.5, "preserve_color": False, "size": 300, "format": "jpeg"},
                               format="json")

    assert response.status_code == 202, response.content
    body = response.json()
    assert len(body["created"]) == 2 and body["reused"] == [] and body["skipped"] == []
    assert sorted(enqueued) == body["created"]
    rows = StylizedImage.objects.filter(pk__in=body["created"])
    assert {(row.style.slug, row.strength, row.preserve_color, row.max_side, row.output_format) for row in rows} == {
        ("wave", 0.5, False, 512, "jpeg"), ("ink", 0.5, False, 512, "jpeg"),  # the size snapped up to a bucket
    }
    source = SourceImage.objects.get()
    assert source.reference == f"shop.product:{product.pk}" and source.content_hash


def test_asking_twice_reuses_the_jobs(editor, product, styles, enqueued):
    data = {"sources": [f"shop.product:{product.pk}"], "styles": ["wave"]}
    first = editor.post(JOBS, data, format="json").json()
    second = editor.post(JOBS, data, format="json").json()
    assert second == {"batch": first["batch"] + 1, "created": [], "reused": first["created"], "skipped": []}


def test_options_left_out_take_the_styles_defaults(editor, product, styles):
    body = editor.post(JOBS, {"sources": [f"shop.product:{product.pk}"], "styles": ["ink"], "strength": None},
                       format="json").json()
    job = StylizedImage.objects.get(pk=body["created"][0])
    assert (job.strength, job.max_side, job.output_format, job.engine) == (1.0, 768, "webp", "preset")


def test_sources_without_an_image_are_skipped(editor, product, make_product, styles):
    bare = make_product("bare", with_image=False)
    body = editor.post(JOBS, {"sources": [f"shop.product:{product.pk}", f"shop.product:{bare.pk}"],
                              "styles": ["wave"]}, format="json").json()
    assert len(body["created"]) == 1 and body["skipped"] == [f"shop.product:{bare.pk}"]


def test_many_sources_and_styles_in_one_request(editor, make_product, styles):
    from stylestore.api.serializers import MAX_JOB_SOURCES

    products = [make_product(f"p{i}", color=(i, 2 * i, 3 * i)) for i in range(MAX_JOB_SOURCES)]
    response = editor.post(JOBS, {"sources": [f"shop.product:{p.pk}" for p in products], "styles": ["wave", "ink"]},
                           format="json")
    assert response.status_code == 202
    assert len(response.json()["created"]) == 2 * MAX_JOB_SOURCES


@pytest.mark.parametrize("who, status", [
    ("anonymous", 401), ("customer", 403), ("staff", 403), ("editor", 202), ("superuser", 202),
])
def test_request_permissions(client_as, product, styles, who, status):
    response = client_as(who).post(JOBS, {"sources": [f"shop.product:{product.pk}"], "styles": ["wave"]},
                                   format="json")
    assert response.status_code == status
    assert StylizedImage.objects.exists() == (status == 202)


def test_apply_style_permission_is_enough_to_request_and_read(make_user, product, styles):
    from .conftest import token_client

    client = token_client(make_user("applier", "apply_style"))
    created = client.post(JOBS, {"sources": [f"shop.product:{product.pk}"], "styles": ["wave"]},
                          format="json").json()["created"]
    assert client.get(f"{JOBS}{created[0]}/").status_code == 200
    # Reviewing and retrying also need the admin's change permission on variants.
    assert client.post(f"{JOBS}{created[0]}/reject/").status_code == 403


@pytest.mark.parametrize("data, field", [
    ({"styles": ["wave"]}, "sources"),
    ({"sources": [], "styles": ["wave"]}, "sources"),
    ({"sources": "shop.product:1", "styles": ["wave"]}, "sources"),
    ({"sources": ["shop.product:abc"], "styles": ["wave"]}, "sources.0"),
    ({"sources": ["PRODUCT"], "styles": ["wave"]}, "sources.0"),
    ({"sources": ["shop.category:1"], "styles": ["wave"]}, "sources.0"),
    ({"sources": [{"id": 1}], "styles": ["wave"]}, "sources.0"),
    ({"sources": ["x" * 100_000], "styles": ["wave"]}, "sources.0"),
    ({"sources": ["shop.product:1"] * 101, "styles": ["wave"]}, "sources"),
    ({"sources": ["shop.product:{pk}"], "styles": []}, "styles"),
    ({"sources": ["shop.product:{pk}"], "styles": ["nope"]}, "styles"),
    ({"sources": ["shop.product:{pk}"], "styles": ["retired"]}, "styles"),
    ({"sources": ["shop.product:{pk}"], "styles": ["not a slug"]}, "styles.0"),
    ({"sources": ["shop.product:{pk}"], "styles": ["wave"], "strength": 1.5}, "strength"),
    ({"sources": ["shop.product:{pk}"], "styles": ["wave"], "strength": "NaN"}, "strength"),
    ({"sources": ["shop.product:{pk}"], "styles": ["wave"], "strength": "-inf"}, "strength"),
    ({"sources": ["shop.product:{pk}"], "styles": ["wave"], "strength": "1" * 2000}, "strength"),
    ({"sources": ["shop.product:{pk}"], "styles": ["wave"], "size": 0}, "size"),
    ({"sources": ["shop.product:{pk}"], "styles": ["wave"], "size": 10**30}, "size"),
    ({"sources": ["shop.product:{pk}"], "styles": ["wave"], "size": "big"}, "size"),
    ({"sources": ["shop.product:{pk}"], "styles": ["wave"], "format": "gif"}, "format"),
    ({"sources": ["shop.product:{pk}"], "styles": ["wave"], "engine": "magic"}, "engine"),
    ({"sources": ["shop.product:{pk}"], "styles": ["wave"], "preserve_color": "perhaps"}, "preserve_color"),
])
def test_request_validation_errors(editor, product, styles, data, field):
    data = json.loads(json.dumps(data).replace("{pk}", str(product.pk)))
    response = editor.post(JOBS, data, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid" and field in error["fields"], error
    assert not StylizedImage.objects.exists()


def test_unknown_sources_are_named_by_position(editor, product, styles):
    response = editor.post(JOBS, {"sources": [f"shop.product:{product.pk}", "shop.product:999"],
                                  "styles": ["wave"]}, format="json")
    assert response.json()["error"]["fields"] == {"sources.1": ["shop.product:999 does not exist."]}


@pytest.mark.parametrize("body, content_type, status", [
    (b'{"sources": [', "application/json", 400),
    (b"[" * 50_000, "application/json", 400),
    (b'{"sources": ["\\ud800"], "styles": ["wave"]}', "application/json", 400),
    (b'{"strength": NaN}', "application/json", 400),
    (b'{"strength": 1e999}', "application/json", 400),
    (b"\xff\xfe\x00garbage", "application/json", 400),
    (b'["shop.product:1"]', "application/json", 400),
    (b"null", "application/json", 400),
    (b"sources=shop.product:1", "application/x-www-form-urlencoded", 415),
    (b"<jobs/>", "application/xml", 415),
    (b"", "", 400),  # no body at all: the required fields are missing
])
def test_malformed_bodies_are_client_errors(editor, styles, body, content_type, status):
    response = editor.generic("POST", JOBS, body, content_type=content_type)
    assert response.status_code == status, response.content
    assert set(response.json()["error"]) == {"code", "message", "fields"}


def test_oversized_body_is_413(editor, styles, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = editor.post(JOBS, {"sources": ["shop.product:1"] * 100, "styles": ["wave"]}, format="json")
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"


# ----------------------------------------------------------------------------- reading


@pytest.fixture
def some_jobs(source, styles, make_variant, make_product):
    from stylestore.variants.sources import sync_sources

    other = sync_sources([make_product("bowl", color=(1, 2, 3))], "image")[0]
    return {
        "ready": make_variant(source, styles["wave"]),
        "pending": make_variant(source, styles["ink"], status=StylizedImage.Status.PENDING),
        "failed": make_variant(other, styles["wave"], status=StylizedImage.Status.FAILED),
        "unreviewed": make_variant(other, styles["ink"], review=StylizedImage.Review.UNREVIEWED),
    }


def test_list_is_newest_first_and_filterable(editor, product, some_jobs):
    ready, pending, failed, unreviewed = (some_jobs[k].pk for k in ("ready", "pending", "failed", "unreviewed"))
    assert job_ids(editor.get(JOBS)) == [unreviewed, failed, pending, ready]
    assert job_ids(editor.get(JOBS, {"status": "failed"})) == [failed]
    assert job_ids(editor.get(JOBS, {"status": "ready", "review": "unreviewed"})) == [unreviewed]
    assert job_ids(editor.get(JOBS, {"style": "ink"})) == [unreviewed, pending]
    assert job_ids(editor.get(JOBS, {"source": f"shop.product:{product.pk}"})) == [pending, ready]
    assert job_ids(editor.get(JOBS, {"source": "shop.product:999"})) == []
    assert job_ids(editor.get(JOBS, {"source": "auth.user:1"})) == []
    assert job_ids(editor.get(JOBS, {"ids": f"{ready}, {failed},99999"})) == [failed, ready]


@pytest.mark.parametrize("params", [
    {"status": "done"}, {"review": "maybe"}, {"style": "not a slug"}, {"source": "shop.product:abc"},
    {"source": "garbage"}, {"ids": "1,two"}, {"ids": "-1"}, {"ids": "9" * 19}, {"ids": ",".join(["1"] * 101)},
])
def test_invalid_list_filters_are_400(editor, params):
    response = editor.get(JOBS, params)
    assert response.status_code == 400 and set(response.json()["error"]["fields"]) == set(params)


def test_detail_and_its_etag(editor, some_jobs):
    job = some_jobs["ready"]
    response = editor.get(f"{JOBS}{job.pk}/")
    body = response.json()
    assert body["id"] == job.pk and body["status"] == "ready" and body["style"] == "wave"
    assert body["source"] == job.source.reference and body["field"] == "image"
    assert body["url"] == f"http://testserver{job.file.url}" and body["stale"] is False
    assert editor.get(f"{JOBS}{job.pk}/", HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304


@pytest.mark.parametrize("job_id", ["999999", "9" * 18, "9" * 19, "-1", "abc", "1.5"])
def test_unknown_or_malformed_ids_are_404(editor, job_id):
    response = editor.get(f"{JOBS}{job_id}/")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("who, status", [
    ("anonymous", 401), ("customer", 403), ("staff", 403), ("editor", 200), ("superuser", 200),
])
def test_read_permissions(client_as, some_jobs, who, status):
    assert client_as(who).get(JOBS).status_code == status
    assert client_as(who).get(f"{JOBS}{some_jobs['ready'].pk}/").status_code == status


# ------------------------------------------------------------------------------ review


def test_retry_a_failed_job(editor, some_jobs, enqueued, django_capture_on_commit_callbacks):
    failed = some_jobs["failed"]
    StylizedImage.objects.filter(pk=failed.pk).update(attempts=3, last_error="boom")
    with django_capture_on_commit_callbacks(execute=True):
        response = editor.post(f"{JOBS}{failed.pk}/retry/")
    assert response.status_code == 202
    assert response.json()["status"] == "pending" and response.json()["attempts"] == 0
    assert enqueued == [failed.pk]


def test_retry_a_job_that_has_not_failed_is_409(editor, some_jobs):
    response = editor.post(f"{JOBS}{some_jobs['ready'].pk}/retry/")
    assert response.status_code == 409 and response.json()["error"]["code"] == "not_retryable"


def test_approve_and_reject(editor, some_jobs, settings):
    settings.STYLESTORE = {**settings.STYLESTORE, "AUTO_APPROVE": False}
    job = some_jobs["unreviewed"]
    variants = f"/api/v1/sources/{job.source.reference}/variants/"
    assert editor.get(variants).json()["count"] == 0

    approved = editor.post(f"{JOBS}{job.pk}/approve/")
    assert approved.status_code == 200 and approved.json()["review"] == "approved"
    assert editor.get(variants).json()["count"] == 1

    rejected = editor.post(f"{JOBS}{job.pk}/reject/")
    assert rejected.status_code == 200 and rejected.json()["review"] == "rejected"
    assert editor.get(variants).json()["count"] == 0


def test_only_ready_jobs_can_be_approved_but_any_can_be_rejected(editor, some_jobs):
    pending = some_jobs["pending"]
    response = editor.post(f"{JOBS}{pending.pk}/approve/")
    assert response.status_code == 409 and response.json()["error"]["code"] == "not_ready"
    assert editor.post(f"{JOBS}{pending.pk}/reject/").json()["review"] == "rejected"


@pytest.mark.parametrize("who, status", [
    ("anonymous", 401), ("customer", 403), ("staff", 403), ("editor", 200), ("superuser", 200),
])
def test_review_permissions(client_as, some_jobs, who, status):
    job = some_jobs["ready"]
    assert client_as(who).post(f"{JOBS}{job.pk}/reject/").status_code == status
    job.refresh_from_db()
    assert (job.review == StylizedImage.Review.REJECTED) == (status == 200)


def test_review_actions_of_unknown_jobs_are_404(editor):
    for action in ("retry", "approve", "reject"):
        assert editor.post(f"{JOBS}424242/{action}/").status_code == 404
