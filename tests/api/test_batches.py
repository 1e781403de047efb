"""Batches through the API: the job request names its batch; the batch says where its
jobs stand and can be cancelled, with the jobs endpoints' permissions."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from stylestore.models import Batch, StylizedImage

pytestmark = pytest.mark.django_db

JOBS = "/api/v1/jobs/"


def batch_url(pk, action=""):
    return f"/api/v1/batches/{pk}/{action}"


@pytest.fixture
def queued(editor, make_product, styles):
    """A batch of two queued jobs (ink on two products), as the editor asked for it."""
    products = [make_product("vase"), make_product("bowl", color=(30, 160, 90))]
    body = editor.post(JOBS, {"sources": [f"shop.product:{p.pk}" for p in products], "styles": ["ink"],
                              "size": 256}, format="json").json()
    return body


def test_a_job_request_names_its_batch(editor, queued, users):
    batch = Batch.objects.get(pk=queued["batch"])
    assert batch.origin == Batch.Origin.API and batch.created_by == users["editor"]
    assert sorted(batch.variants.values_list("pk", flat=True)) == queued["created"]
    assert batch.description == "Ink on 2 products"
    assert editor.get(batch_url(batch.pk), HTTP_ACCEPT_LANGUAGE="fr").json()["description"] == "Ink sur 2 produits"

    body = editor.get(batch_url(batch.pk)).json()
    assert body["status"] == "queued" and body["created_by"] == "editor" and body["finished_at"] is None
    assert body["counts"] == {"total": 2, "queued": 2, "rendering": 0, "ready": 0, "held": 0, "rejected": 0,
                              "failed": 0}
    assert isinstance(body["eta_seconds"], int) and body["eta_seconds"] >= 0

    listed = editor.get(JOBS, {"batch": batch.pk}).json()["results"]
    assert sorted(job["id"] for job in listed) == queued["created"]
    assert editor.get(JOBS, {"batch": "x"}).status_code == 400


def test_counts_follow_the_jobs_and_rejected_is_not_ready(editor, queued):
    first, second = queued["created"]
    StylizedImage.objects.filter(pk=first).update(status=StylizedImage.Status.READY, file="x/a.webp",
                                                  review=StylizedImage.Review.REJECTED)
    StylizedImage.objects.filter(pk=second).update(status=StylizedImage.Status.RUNNING)
    body = editor.get(batch_url(queued["batch"])).json()
    assert body["status"] == "rendering"
    assert (body["counts"]["ready"], body["counts"]["rejected"], body["counts"]["rendering"]) == (0, 1, 1)


def test_cancel_drops_the_queued_jobs(editor, queued):
    response = editor.post(batch_url(queued["batch"], "cancel/"))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "cancelled" and body["dropped"] == 2 and body["counts"]["total"] == 0
    assert body["eta_seconds"] is None
    assert not StylizedImage.objects.filter(pk__in=queued["created"]).exists()
    again = editor.post(batch_url(queued["batch"], "cancel/"))
    assert again.status_code == 409 and again.json()["error"]["code"] == "finished"


@pytest.mark.parametrize("who, read, cancel", [
    ("anonymous", 401, 401), ("customer", 403, 403), ("staff", 403, 403), ("superuser", 200, 200),
])
def test_permissions_are_the_jobs_ones(client_as, queued, who, read, cancel):
    client = client_as(who)
    assert client.get(batch_url(queued["batch"])).status_code == read
    assert client.post(batch_url(queued["batch"], "cancel/")).status_code == cancel


def test_someone_elses_batch_needs_the_job_managers_permission(make_user, queued):
    from .conftest import token_client

    applier = token_client(make_user("applier", "apply_style"))
    assert applier.get(batch_url(queued["batch"])).status_code == 200
    assert applier.post(batch_url(queued["batch"], "cancel/")).status_code == 403
    assert Batch.objects.get(pk=queued["batch"]).cancelled_at is None


def test_an_unknown_batch_is_a_404(editor):
    assert editor.get(batch_url(999999)).status_code == 404
    assert editor.get("/api/v1/batches/abc/").status_code == 404


def test_batches_are_listed_newest_first_with_their_counts(editor, queued, make_user, make_product):
    from .conftest import token_client

    other = token_client(make_user("other", "apply_style"))
    later = other.post(JOBS, {"sources": [f"shop.product:{make_product('cup').pk}"], "styles": ["ink"],
                              "size": 256}, format="json").json()["batch"]
    StylizedImage.objects.filter(pk=queued["created"][0]).update(status=StylizedImage.Status.RUNNING)
    listed = editor.get("/api/v1/batches/").json()
    assert [b["id"] for b in listed["results"]] == [later, queued["batch"]] and listed["count"] == 2
    mine = listed["results"][1]
    assert mine["status"] == "rendering" and mine["counts"]["rendering"] == 1 and mine["counts"]["queued"] == 1
    assert mine == editor.get(batch_url(queued["batch"])).json()  # the same representation as its own page

    assert [b["id"] for b in editor.get("/api/v1/batches/", {"mine": "true"}).json()["results"]] == [queued["batch"]]
    assert [b["id"] for b in editor.get("/api/v1/batches/", {"mine": "false"}).json()["results"]] == [later]
    editor.post(batch_url(later, "cancel/"))
    assert [b["id"] for b in editor.get("/api/v1/batches/", {"finished": "true"}).json()["results"]] == [later]
    assert [b["id"] for b in editor.get("/api/v1/batches/", {"finished": "false"}).json()["results"]] == [
        queued["batch"]]
    assert editor.get("/api/v1/batches/", {"origin": "admin"}).json()["results"] == []

    bad = editor.get("/api/v1/batches/", {"origin": "moon", "finished": "maybe"})
    assert bad.status_code == 400 and set(bad.json()["error"]["fields"]) == {"origin", "finished"}
    # A page's counts come in one query, whatever its length.
    with CaptureQueriesContext(connection) as one:
        editor.get("/api/v1/batches/", {"finished": "true"})
    Batch.objects.bulk_create([Batch(origin=Batch.Origin.COMMAND, finished_at=timezone.now()) for _ in range(6)])
    with CaptureQueriesContext(connection) as seven:
        assert editor.get("/api/v1/batches/", {"finished": "true"}).json()["count"] == 7
    assert len(seven) == len(one)


@pytest.mark.parametrize("who, status", [("anonymous", 401), ("customer", 403), ("staff", 403), ("superuser", 200)])
def test_the_list_has_the_jobs_permissions(client_as, queued, who, status):
    assert client_as(who).get("/api/v1/batches/").status_code == status
