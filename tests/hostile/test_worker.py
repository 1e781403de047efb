"""Hostile files already in storage (put there by another tool, or stored before the
gate existed) reach the worker: their jobs fail with a readable error, their batch
mates are rendered, and the worker process survives."""
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from shop.models import Product
from stylestore import tasks
from stylestore.variants import requests
from stylestore.models import Style, StylizedImage
from stylestore.variants.sources import sync_sources
from tests.conftest import make_image_bytes
from tests.fixtures import hostile_images as corpus
from tests.jobs.conftest import Worker, wait_until

from .conftest import NAME_ONLY

Status = StylizedImage.Status
HOSTILE = [case for case in corpus.REJECTED if case.name not in NAME_ONLY]
SMALL = requests.RenderRequest(max_side=256)


def stored_product(category, slug, name, data):
    """A product whose image file was written to storage directly, past the gate."""
    stored = default_storage.save(f"products/{name}", ContentFile(data))
    return Product.objects.create(name=slug, slug=slug, category=category, price="1.00", image=stored)


def products_with(category, cases, good=2):
    hostile = {stored_product(category, case.name.replace("_", "-"), case.filename, case.data): case for case in cases}
    fine = [stored_product(category, f"fine-{i}", f"fine-{i}.jpg", make_image_bytes((96, 64), color=(i * 60, 90, 30)))
            for i in range(good)]
    return hostile, fine


@pytest.fixture
def ink(db):
    return Style.objects.create(name="Ink", slug="ink", kind=Style.Kind.PRESET, preset_weights={"3": 1})


def assert_outcome(hostile, fine):
    rows = {row.source.object_id: row for row in StylizedImage.objects.select_related("source")}
    for product, case in hostile.items():
        row = rows[str(product.pk)]
        assert row.status == Status.FAILED, (case.name, row.status, row.last_error)
        assert row.last_error.startswith("Source image refused: "), (case.name, row.last_error)
        assert "Traceback" not in row.last_error and not row.file
    for product in fine:
        row = rows[str(product.pk)]
        assert row.status == Status.READY and row.file, (row.status, row.last_error)


@pytest.mark.django_db
def test_hostile_sources_fail_alone_in_process(category, ink):
    """Every content-hostile case in one batch, through the workers' task entry point."""
    hostile, fine = products_with(category, HOSTILE)
    # Files without a valid image still get a content hash: the gate judges them at decode.
    sources = sync_sources([*hostile, *fine], "image")
    result = requests.request_variants(sources, [ink], SMALL, enqueue=False)
    assert len(result.created) == len(HOSTILE) + 2
    outcome = tasks.render_variants(result.created)
    assert outcome == {"ready": 2, "failed": len(HOSTILE), "retrying": 0, "cancelled": 0}
    assert_outcome(hostile, fine)
    by_case = {case.name: StylizedImage.objects.get(source__object_id=str(p.pk)).last_error for p, case in hostile.items()}
    assert "over the limit" in by_case["png_bomb_400mp"]
    assert "truncated" in by_case["truncated_jpeg"]
    assert "not a JPEG, PNG, WebP or GIF" in by_case["svg_named_png"]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_hostile_sources_fail_alone_in_a_real_worker(category, ink, media_root, private_queue, tmp_path):
    """The same through a real ``qcluster``: the worker stays up and finishes the rest."""
    cases = [corpus.BY_NAME[name] for name in ("png_bomb_400mp", "gif_300_frames_bomb", "truncated_jpeg",
                                               "tiff_named_jpg", "svg_named_png")]
    hostile, fine = products_with(category, cases)
    sources = sync_sources([*hostile, *fine], "image")
    requests.request_variants(sources, [ink], SMALL)
    worker = Worker(media_root, tmp_path / "worker.log", workers=1, extra_env=private_queue)
    try:
        wait_until(lambda: not StylizedImage.objects.filter(status__in=[Status.PENDING, Status.RUNNING]).exists(),
                   timeout=240, message="every job settled")
        assert worker.proc.poll() is None, "the cluster died"
    finally:
        worker.stop()
    assert_outcome(hostile, fine)
    assert StylizedImage.objects.filter(attempts=1).count() == len(cases) + 2
