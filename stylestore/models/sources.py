"""``SourceImage``: one image field of one object of any model (a product photo), with
the hash of its current content. Variants key on that hash, never on a file name or
mtime, so a replaced photo can never be served with old variants."""
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils.translation import gettext_lazy as _

from ..storage import variant_storage


class SourceImage(models.Model):
    """One image field of one object, with the hash of its current content."""

    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, verbose_name=_("model"))
    object_id = models.CharField(_("object id"), max_length=64)
    field_name = models.CharField(_("field"), max_length=64)
    source = GenericForeignKey("content_type", "object_id")
    content_hash = models.CharField(_("content hash"), max_length=64, blank=True)
    width = models.PositiveIntegerField(_("width"), null=True, blank=True)
    height = models.PositiveIntegerField(_("height"), null=True, blank=True)
    # The photo's own style vector: its embedding for personalization and the anchor of
    # the strength interpolation. Computed by a worker.
    embedding = models.JSONField(_("embedding"), null=True, blank=True, editable=False)
    # Where the product is in the photo (an 8-bit PNG matte, computed by a worker) and
    # how it was found: {"method": "alpha" | "network" | "full_frame", "coverage": ...}.
    mask = models.FileField(_("product mask"), storage=variant_storage, max_length=255, blank=True, editable=False)
    mask_info = models.JSONField(_("mask details"), null=True, blank=True, editable=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("source image")
        verbose_name_plural = _("source images")
        constraints = [
            models.UniqueConstraint(
                fields=["content_type", "object_id", "field_name"], name="stylestore_source_unique"
            )
        ]
        # The photos changed lately, which the web processes' embedding indexes read
        # every minute (``personalization.embeddings``) rather than every photo.
        indexes = [models.Index(fields=["updated_at"], name="stylestore_source_updated")]

    def __str__(self):
        return f"{self.content_type.app_label}.{self.content_type.model}:{self.object_id}.{self.field_name}"

    @property
    def reference(self):
        """Stable public reference such as ``shop.product:42``."""
        return f"{self.content_type.app_label}.{self.content_type.model}:{self.object_id}"

    def get_field_file(self):
        obj = self.source
        return getattr(obj, self.field_name) if obj is not None else None
