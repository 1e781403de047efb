"""The variants (stylized images): before/after slider, quality in words, job details, retry and review."""
from django import forms
from django.contrib import admin, messages
from django.template.defaultfilters import filesizeformat
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..api.permissions import CanManageJobs
from ..conf import stylestore_settings
from ..models import StylizedImage
from ..variants import quality, requests
from . import views
from .batches import BatchFilter
from .display import admin_change_url, key_value_table, thumbnail


class StatusFilter(admin.SimpleListFilter):
    """Status with "needs attention" (failed or dead) as one choice: what a reviewer hunts for."""

    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("attention", _("Failed or dead")), *StylizedImage.Status.choices]

    def queryset(self, request, queryset):
        if self.value() == "attention":
            return queryset.filter(status__in=[StylizedImage.Status.FAILED, StylizedImage.Status.DEAD])
        if self.value():
            return queryset.filter(status=self.value())
        return queryset


@admin.register(StylizedImage)
class StylizedImageAdmin(admin.ModelAdmin):
    list_display = ["thumbnail", "source_thumbnail", "source_label", "style", "status", "review", "product_colour",
                    "engine", "max_side", "attempts", "created_at"]
    list_display_links = ["thumbnail", "source_label"]
    list_filter = [StatusFilter, BatchFilter, "review", "style", "engine", "output_format", "max_side"]
    search_fields = ["style__name", "source__object_id", "last_error"]
    date_hierarchy = "created_at"
    actions = ["retry", "approve", "reject", "rerender"]
    list_select_related = ["style", "source__content_type"]
    fieldsets = [
        (None, {"fields": ["comparison", "review"]}),
        (_("Source and style"), {"fields": ["source_link", "style", "engine", "strength", "preserve_color",
                                            "region", "max_side", "output_format"]}),
        (_("Quality"), {"fields": ["gate_display", "product_colour", "product_shape", "style_strength"]}),
        (_("Result"), {"fields": ["file_link", "dimensions", "file_size_display", "metrics_display"]}),
        (_("Job"), {"fields": ["status", "attempts", "error_display", "worker", "created_at", "enqueued_at",
                               "started_at", "finished_at", "not_before", "lease_expires_at", "timings_display"]}),
        (_("Keys"), {"fields": ["source_hash", "params_hash", "style_fingerprint"], "classes": ["collapse"]}),
    ]

    def get_queryset(self, request):
        # The source object behind each generic relation, fetched per model in one query.
        return super().get_queryset(request).prefetch_related("source__source")

    def has_add_permission(self, request):
        return False  # variants are made by jobs, from "Apply style…" or the API

    def has_manage_jobs_permission(self, request):
        """Retry, approve and reject ask for what the API's job actions ask for
        (``apply_style`` and ``change_stylizedimage``): one role, one meaning."""
        return request.user.has_perms(CanManageJobs.required_permissions)

    def get_readonly_fields(self, request, obj=None):
        """Everything but the review decision (for those who may review): the rest is
        the job's record."""
        editable = {"review"} if self.has_manage_jobs_permission(request) else set()
        shown = [name for _title, options in self.fieldsets for name in options["fields"]]
        return [name for name in shown if name not in editable]

    @admin.display(description=_("Styled"))
    def thumbnail(self, obj):
        return thumbnail(obj.file, alt=str(obj.style))

    @admin.display(description=_("Original"))
    def source_thumbnail(self, obj):
        return thumbnail(obj.source.get_field_file())

    @admin.display(description=_("Source"), ordering="source")
    def source_label(self, obj):
        return str(obj.source.source or obj.source)

    @admin.display(description=_("Source"))
    def source_link(self, obj):
        target = obj.source.source
        if target is None:
            return format_html("{} ({})", obj.source, _("deleted"))
        url = admin_change_url(self.admin_site, target)
        return format_html('<a href="{}">{}</a>', url, target) if url else str(target)

    @admin.display(description=_("Before / after"))
    def comparison(self, obj):
        original = obj.source.get_field_file()
        if not obj.file:
            return format_html(
                '{}<p class="help">{}</p>', thumbnail(original, size=256) if original else "",
                _("The styled image is not ready yet."),
            )
        if not original:
            return thumbnail(obj.file, size=256)
        return format_html(
            '<div class="stylestore-compare-widget">'
            '<div class="stylestore-compare" style="aspect-ratio: {} / {}">'
            '<img src="{}" alt="{}" class="stylestore-compare-before">'
            '<img src="{}" alt="{}" class="stylestore-compare-after">'
            "</div>"
            '<label class="stylestore-compare-label">{} '
            '<input type="range" min="0" max="100" value="50" class="stylestore-compare-range"></label>'
            "</div>",
            obj.width or 1, obj.height or 1,
            original.url, _("Original"), obj.file.url, _("Styled"), _("Original ↔ styled"),
        )

    @admin.display(description=_("File"))
    def file_link(self, obj):
        if not obj.file:
            return "–"
        return format_html('<a href="{}">{}</a>', obj.file.url, obj.file.name)

    @admin.display(description=_("Size"))
    def dimensions(self, obj):
        return f"{obj.width} × {obj.height} px" if obj.width else "–"

    @admin.display(description=_("File size"))
    def file_size_display(self, obj):
        return filesizeformat(obj.file_size) if obj.file_size else "–"

    @admin.display(description=_("Quality metrics"))
    def metrics_display(self, obj):
        return key_value_table({k: v for k, v in obj.metrics.items() if k != "gate"})

    @admin.display(description=_("Quality gate"))
    def gate_display(self, obj):
        gate = obj.metrics.get("gate")
        if gate is None:
            return _("not checked")
        if gate["passed"]:
            return _("passed")
        return format_html("{}: {}", _("held for review"), "; ".join(gate["reasons"]))

    @admin.display(description=_("Product colour"))
    def product_colour(self, obj):
        return quality.colour_in_words(obj.metrics.get("product_delta_e"))

    @admin.display(description=_("Product shape"))
    def product_shape(self, obj):
        structure = obj.metrics.get("structure")
        if structure is None:
            return _("not measured")
        floor = stylestore_settings.QUALITY_GATE.get("STRUCTURE") or 0.0
        words = _("kept") if structure >= floor else _("lost")
        return f"{words} ({structure:.2f})"

    @admin.display(description=_("Style"))
    def style_strength(self, obj):
        return quality.style_in_words(obj.metrics.get("style_visibility"))

    @admin.display(description=_("Timings"))
    def timings_display(self, obj):
        return key_value_table(obj.timings)

    @admin.display(description=_("Last error"))
    def error_display(self, obj):
        return format_html('<pre class="stylestore-error">{}</pre>', obj.last_error) if obj.last_error else "–"

    @admin.action(description=_("Retry selected failed images"), permissions=["manage_jobs"])
    def retry(self, request, queryset):
        ids = requests.retry(list(queryset.values_list("pk", flat=True)))
        if ids:
            self.message_user(request, ngettext("Re-queued %(count)d image.", "Re-queued %(count)d images.",
                                                len(ids)) % {"count": len(ids)}, messages.SUCCESS)
        else:
            self.message_user(request, _("Nothing to retry: only failed or dead images can be retried."),
                              messages.WARNING)

    @admin.action(description=_("Approve selected images"), permissions=["manage_jobs"])
    def approve(self, request, queryset):
        ready = queryset.filter(status=StylizedImage.Status.READY)
        approved = ready.update(review=StylizedImage.Review.APPROVED)
        skipped = queryset.count() - approved
        message = ngettext("Approved %(count)d image.", "Approved %(count)d images.", approved) % {"count": approved}
        if skipped:
            message += " " + ngettext(
                "%(count)d image is not ready yet and was left as it was.",
                "%(count)d images are not ready yet and were left as they were.", skipped,
            ) % {"count": skipped}
        self.message_user(request, message, messages.SUCCESS if approved else messages.WARNING)

    @admin.action(description=_("Reject selected images"), permissions=["manage_jobs"])
    def reject(self, request, queryset):
        rejected = queryset.update(review=StylizedImage.Review.REJECTED)
        self.message_user(request, ngettext("Rejected %(count)d image: customers will not see it.",
                                            "Rejected %(count)d images: customers will not see them.",
                                            rejected) % {"count": rejected}, messages.SUCCESS)

    def has_rerender_permission(self, request):
        return request.user.has_perm("stylestore.apply_style")

    @admin.action(description=_("Re-render with other settings…"), permissions=["rerender"])
    def rerender(self, request, queryset):
        """The Apply page for these images' products (``views.rerender_view``)."""
        return views.rerender_view(self, request, queryset)

    @property
    def media(self):
        return super().media + forms.Media(
            js=["stylestore/admin/compare.js"], css={"all": ["stylestore/admin/stylestore.css"]}
        )
