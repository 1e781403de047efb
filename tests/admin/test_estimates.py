"""Estimates before queuing: the Apply page says how long, and refuses what cannot
finish within a worker's task time limit (admin and API alike)."""
import pytest

from stylestore.models import StylizedImage
from stylestore.variants import estimates, requests

from .test_apply_style import PRODUCTS, confirm_post

pytestmark = pytest.mark.django_db


def test_the_apply_page_says_how_long_before_queuing(editor_client, products, styles):
    data = confirm_post(products, [styles["wave"]], _stylestore_recount="json")
    summary = editor_client.post(PRODUCTS, data).json()["summary_html"]
    assert "of rendering" in summary and "estimated from reference figures" in summary


def test_the_slow_engine_at_a_large_size_is_refused_with_the_reason(editor_client, products, styles, settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 300}
    data = confirm_post(products, [styles["wave"]], engine="optimize", size="1024")
    response = editor_client.post(PRODUCTS, data)
    assert response.status_code == 200  # the form again, not a redirect
    assert "more than the workers&#x27; limit of 5 min per task" in response.content.decode()
    assert StylizedImage.objects.count() == 0
    # On workers that render on CUDA (as their latest render says), it fits, and is queued.
    ink = requests.request_for_objects(products[:1], "image", [styles["ink"]]).ids
    StylizedImage.objects.filter(pk__in=ink).update(status=StylizedImage.Status.READY, file="x.webp",
                                                    timings={"batch_ms": 10.0, "batch_size": 1, "device": "cuda"})
    editor_client.post(PRODUCTS, confirm_post(products, [styles["wave"]], engine="optimize", size="1024"))
    assert StylizedImage.objects.filter(engine="optimize").count() == 3


def test_the_api_refuses_the_same(products, styles, settings, client, django_user_model):
    from django.contrib.auth.models import Permission
    from rest_framework.test import APIClient

    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 300}
    user = django_user_model.objects.create_user("api", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="apply_style"))
    api = APIClient()
    api.force_authenticate(user)
    body = {"sources": [f"shop.product:{products[0].pk}"], "styles": ["wave"], "engine": "optimize", "size": 1024}
    response = api.post("/api/v1/jobs/", body, format="json")
    assert response.status_code == 400 and "limit" in str(response.json()["error"]["fields"]["styles"])


def test_the_measured_figure_replaces_the_reference_once_there_is_history(products, styles):
    ids = requests.request_for_objects(products, "image", [styles["wave"]], requests.RenderRequest(max_side=256)).ids
    assert estimates.seconds_per_image("arbitrary", 256)[1] is False
    for pk in ids:  # what workers record: three images in a 1.5 s batch
        StylizedImage.objects.filter(pk=pk).update(status=StylizedImage.Status.READY, file="x.webp",
                                                   timings={"batch_ms": 1500.0, "batch_size": 3})
    requests.request_for_objects(products, "image", [styles["ink"]], requests.RenderRequest(max_side=256))
    assert estimates.seconds_per_image("arbitrary", 256)[1] is False  # three samples are not enough
    rows = StylizedImage.objects.filter(pk__in=ids)
    for extra in range(2):
        row = rows.first()
        row.pk, row.params_hash = None, f"extra{extra}"
        row.save()
    assert estimates.seconds_per_image("arbitrary", 256) == (pytest.approx(0.5), True)
