"""The Apply page's preview of its settings (strength, colour, region, engine) on one of
the selected products, rendered by the worker; the estimate and the refusals beside it."""
import pytest
from django.core.cache import cache
from django.test import override_settings
from django_q.brokers import get_broker
from django_q.signals import pre_enqueue
from PIL import Image, ImageChops, ImageStat

from shop.models import Product
from stylestore import tasks
from stylestore.storage import variant_storage
from stylestore.variants import previews
from stylestore.variants.sources import sync_sources

from .test_apply_style import PRODUCTS, confirm_post

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def own_cache(settings):
    """Preview states live in the cache: one of this test's own (see test_style_preview.py)."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": "stylestore-settings-preview-tests"}}
    cache.clear()


def recount(client, products, styles, **settings):
    return client.post(PRODUCTS, confirm_post(products, styles, _stylestore_recount="json", **settings)).json()


#: Tasks as django-q2 enqueues them (its ``pre_enqueue`` signal: any broker).
ENQUEUED = []


@pytest.fixture(autouse=True)
def enqueued_tasks():
    def record(sender, task, **kwargs):
        ENQUEUED.append(task)

    ENQUEUED.clear()
    pre_enqueue.connect(record, dispatch_uid="test-settings-preview")
    yield
    pre_enqueue.disconnect(dispatch_uid="test-settings-preview")


def last_task():
    """The newest preview task (analysis tasks may be queued with it)."""
    return next(task for task in reversed(ENQUEUED) if task["func"] == "stylestore.tasks.render_preview")


def test_the_settings_are_previewed_on_the_first_selected_product(editor_client, products, styles):
    ink = styles["ink"]
    queued = get_broker().queue_size()
    answer = recount(editor_client, products, [ink], strength="0.4", region="background", preserve_color="no")
    assert answer["preview_pending"]
    first = Product.objects.filter(pk__in=[p.pk for p in products]).first()  # in the changelist's order
    assert f"Preview on “{first.name}”" in answer["preview_html"] and "Rendering preview…" in answer["preview_html"]
    assert get_broker().queue_size() == queued + 1
    task = last_task()
    assert task["func"] == "stylestore.tasks.render_preview"
    settings = {"strength": 0.4, "region": "background", "preserve_color": False}
    assert task["args"][2] == settings  # what the page chose, carried to the worker
    assert recount(editor_client, products, [ink], strength="0.4", region="background",
                   preserve_color="no")["preview_pending"]
    assert get_broker().queue_size() == queued + 1  # polling asks for nothing more

    assert tasks.render_preview(*task["args"])["rendered"]  # what the worker runs
    answer = recount(editor_client, products, [ink], strength="0.4", region="background", preserve_color="no")
    assert not answer["preview_pending"]
    source = sync_sources([first], "image")[0]
    name = previews.preview_name(ink, source, settings)
    assert f'src="{variant_storage().url(name)}"' in answer["preview_html"]

    # Other settings, another preview: full strength everywhere differs from it.
    recount(editor_client, products, [ink], strength="1", region="all", preserve_color="no")
    tasks.render_preview(*last_task()["args"])
    other = previews.preview_name(ink, source, {"strength": 1.0, "region": "all", "preserve_color": False})
    assert other != name
    with Image.open(variant_storage().open(name)) as soft, Image.open(variant_storage().open(other)) as full:
        assert soft.size == full.size == (96, 64)
        assert sum(ImageStat.Stat(ImageChops.difference(soft.convert("RGB"), full.convert("RGB"))).mean) / 3 > 3


def test_the_full_page_shows_the_preview_and_the_estimate(editor_client, products, styles):
    response = editor_client.post(PRODUCTS, confirm_post(products, [styles["ink"]], _stylestore_recount="Recalculate"))
    page = response.content.decode()
    assert 'id="stylestore-settings-preview"' in page and "Rendering preview…" in page
    assert "About " in page and "of rendering" in page  # the total, before queuing


@override_settings(Q_CLUSTER={"name": "stylestore-test", "orm": "default", "sync": False, "timeout": 3600})
def test_the_slow_engine_is_previewed_by_the_fast_one_and_says_so(editor_client, products, styles):
    answer = recount(editor_client, products, [styles["wave"]], engine="optimize", size="256")
    assert answer["valid"]
    assert "The slow engine is previewed by the fast one" in answer["preview_html"]
    assert last_task()["args"][2]["engine"] == "optimize"
    assert previews.render_options(styles["wave"], last_task()["args"][2])["engine"] == "arbitrary"


@override_settings(Q_CLUSTER={"name": "stylestore-test", "orm": "default", "sync": False, "timeout": 60})
def test_settings_past_the_workers_limit_are_refused_beside_the_estimate(editor_client, products, styles):
    answer = recount(editor_client, products, [styles["wave"]], engine="optimize", size="1024")
    assert not answer["valid"]
    assert "errornote" in answer["summary_html"] and "more than the workers&#x27; limit" in answer["summary_html"]
    assert "Choose one or more styles" not in answer["summary_html"]


def test_nothing_to_preview_without_a_photo(editor_client, categories, styles):
    from .conftest import make_product

    bare = make_product("Blank", categories["ceramics"], with_image=False)
    answer = recount(editor_client, [bare], [styles["ink"]])
    assert not answer["preview_pending"] and "Choose a style" in answer["preview_html"]
