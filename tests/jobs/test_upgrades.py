"""After an upgrade of the engine: the images an older engine rendered are found, rendered
again with their own parameters by ``manage.py stylize --outdated``, and each old one
stays on the storefront until its successor shows, then goes with its file."""
import io

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from stylestore.models import Batch, StylizedImage, variants
from stylestore.storage import variant_storage
from stylestore.variants import upgrades
from tests.variants import ready_variant

Status, Review = StylizedImage.Status, StylizedImage.Review
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def old_engine(monkeypatch):
    """Makes variants as the engine before this one would have: its key had another version."""
    def make(source, style, **kwargs):
        with monkeypatch.context() as patch:
            patch.setattr(variants, "ENGINE_VERSION", "1")
            return ready_variant(source, style, size=256, **kwargs)

    return make


def stylize(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("stylize", *args, stdout=out, stderr=err)
    return out.getvalue()


def test_outdated_finds_the_visible_images_an_older_engine_rendered(sources, styles, old_engine, media_root):
    first, second = sources(2)
    old = old_engine(first, styles[0])
    held = old_engine(second, styles[1], review=Review.HELD)  # waiting for a review: the new image should get it
    old_engine(second, styles[0], review=Review.REJECTED)  # never to be shown: nothing to replace
    old_engine(first, styles[1], status=Status.FAILED)
    current = ready_variant(second, styles[1], size=256)
    assert upgrades.is_outdated(old) and not upgrades.is_outdated(current)
    assert [row.pk for row in upgrades.outdated()] == [old.pk, held.pk]
    assert [row.pk for row in upgrades.outdated(StylizedImage.objects.filter(style=styles[1]))] == [held.pk]


def test_stylize_outdated_renders_again_and_the_old_image_goes_once_the_new_one_shows(sources, styles, old_engine,
                                                                                      media_root, settings):
    settings.STYLESTORE = {**settings.STYLESTORE, "AUTO_APPROVE": True}
    (source,) = sources(1)
    old = old_engine(source, styles[0], strength=0.6)
    assert "Would queue 1 images an older engine rendered." in stylize("--outdated", "--dry-run")
    assert StylizedImage.objects.count() == 1

    out = stylize("--outdated", "--sync")
    assert "Queued 1 images (0 already existed)." in out and "1 ready, 0 failed." in out
    new = StylizedImage.objects.get()
    assert new.pk != old.pk and new.status == Status.READY and not upgrades.is_outdated(new)
    # The same photo, style and parameters, rendered now: a real file.
    assert (new.source_id, new.style_id, new.strength, new.max_side) == (source.pk, styles[0].pk, 0.6, 256)
    assert variant_storage().exists(new.file.name) and variant_storage().size(new.file.name) > 100
    assert not variant_storage().exists(old.file.name)
    assert list(StylizedImage.objects.visible()) == [new]
    assert "No ready image was rendered by an older engine: nothing to queue." in stylize("--outdated")
    assert Batch.objects.count() == 1


def test_the_old_image_stays_until_its_successor_is_approved(sources, styles, old_engine, media_root, settings,
                                                              admin_client, admin_user):
    settings.STYLESTORE = {**settings.STYLESTORE, "AUTO_APPROVE": False}
    first, second = sources(2)
    olds = [old_engine(source, styles[0]) for source in (first, second)]
    stylize("--outdated", "--sync")
    news = list(StylizedImage.objects.filter(review=Review.UNREVIEWED).order_by("source_id"))
    assert [row.status for row in news] == [Status.READY, Status.READY]
    # Waiting for review, the new images are not shown: the old ones are.
    assert set(StylizedImage.objects.visible()) == set(olds)

    response = admin_client.post("/admin/stylestore/stylizedimage/",
                                 {"action": "approve", "_selected_action": [news[0].pk]})
    assert response.status_code == 302
    assert set(StylizedImage.objects.visible()) == {news[0], olds[1]}
    assert not StylizedImage.objects.filter(pk=olds[0].pk).exists()

    api = APIClient()
    api.force_authenticate(admin_user)
    assert api.post(f"/api/v1/jobs/{news[1].pk}/approve/").status_code == 200
    assert set(StylizedImage.objects.visible()) == set(news)
    assert not any(variant_storage().exists(old.file.name) for old in olds)


def test_a_successor_held_by_the_quality_gate_leaves_the_old_image_shown(sources, styles, old_engine, media_root,
                                                                          settings):
    settings.STYLESTORE = {**settings.STYLESTORE, "AUTO_APPROVE": True, "QUALITY_GATE": {"STYLE_VISIBILITY": 0.99}}
    (source,) = sources(1)
    old = old_engine(source, styles[0])
    stylize("--outdated", "--sync")
    held = StylizedImage.objects.exclude(pk=old.pk).get()
    assert held.review == Review.HELD
    assert list(StylizedImage.objects.visible()) == [old]
    assert variant_storage().exists(old.file.name)


def test_an_old_image_no_customer_saw_goes_as_soon_as_its_successor_is_ready(sources, styles, old_engine, media_root,
                                                                           settings):
    """Held by the gate or waiting for a review, the old image is replaced at once: the
    reviewer sees the new engine's image only."""
    settings.STYLESTORE = {**settings.STYLESTORE, "AUTO_APPROVE": False}
    first, second = sources(2)
    olds = [old_engine(first, styles[0], review=Review.HELD), old_engine(second, styles[0], review=Review.UNREVIEWED)]
    stylize("--outdated", "--sync")
    news = StylizedImage.objects.all()
    assert len(news) == 2 and not {row.pk for row in news} & {old.pk for old in olds}
    assert {(row.status, row.review) for row in news} == {(Status.READY, Review.UNREVIEWED)}
    assert not any(variant_storage().exists(old.file.name) for old in olds)


def test_style_narrows_outdated_and_other_parameters_are_refused(sources, styles, old_engine, media_root):
    (source,) = sources(1)
    for style in styles:
        old_engine(source, style)
    assert "Would queue 1 images" in stylize("--outdated", "--style", styles[1].slug, "--dry-run")
    with pytest.raises(CommandError, match="takes no --size, --format"):
        stylize("--outdated", "--size", "512", "--format", "png")
    with pytest.raises(CommandError, match="--all: not allowed with argument --outdated"):
        stylize("--outdated", "--all", "--style", "ink")


def test_the_admin_action_queues_what_an_older_engine_rendered_in_a_batch(sources, styles, old_engine, media_root,
                                                                          admin_client):
    first, second = sources(2)
    old = old_engine(first, styles[0])
    current = ready_variant(second, styles[0], size=256)
    changelist = "/admin/stylestore/stylizedimage/"
    response = admin_client.post(changelist, {"action": "render_outdated", "_selected_action": [current.pk]},
                                 follow=True)
    assert "nothing to do" in response.content.decode()
    assert StylizedImage.objects.count() == 2

    page = admin_client.get(f"{changelist}{old.pk}/change/").content.decode()
    assert "Ready · Approved · rendered by an older engine" in page
    assert "older engine" not in admin_client.get(f"{changelist}{current.pk}/change/").content.decode()
    response = admin_client.post(changelist, {"action": "render_outdated",
                                              "_selected_action": [old.pk, current.pk]}, follow=True)
    assert "Queued 1 image again with the current engine" in response.content.decode()
    new = StylizedImage.objects.exclude(pk__in=[old.pk, current.pk]).get()
    assert new.status == Status.PENDING and (new.source_id, new.style_id) == (first.pk, styles[0].pk)
    assert list(Batch.objects.get().variants.all()) == [new]
    assert Batch.objects.get().description == "Ink on 1 product"


def test_an_old_image_whose_successor_shows_already_goes_at_the_next_request(sources, styles, old_engine, media_root,
                                                                             settings):
    """A successor that became visible without retiring it (say, rendered by a worker
    still running the code before the upgrade) retires it when asked again."""
    settings.STYLESTORE = {**settings.STYLESTORE, "AUTO_APPROVE": True}
    (source,) = sources(1)
    old = old_engine(source, styles[1])
    new = ready_variant(source, styles[1], size=256)
    assert "Queued 0 images (1 already existed)." in stylize("--outdated")
    assert list(StylizedImage.objects.all()) == [new]
    assert not variant_storage().exists(old.file.name) and variant_storage().exists(new.file.name)
