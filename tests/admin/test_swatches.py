"""Preset swatches: each preset (and each preset style's blend) rendered once by the
worker on the reference photo, shown wherever a preset appears: the Styles list, the
style's page and its blend editor, the Apply page's style cards."""
import json

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.urls import reverse
from django_q.brokers import get_broker
from PIL import Image, ImageChops, ImageStat

from stylestore import tasks
from stylestore.engine.preset_names import NUM_PRESETS
from stylestore.storage import variant_storage
from stylestore.variants import previews

pytestmark = pytest.mark.django_db

STYLES = reverse("admin:stylestore_style_changelist")
SWATCHES = reverse("admin:stylestore_style_swatches")


@pytest.fixture(autouse=True)
def own_cache(settings):
    """Swatch states live in the cache: one of this test's own (see test_style_preview.py)."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": "stylestore-swatch-tests"}}
    cache.clear()  # nothing on its way from an earlier test


@pytest.fixture
def style_client(client, make_staff):
    client.force_login(make_staff("view_style", "change_style"))
    return client


def test_the_styles_list_shows_a_preset_by_its_swatch_once_the_worker_rendered_it(style_client, styles):
    ink = styles["ink"]
    queued = get_broker().queue_size()
    page = style_client.get(STYLES).content.decode()
    assert 'data-stylestore-swatch="{&quot;3&quot;: 1}"' in page  # a placeholder, polled
    assert get_broker().queue_size() == queued + 2  # Ink's and Retired's
    style_client.get(STYLES)
    assert get_broker().queue_size() == queued + 2  # asked once

    assert tasks.render_swatches([{"3": 1.0}]) == {"rendered": 1}  # what the worker runs
    name = previews.swatch_name(ink.preset_weights)
    url = variant_storage().url(name)
    assert f'src="{url}"' in style_client.get(STYLES).content.decode()
    with Image.open(variant_storage().open(name)) as swatch, Image.open(previews.SWATCH_PHOTO) as photo:
        assert swatch.format == "WEBP" and swatch.size == (previews.SWATCH_SIDE, previews.SWATCH_SIDE)
        difference = ImageStat.Stat(ImageChops.difference(swatch.convert("RGB"), photo.convert("RGB"))).mean
        assert sum(difference) / 3 > 10  # the preset's look, not the photo
    # The style's own page shows it large.
    page = style_client.get(reverse("admin:stylestore_style_change", args=[ink.pk])).content.decode()
    assert f'src="{url}"' in page and f'width="{previews.SWATCH_SIDE}"' in page


def test_presets_look_different_from_each_other(db):
    tasks.render_swatches([previews.preset_blend(0), previews.preset_blend(7)])
    first, second = (Image.open(variant_storage().open(previews.swatch_name(previews.preset_blend(i)))).convert("RGB")
                     for i in (0, 7))
    assert sum(ImageStat.Stat(ImageChops.difference(first, second)).mean) / 3 > 10


def test_the_blend_editor_names_each_preset_with_its_swatch_and_previews_the_blend(style_client, styles):
    queued = get_broker().queue_size()
    page = style_client.get(reverse("admin:stylestore_style_change", args=[styles["ink"].pk])).content.decode()
    for index in range(NUM_PRESETS):
        assert f'<label for="id_preset_weights_{index}">Preset {index}</label>' in page
        assert f'data-stylestore-swatch="{{&quot;{index}&quot;: 1.0}}"' in page
    assert f'data-stylestore-blend="{SWATCHES}"' in page  # the live preview asks here
    assert "stylestore/admin/swatches.js" in page
    # The style's own blend (its preview row), then one task for every other preset.
    assert get_broker().queue_size() == queued + 2


def test_the_swatch_endpoint_answers_in_order_and_refuses_what_is_no_blend(style_client, styles):
    tasks.render_swatches([{"3": 1.0}])
    answer = style_client.get(SWATCHES, {"w": [json.dumps({"3": 2}), json.dumps({"1": 1, "4": 3})]}).json()
    assert [found["status"] for found in answer["swatches"]] == ["ready", "rendering"]  # {"3": 2} is preset 3
    assert answer["swatches"][0]["url"] == variant_storage().url(previews.swatch_name({"3": 1}))
    for bad in ("{}", "[1]", "not json", json.dumps({"26": 1}), json.dumps({"2": -1})):
        response = style_client.get(SWATCHES, {"w": bad})
        assert response.status_code == 400 and response.json()["error"]


def test_the_swatch_endpoint_needs_a_style_or_apply_permission(client, make_staff, styles):
    client.force_login(make_staff("view_product"))
    assert client.get(SWATCHES, {"w": json.dumps({"3": 1})}).status_code == 403
    client.force_login(make_staff("apply_style", username="applier"))
    assert client.get(SWATCHES, {"w": json.dumps({"3": 1})}).status_code == 200


def test_the_apply_page_shows_preset_styles_by_their_swatch(editor_client, products, styles):
    tasks.render_swatches([{"3": 1.0}])
    response = editor_client.post(reverse("admin:shop_product_changelist"), {
        "action": "apply_style", "index": "0", "_selected_action": [products[0].pk]})
    page = response.content.decode()
    assert f'src="{variant_storage().url(previews.swatch_name({"3": 1}))}"' in page
    assert styles["wave"].image.url in page


def test_the_backfill_command_asks_for_the_missing_swatches(styles, capsys):
    queued = get_broker().queue_size()
    call_command("stylestore_backfill")
    assert get_broker().queue_size() == queued + 1
    assert f"Preset swatches: {NUM_PRESETS} of {NUM_PRESETS}" in capsys.readouterr().out  # the ink blend is preset 3


def test_a_swatch_that_cannot_be_rendered_says_so(style_client, styles, tmp_path, monkeypatch):
    broken = tmp_path / "swatch-photo.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    monkeypatch.setattr(previews, "SWATCH_PHOTO", broken)
    previews.swatch_photo_hash.cache_clear()
    try:
        assert style_client.get(SWATCHES, {"w": json.dumps({"5": 1})}).json()["swatches"][0]["status"] == "rendering"
        assert tasks.render_swatches([{"5": 1.0}]) == {"rendered": 0}
        [found] = style_client.get(SWATCHES, {"w": json.dumps({"5": 1})}).json()["swatches"]
        assert found["status"] == "failed" and found["error"].startswith("The reference photo cannot be read")
        page = style_client.get(reverse("admin:stylestore_style_change", args=[styles["ink"].pk])).content.decode()
        assert "Swatch failed" in page
    finally:
        previews.swatch_photo_hash.cache_clear()
