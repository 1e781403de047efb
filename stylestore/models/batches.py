"""``Batch``: what one "Apply style" queued (an admin action, an API request, a
``stylize`` command), so its author can be told when it is done, and can cancel it.

A batch covers every variant the request stands for, the ones that already existed
(reused) as well as the new ones: "3 of 3 ready" means what was asked for is there.
One variant can belong to several batches."""
from django.conf import settings
from django.contrib.admin.utils import model_ngettext
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .variants import StylizedImage


class Batch(models.Model):
    class Origin(models.TextChoices):
        ADMIN = "admin", _("Admin")
        API = "api", _("API")
        COMMAND = "command", _("Command")

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name=_("queued by"))
    origin = models.CharField(_("origin"), max_length=8, choices=Origin.choices)
    # What was asked for, kept in parts so that ``description`` says it in the reader's
    # language, not in the language of whoever queued it.
    style_names = models.CharField(_("styles"), max_length=200, blank=True,
                                   help_text=_("The styles' names when queued. A batch queued before this field "
                                               "existed keeps its whole description here (object count empty)."))
    object_count = models.PositiveIntegerField(_("objects"), null=True, blank=True)
    # The model of the objects; null when they were of several models.
    object_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                    verbose_name=_("object type"))
    variants = models.ManyToManyField(StylizedImage, related_name="batches", blank=True)
    created_at = models.DateTimeField(_("queued at"), auto_now_add=True, db_index=True)
    # Set once, when no variant of the batch is queued or rendering any more (or on cancel).
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    # Variants a cancel removed before they were rendered (they are no longer in the batch).
    dropped = models.PositiveIntegerField(_("dropped"), default=0)
    # When its author was shown the completion notice in the admin.
    notified_at = models.DateTimeField(_("notified at"), null=True, blank=True)

    class Meta:
        verbose_name = _("batch")
        verbose_name_plural = _("batches")
        ordering = ["-created_at", "-pk"]
        indexes = [
            # The completion notice's query on every admin page: a user's finished, unseen batches.
            models.Index(fields=["created_by", "notified_at", "finished_at"], name="stylestore_batch_notice"),
        ]

    def __str__(self):
        return _("Batch %(id)s") % {"id": self.pk}

    @property
    def description(self) -> str:
        """What was asked for, in the active language: "Great Wave, Ink on 3 products"."""
        if self.object_count is None:
            return self.style_names
        count = self.object_count
        # get_for_id is served from ContentType's cache: no query per batch of a list.
        model = ContentType.objects.get_for_id(self.object_type_id).model_class() if self.object_type_id else None
        name = ngettext("item", "items", count) if model is None else model_ngettext(model, count)
        return gettext("%(styles)s on %(count)d %(name)s") % {"styles": self.style_names, "count": count,
                                                               "name": name}

    description.fget.short_description = _("description")
    description.fget.admin_order_field = "style_names"  # the admin sorts it as it did the field
