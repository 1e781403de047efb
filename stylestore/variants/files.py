"""Where a variant's file goes, how it is written, and how leftovers are removed.

Names are keyed: an HMAC (a key derived from ``SECRET_KEY``) of the content address
(photo hash, style, parameter hash), 128 bits. The same inputs still give the same
name, so a retried or duplicated render rewrites nothing; but the photo hash, style and
parameters are public, and a name derived from them alone let anyone find a variant
before it was approved, and rejected, stale or inactive-style ones. Unguessable names
rather than a view that checks visibility: the files stay plain media, served by the
web server, a bucket or a CDN with any storage backend, at no query per image. A name
is a secret only until it is published: once a variant has been shown, its URL (and
any cached copy) outlives a later rejection, as a CDN copy would anyway. Changing
``SECRET_KEY`` changes the names of new renders only; existing rows keep theirs.

Files are complete before anyone can see them: written to a temporary name and renamed
on local disk, uploaded whole to object stores.
"""
import logging
import os
import uuid

from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.utils import timezone
from django.utils.crypto import salted_hmac

from ..conf import stylestore_settings
from ..engine.formats import OUTPUT_FORMATS
from ..models import StylizedImage
from ..storage import variant_storage

logger = logging.getLogger(__name__)

#: Temporary files of a write in progress start with this.
TMP_PREFIX = ".partial-"


def keyed_name(content_address: str, extension: str) -> str:
    """A storage name no one can derive from public data: 128 bits of a keyed HMAC.

    Deterministic, so the same content address always gives the same name."""
    key = salted_hmac("stylestore.variants.files", content_address, algorithm="sha256").hexdigest()[:32]
    return f"{stylestore_settings.UPLOAD_TO}/{key[:2]}/{key}.{extension}"


def variant_name(row: StylizedImage) -> str:
    """The same source content, style and parameters give the same (keyed) name."""
    extension = OUTPUT_FORMATS[row.output_format].extension
    return keyed_name(f"{row.source_hash}/{row.style_id}/{row.params_hash}", extension)


def rekey(row: StylizedImage) -> bool:
    """Move a variant's file to its keyed name if it has another (a name from before
    keyed names, or from before a change of ``SECRET_KEY``). True if it moved.

    The copy is complete before the row points at it, and the old file goes only once
    no row uses it, so a failure part-way loses nothing and a rerun finishes the job.
    """
    old, new = row.file.name, variant_name(row)
    if not old or old == new:
        return False
    storage = variant_storage()
    with storage.open(old, "rb") as fh:
        save_atomically(new, fh.read())
    if not StylizedImage.objects.filter(pk=row.pk, file=old).update(file=new):
        return False  # re-rendered meanwhile: the new render is already keyed
    row.file.name = new
    delete_if_unused(old)
    return True


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
