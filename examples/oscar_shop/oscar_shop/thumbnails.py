"""Oscar draws product thumbnails (the dashboard's product list and page, the basket)
through ``OSCAR_THUMBNAILER``, by default sorl-thumbnail, which this example does not
install: this one makes them with Pillow, once per image and size, in the media
storage under ``thumbnails/``. A real shop may install sorl-thumbnail instead."""
import io
import posixpath
from types import SimpleNamespace

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from oscar.core.thumbnails import AbstractThumbnailer
from PIL import Image

ROOT = "thumbnails"


def _name(source):
    # A product image's file, or the name of Oscar's placeholder in the media storage.
    return getattr(source, "name", None) or str(source)


class PillowThumbnailer(AbstractThumbnailer):
    def generate_thumbnail(self, source, **opts):
        """``size`` is Oscar's "WxH", either side possibly empty; never upscaled."""
        name, size = _name(source), opts["size"]
        target = posixpath.join(ROOT, size, name)
        if not default_storage.exists(target):
            width, height = (int(side) if side else 100_000 for side in size.split("x"))
            with default_storage.open(name) as fh, Image.open(fh) as image:
                kind = image.format or "PNG"
                image.thumbnail((width, height))
                buffer = io.BytesIO()
                image.save(buffer, kind)
            default_storage.save(target, ContentFile(buffer.getvalue()))
        return SimpleNamespace(url=default_storage.url(target))

    def delete_thumbnails(self, source):
        sizes, _files = default_storage.listdir(ROOT) if default_storage.exists(ROOT) else ([], [])
        for size in sizes:
            default_storage.delete(posixpath.join(ROOT, size, _name(source)))
