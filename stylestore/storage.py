"""Where variant files live.

A callable, so the storage is resolved from ``STYLESTORE["STORAGE"]`` (a key of
Django's ``STORAGES``) at run time rather than frozen into migrations: the same code
writes to local disk by default and to S3-compatible storage when configured.
"""
from django.core.files.storage import storages

from .conf import stylestore_settings


def variant_storage():
    return storages[stylestore_settings.STORAGE]
