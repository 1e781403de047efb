"""How the variant pipeline reacts to saved and deleted photos and variants.

Connected to the models' signals by ``stylestore.signals`` (in ``AppConfig.ready``).
Saving a source object re-hashes its images after commit; a changed hash makes its
variants stale and requests them again for the styles that had them (and for the
auto-apply styles). Deleting an object removes its variant files once the deletion
has committed, so a rollback loses nothing.
"""
from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from ..models import SourceImage
from . import files, queue
from .requests import request_again
from .sources import refresh, source_fields


def source_saved(sender, instance, **kwargs):
    fields = source_fields(sender)
    if fields:
        pk = instance.pk
        transaction.on_commit(lambda: _after_source_saved(sender, pk, fields))


def _after_source_saved(model, pk, fields):
    obj = model._default_manager.filter(pk=pk).first()
    if obj is None:
        return
    for field_name in fields:
        ct = ContentType.objects.get_for_model(model)
        source, _ = SourceImage.objects.get_or_create(content_type=ct, object_id=str(pk), field_name=field_name)
        if not refresh(source, getattr(obj, field_name)) or not source.content_hash:
            continue
        request_again(source)
        queue.enqueue_analysis([source.pk])


def source_deleted(sender, instance, **kwargs):
    if source_fields(sender):
        ct = ContentType.objects.get_for_model(sender)
        # Cascades to the variants, whose files go in variant_deleted.
        SourceImage.objects.filter(content_type=ct, object_id=str(instance.pk)).delete()


def variant_deleted(sender, instance, **kwargs):
    """Delete a variant's file once the deletion has committed (a rollback loses nothing)."""
    name = instance.file.name
    if name:
        transaction.on_commit(lambda: files.delete_if_unused(name))
