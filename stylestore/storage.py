"""Where variant files live.

A callable, so the storage is resolved from ``STYLESTORE["STORAGE"]`` (a key of
Django's ``STORAGES``) at run time rather than frozen into migrations: the same code
writes to local disk by default and to S3-compatible storage when configured.
"""
import hashlib

from django.core.files.storage import storages

from .conf import stylestore_settings


def variant_storage():
    return storages[stylestore_settings.STORAGE]


def file_hash(field_file) -> str:
    """SHA-256 of a file's content, streamed (works for any storage backend).

    An upload not yet stored (``_committed`` False) is read in place and rewound, not
    closed: the storage still has to save it.
    """
    digest = hashlib.sha256()
    if not getattr(field_file, "_committed", True):
        upload = field_file.file
        upload.seek(0)
        for chunk in iter(lambda: upload.read(1 << 20), b""):
            digest.update(chunk)
        upload.seek(0)
        return digest.hexdigest()
    with field_file.open("rb"):
        for chunk in field_file.chunks():
            digest.update(chunk)
    return digest.hexdigest()
