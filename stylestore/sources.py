"""Source images: which model fields hold them, their content hashes, and what happens
when they change or disappear.

Any model can be a source: list it in ``STYLESTORE["SOURCE_MODELS"]``. Saving an
object re-hashes its images after commit; a changed hash makes its variants stale and
re-requests them for the styles that had them (and for auto-apply styles). Deleting an
object or a style removes its variant files once the deletion has committed.
"""
import logging

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from .conf import stylestore_settings
from .models import SourceImage, Style, StylizedImage, file_hash

logger = logging.getLogger(__name__)


def source_fields(model) -> list[str]:
    label = f"{model._meta.app_label}.{model._meta.model_name}"
    return list(stylestore_settings.SOURCE_MODELS.get(label, []))


def sync_sources(objects, field_name) -> list[SourceImage]:
    """Get or create the SourceImage of each object's image field, with a current hash."""
    objects = list(objects)
    if not objects:
        return []
    ct = ContentType.objects.get_for_model(objects[0])
    known = {
        s.object_id: s
        for s in SourceImage.objects.filter(content_type=ct, field_name=field_name, object_id__in=[str(o.pk) for o in objects])
    }
    result = []
    for obj in objects:
        source = known.get(str(obj.pk))
        if source is None:
            # get_or_create: two requests may meet the same new source at once.
            source, _ = SourceImage.objects.get_or_create(content_type=ct, object_id=str(obj.pk), field_name=field_name)
        refresh(source, getattr(obj, field_name))
        result.append(source)
    return result


def refresh(source: SourceImage, field_file) -> bool:
    """Re-hash the source's file; save and return True if its content changed.

    The size is recorded with the hash so an original-photo fallback never has to
    open the file (a network round trip on S3) to know its dimensions.
    """
    try:
        digest = file_hash(field_file) if field_file else ""
    except OSError as exc:  # the file vanished from storage: no variants can be made
        logger.warning("cannot read source image %s: %s", source, exc)
        digest = ""
    if source.pk and digest == source.content_hash and (source.width or not digest):
        return False
    changed = digest != source.content_hash
    source.content_hash = digest
    source.width, source.height = _dimensions(field_file) if digest else (None, None)
    if changed:
        source.embedding = None
    source.save()
    return changed


def _dimensions(field_file):
    """The size from the image's headers, read through the image gate.

    Not Django's ``get_image_dimensions``: that hands the file to every Pillow plugin
    (TIFF, PSD...) and raises on a decompression bomb put into storage by other means.
    A file the gate refuses has no usable size; its jobs fail when a worker decodes it.
    """
    from .engine.errors import ImageError
    from .engine.imaging import inspect_image

    try:
        with field_file.open("rb"):
            info = inspect_image(field_file, max_pixels=stylestore_settings.MAX_PIXELS,
                                 max_bytes=stylestore_settings.MAX_UPLOAD_BYTES)
    except (OSError, ImageError):
        return None, None
    return info.width, info.height


def on_source_saved(sender, instance, **kwargs):
    fields = source_fields(sender)
    if fields:
        pk = instance.pk
        transaction.on_commit(lambda: _after_source_saved(sender, pk, fields))


def _after_source_saved(model, pk, fields):
    from . import jobs

    obj = model._default_manager.filter(pk=pk).first()
    if obj is None:
        return
    for field_name in fields:
        ct = ContentType.objects.get_for_model(model)
        source, _ = SourceImage.objects.get_or_create(content_type=ct, object_id=str(pk), field_name=field_name)
        if not refresh(source, getattr(obj, field_name)) or not source.content_hash:
            continue
        # Regenerate what the old image had, with the same parameters, plus brand-wide looks.
        previous = StylizedImage.objects.filter(source=source).exclude(source_hash=source.content_hash)
        wanted = {}
        for row in previous.select_related("style").filter(style__active=True):
            wanted.setdefault((row.strength, row.preserve_color, row.max_side, row.output_format, row.engine), set()).add(row.style)
        for (strength, preserve, size, fmt, engine), styles in wanted.items():
            jobs.request_variants([source], list(styles), jobs.RenderRequest(strength, preserve, size, fmt, engine))
        auto = list(Style.objects.filter(auto_apply=True, active=True))
        if auto:
            jobs.request_variants([source], auto)
        from .tasks import enqueue_embeddings

        enqueue_embeddings([source.pk])


def on_source_deleted(sender, instance, **kwargs):
    if source_fields(sender):
        ct = ContentType.objects.get_for_model(sender)
        # Cascades to the variants, whose files go in on_variant_deleted.
        SourceImage.objects.filter(content_type=ct, object_id=str(instance.pk)).delete()


def on_variant_deleted(sender, instance, **kwargs):
    """Delete a variant's file once the deletion has committed (a rollback loses nothing),
    unless another row still uses it: content-addressed names are shared by identical
    photos."""
    name = instance.file.name
    if name:
        transaction.on_commit(lambda: _delete_if_unused(name))


def _delete_if_unused(name):
    from .storage import variant_storage

    if StylizedImage.objects.filter(file=name).exists():
        return
    try:
        variant_storage().delete(name)
    except OSError as exc:
        logger.warning("could not delete variant file %s: %s", name, exc)


def connect_signals():
    for label in stylestore_settings.SOURCE_MODELS:
        try:
            model = apps.get_model(label)
        except (LookupError, ValueError):
            continue  # reported by the system check
        post_save.connect(on_source_saved, sender=model, dispatch_uid=f"stylestore-save-{label}")
        post_delete.connect(on_source_deleted, sender=model, dispatch_uid=f"stylestore-delete-{label}")
    post_delete.connect(on_variant_deleted, sender=StylizedImage, dispatch_uid="stylestore-variant-delete")
