"""Jobs run by real workers: sync mode through the task entry point, and real
``qcluster`` processes that are SIGKILLed mid-batch."""
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image

from stylestore import tasks
from stylestore.conf import stylestore_settings
from stylestore.engine import saliency
from stylestore.models import SourceImage, StylizedImage
from stylestore.storage import variant_storage
from stylestore.variants import files, queue, requests, sweeper

from .conftest import wait_until

Status = StylizedImage.Status
pytestmark = pytest.mark.django_db(transaction=True)


def variant_files(media_root):
    base = media_root / stylestore_settings.UPLOAD_TO
    return sorted(p for p in base.rglob("*") if p.is_file()) if base.exists() else []


def assert_outputs_exact(media_root, size):
    """Every row ready exactly once, one complete decodable file each, nothing else on disk."""
    rows = list(StylizedImage.objects.all())
    assert rows and all(r.status == Status.READY for r in rows), {r.pk: (r.status, r.last_error) for r in rows if r.status != Status.READY}
    keys = [(r.source_id, r.style_id, r.source_hash, r.params_hash) for r in rows]
    assert len(keys) == len(set(keys))
    names = {r.file.name for r in rows}
    assert len(names) == len(rows)
    on_disk = {str(p.relative_to(media_root)) for p in variant_files(media_root)}
    assert on_disk == names  # no orphaned, duplicate or partial files
    for r in rows:
        with Image.open(variant_storage().path(r.file.name)) as img:
            img.load()
            assert max(img.size) == size and img.size == (r.width, r.height)


def test_render_in_process_produces_every_variant(sources, styles, media_root):
    ids = requests.request_variants(sources(3), styles, requests.RenderRequest(max_side=256)).created
    assert tasks.render_variants(ids)["ready"] == 6
    assert tasks.render_variants(ids) == {"claimed": 0}  # a duplicate delivery does nothing
    assert_outputs_exact(media_root, 96)  # sources are 96 px wide: never upscaled
    row = StylizedImage.objects.first()
    assert {"product_delta_e", "structure", "style_visibility", "gate"} <= set(row.metrics)
    # The photo's product mask was computed once and stored beside it.
    assert row.source.mask and row.source.mask_info["hash"] == row.source.content_hash
    assert row.source.mask_info["version"] == saliency.MASK_VERSION
    assert row.timings["batch_size"] == 3 and row.attempts == 1


def test_a_mask_by_an_older_rule_is_computed_again_by_the_next_render(sources, styles, media_root):
    (made,) = sources(1)
    first = requests.request_variants([made], styles[:1], requests.RenderRequest(max_side=256)).created
    tasks.render_variants(first)
    source = StylizedImage.objects.get(pk=first[0]).source
    stored, storage = source.mask.name, source.mask.storage
    storage.delete(stored)  # so only a new computation can bring it back
    SourceImage.objects.filter(pk=source.pk).update(mask_info={**source.mask_info, "version": 0})
    again = requests.request_variants([made], styles[1:2], requests.RenderRequest(max_side=256)).created
    assert tasks.render_variants(again)["ready"] == 1
    source.refresh_from_db()
    assert source.mask_info["version"] == saliency.MASK_VERSION and storage.exists(stored)


def test_bad_source_fails_only_its_own_job(sources, styles, media_root):
    srcs = sources(3)
    broken = srcs[1].source
    # Written past the upload gate, as a file put into storage by other means would be.
    name = default_storage.save("products/broken.jpg", ContentFile(b"\xff\xd8\xff\xe0 not really a jpeg"))
    type(broken).objects.filter(pk=broken.pk).update(image=name)
    ids = requests.request_variants(srcs, styles[:1], requests.RenderRequest(max_side=256)).created
    tasks.render_variants(ids)
    by_source = {r.source_id: r for r in StylizedImage.objects.all()}
    bad = by_source.pop(srcs[1].pk)
    assert bad.status == Status.FAILED and "refused" in bad.last_error
    assert all(r.status == Status.READY for r in by_source.values())


def _kill_mid_batch_then_recover(sources, styles, media_root, start_worker):
    srcs = sources(12, size=(160, 120))
    ids = requests.request_variants(srcs, styles, requests.RenderRequest(max_side=256)).created
    assert len(ids) == 24
    worker = start_worker(workers=1)
    wait_until(lambda: StylizedImage.objects.filter(status=Status.READY).exists(), timeout=180, message="first variant")
    worker.kill()
    done = StylizedImage.objects.filter(status=Status.READY).count()
    assert done < 24, "the worker finished before it could be killed; use more jobs"
    # The dead worker's leases run out (time passes), the sweeper re-queues its rows.
    StylizedImage.objects.filter(status=Status.RUNNING).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    StylizedImage.objects.filter(status=Status.PENDING).update(enqueued_at=timezone.now() - timedelta(hours=1))
    sweeper.sweep(pending_grace_seconds=0)
    # Deliver one batch twice on purpose: the second delivery must find nothing to claim.
    queue.enqueue(ids[:8])
    worker = start_worker(workers=2)
    wait_until(lambda: StylizedImage.objects.filter(status=Status.READY).count() == 24, timeout=240,
               message="all 24 variants ready")
    worker.stop()
    files.remove_partial_files(max_age_seconds=0)
    assert_outputs_exact(media_root, 160)
    assert StylizedImage.objects.filter(attempts__gt=2).count() == 0


@pytest.mark.slow
def test_worker_killed_mid_batch_loses_and_duplicates_nothing(sources, styles, media_root, start_worker):
    _kill_mid_batch_then_recover(sources, styles, media_root, start_worker)


def test_deleting_a_product_or_style_removes_its_files(sources, styles, media_root):
    srcs = sources(2)
    ids = requests.request_variants(srcs, styles, requests.RenderRequest(max_side=256)).created
    tasks.render_variants(ids)
    assert len(variant_files(media_root)) == 4
    srcs[0].source.delete()
    assert StylizedImage.objects.count() == 2 and len(variant_files(media_root)) == 2
    styles[0].delete()
    remaining = list(StylizedImage.objects.all())
    assert len(remaining) == 1
    assert [str(p.relative_to(media_root)) for p in variant_files(media_root)] == [remaining[0].file.name]
