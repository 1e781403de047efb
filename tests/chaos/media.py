"""Where a chaos test's files go, and the checks on them: local disk, or an S3 bucket
(moto's server, ``tests/s3.py``) when the run sets the README's ``S3_BUCKET`` (CI's S3
stage). Either way, after the chaos every ready job has exactly one whole output file
and nothing else is left among the variants."""
import io
import os

import pytest
from PIL import Image

from stylestore.conf import stylestore_settings
from stylestore.storage import variant_storage
from stylestore.variants import files


@pytest.fixture
def variant_media(request, media_root):
    """The test's media: a new bucket (its workers get its variables) when the run is on
    S3, else ``media_root``. Returns the bucket (``tests.s3.S3``) or None."""
    if os.environ.get("S3_BUCKET"):
        return request.getfixturevalue("s3")
    return None


def stored_variants(media_root, bucket) -> set:
    """Names of every file among the variants, once partial writes are cleaned up
    (local disk only: an S3 upload is never visible before it completes)."""
    if bucket is not None:
        return set(bucket.keys(stylestore_settings.UPLOAD_TO))
    files.remove_partial_files(max_age_seconds=0)
    base = media_root / stylestore_settings.UPLOAD_TO
    return {str(p.relative_to(media_root)) for p in base.rglob("*") if p.is_file()}


def assert_one_file_per_job(rows, ready, media_root, bucket, max_side):
    """Exactly one output per job: no duplicate rows, one file per ready row and
    nothing else stored, each file a whole image of the row's size."""
    keys = [(r.source_id, r.style_id, r.source_hash, r.params_hash) for r in rows]
    assert len(keys) == len(set(keys))
    names = [r.file.name for r in ready]
    assert len(set(names)) == len(ready)
    assert stored_variants(media_root, bucket) == set(names)
    for row in ready:
        with Image.open(io.BytesIO(variant_storage().open(row.file.name).read())) as image:
            image.load()
            assert image.size == (row.width, row.height) and max(image.size) <= max_side
