"""The image gate, in Django's terms: validation errors and re-encoded files to store.

Every image that enters through Django (the admin, any ModelForm, the API, a
programmatic ``field_file.save()``) is judged by the engine's one gate,
:func:`stylestore.engine.gate.sanitize`, and what is stored is the gate's
re-encoding, never the uploaded bytes: appended payloads, text chunks, comments,
EXIF (GPS included) and ICC profiles do not survive, and the stored file's extension
always names its real format. Workers decode stored files through the same gate
(``variants.worker``), which covers files placed in storage by other means.

Validation decodes the whole image, not only its headers: a truncated JPEG has valid
headers, and must be refused with a form error rather than fail later when the file
is stored. So that the work is done once, the form field (``fields.GatedImageFormField``)
and the API hand on the :class:`SanitizedImage` they produced; ``validate_image`` and
``GatedFieldFile.save`` recognise it and do not decode it again.
"""
import posixpath

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db.models.fields.files import FieldFile
from django.utils.translation import gettext_lazy as _

from .conf import image_limits

#: The formats the gate accepts, for an ``<input type=file accept=...>`` hint.
ACCEPTED_CONTENT_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif")


def _messages():
    """Error class -> (code, message). Built lazily, like the gate imported on first use."""
    from .engine import errors

    return (
        (errors.ImageTooLarge, "image_too_large", _("This image is too large: %(reason)s.")),
        (errors.ImageTooSmall, "image_too_small", _("This image is too small: %(reason)s.")),
        (errors.CorruptImage, "image_corrupt", _("This image is damaged or incomplete: %(reason)s.")),
        (errors.UnsupportedFormat, "image_unsupported",
         _("This file was refused: %(reason)s. Upload a JPEG, PNG, WebP or GIF image whose file name "
           "ends in the extension of its format.")),
    )


class SanitizedImage(ContentFile):
    """Image bytes re-encoded by the gate, named with the extension of their format.

    A ``ContentFile``, so it can be stored as is, read repeatedly (``Style.save``
    fingerprints it before storing) and closing it loses nothing. ``content_type`` is
    what object storages (django-storages' S3 backend) record for it.
    """

    def __init__(self, content: bytes, name: str, extension: str):
        super().__init__(content, name=name)
        self.extension = extension
        self.content_type = f"image/{'jpeg' if extension == 'jpg' else extension}"


def with_extension(name: str, extension: str) -> str:
    """``name`` with its extension replaced (or added): ``photo.jpeg`` -> ``photo.jpg``."""
    root = posixpath.splitext(name.replace("\\", "/"))[0]
    return f"{root}.{extension}"


def sanitize_upload(upload, name: str | None = None) -> SanitizedImage:
    """Gate, decode and re-encode an uploaded file, or raise ``ValidationError``.

    ``upload`` is anything with ``read`` (an ``UploadedFile``, a ``File``, a
    ``FieldFile``) or bytes; ``name`` defaults to ``upload.name`` and must carry the
    extension of the content's format. Limits come from ``STYLESTORE["MAX_PIXELS"]``,
    ``["MAX_UPLOAD_BYTES"]`` and ``["MAX_DECODE_MEMORY"]`` (never the engine's own
    defaults) and the gate's scan budget. Errors reading the upload itself
    (``OSError``) are not the image's fault and propagate.
    """
    from .engine.errors import ImageError
    from .engine.gate import sanitize

    name = name if name is not None else getattr(upload, "name", None) or ""
    base = posixpath.basename(name.replace("\\", "/"))
    try:
        data, extension = sanitize(
            upload,
            filename=base,
            **image_limits(),
        )
    except ImageError as exc:
        raise _validation_error(exc) from exc
    return SanitizedImage(data, with_extension(base, extension), extension)


def _validation_error(exc) -> ValidationError:
    for kind, code, message in _messages():
        if isinstance(exc, kind):
            return ValidationError(message, code=code, params={"reason": str(exc)})
    return ValidationError(_("This image was refused: %(reason)s."), code="image_invalid", params={"reason": str(exc)})


def validate_image(value):
    """Django validator for image fields: the file must pass the image gate.

    Files already in storage are not re-read: they were gated when they were stored
    (or predate the gate, and workers gate them again when decoding), and reading
    every stored file on each ``full_clean`` would cost a download per save on remote
    storage. A :class:`SanitizedImage` has been through the gate already.
    """
    if isinstance(value, FieldFile):
        if value._committed:
            return
        upload = value._file
    else:
        upload = value
    if upload is None or isinstance(upload, SanitizedImage):
        return
    sanitize_upload(upload, name=value.name)
