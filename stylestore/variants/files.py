"""Where a variant's file goes, how it is written, and how leftovers are removed.

Names are content-addressed (photo hash, style, parameter hash): the same inputs give
the same name, so a retried or duplicated render rewrites nothing. Files are complete
before anyone can see them: written to a temporary name and renamed on local disk,
uploaded whole to object stores.
"""
import logging
import os
import uuid

from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.utils import timezone

from ..conf import stylestore_settings
from ..engine.formats import OUTPUT_FORMATS
from ..models import StylizedImage
from ..storage import variant_storage

logger = logging.getLogger(__name__)

#: Temporary files of a write in progress start with this.
TMP_PREFIX = ".partial-"


def variant_name(row: StylizedImage) -> str:
    """Content-addressed: the same source content, style and parameters give the same name."""
    h = row.source_hash
    extension = OUTPUT_FORMATS[row.output_format].extension
    return f"{stylestore_settings.UPLOAD_TO}/{h[:2]}/{h}/{row.style_id}/{row.params_hash}.{extension}"


def save_atomically(name: str, data: bytes) -> str:
    """Write a complete file or nothing: readers never see a partial image.

    On local disk the bytes go to a temporary file in the same directory, are fsynced,
    then renamed into place (atomic on POSIX). Object stores (S3) only make an object
    visible once its upload completes, so their normal save is already atomic.
    """
    storage = variant_storage()
    if storage.exists(name):
        return name  # an earlier attempt finished writing this exact content
    if isinstance(storage, FileSystemStorage):
        path = storage.path(name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = os.path.join(os.path.dirname(path), f"{TMP_PREFIX}{uuid.uuid4().hex}")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return name
    return storage.save(name, ContentFile(data))


def remove_partial_files(max_age_seconds=3600) -> int:
    """Delete temp files left by a worker killed mid-write (local storage only)."""
    storage = variant_storage()
    root = getattr(storage, "location", None)
    base = os.path.join(root, stylestore_settings.UPLOAD_TO) if root else None
    if not base or not os.path.isdir(base):
        return 0
    cutoff = timezone.now().timestamp() - max_age_seconds
    removed = 0
    for dirpath, _, files in os.walk(base):
        for name in files:
            path = os.path.join(dirpath, name)
            if name.startswith(TMP_PREFIX) and os.path.getmtime(path) <= cutoff:
                os.unlink(path)
                removed += 1
    return removed


def delete_if_unused(name):
    """Delete a variant file unless a row still uses it: content-addressed names are
    shared by identical photos."""
    if StylizedImage.objects.filter(file=name).exists():
        return
    try:
        variant_storage().delete(name)
    except OSError as exc:
        logger.warning("could not delete variant file %s: %s", name, exc)
