"""Source photos: which model fields hold them, their content hashes and sizes.

Any model can be a source: list it in ``STYLESTORE["SOURCE_MODELS"]``. A variant keys
on its photo's content hash, so a replaced photo can never be served with old variants.
"""
import logging

from django.contrib.contenttypes.models import ContentType

from ..conf import stylestore_settings
from ..engine.errors import ImageError
from ..engine.imaging import inspect_image
from ..models import SourceImage
from ..storage import file_hash

logger = logging.getLogger(__name__)


def source_fields(model) -> list[str]:
    """The image fields of ``model`` that ``STYLESTORE["SOURCE_MODELS"]`` names."""
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
    try:
        with field_file.open("rb"):
            info = inspect_image(field_file, max_pixels=stylestore_settings.MAX_PIXELS,
                                 max_bytes=stylestore_settings.MAX_UPLOAD_BYTES)
    except (OSError, ImageError):
        return None, None
    return info.width, info.height
