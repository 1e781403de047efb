"""``GatedImageField``: an ``ImageField`` whose every stored file went through the image gate.

Use it for any image field Stylestore renders from (``Style.image``) and for a
shop's source images (the demo's ``Product.image``)::

    from stylestore.fields import GatedImageField

    image = GatedImageField(upload_to="products/")

What it changes compared with Django's ``ImageField``:

- **Forms** (the admin included) get :class:`GatedImageFormField`, which judges the
  upload with the engine's gate instead of Django's ``forms.ImageField``. The latter
  opens uploads with every Pillow plugin (TIFF, PSD, EPS...), so hostile files would
  reach parsers the gate keeps out; it also cannot see a truncated image, which the
  gate decodes and refuses with a form error.
- **Model validation** (``full_clean``) runs :func:`~stylestore.validators.validate_image`.
- **Storing** (``pre_save`` of an assigned upload, or an explicit
  ``instance.image.save(name, content)``) writes the gate's re-encoding under a name
  whose extension matches its format, so no path stores unvetted bytes.
"""
from django import forms
from django.db import models
from django.db.models.fields.files import ImageFieldFile

from .validators import ACCEPTED_CONTENT_TYPES, SanitizedImage, sanitize_upload, validate_image, with_extension


class GatedImageFormField(forms.FileField):
    """A file upload that must pass the image gate; cleans to a :class:`SanitizedImage`."""

    def to_python(self, data):
        upload = super().to_python(data)
        if upload is None:
            return None
        return sanitize_upload(upload)

    def widget_attrs(self, widget):
        attrs = super().widget_attrs(widget)
        if isinstance(widget, forms.FileInput) and "accept" not in widget.attrs:
            attrs["accept"] = ",".join(ACCEPTED_CONTENT_TYPES)
        return attrs


class GatedFieldFile(ImageFieldFile):
    def save(self, name, content, save=True):
        """Store the gate's re-encoding of ``content``; raises ``ValidationError`` if refused."""
        if not isinstance(content, SanitizedImage):
            content = sanitize_upload(content, name=name)
        super().save(with_extension(name, content.extension), content, save)

    save.alters_data = True


class GatedImageField(models.ImageField):
    attr_class = GatedFieldFile
    default_validators = [validate_image]

    def formfield(self, **kwargs):
        return super().formfield(**{"form_class": GatedImageFormField, **kwargs})
