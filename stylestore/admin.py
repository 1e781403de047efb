"""Stylestore in the Django admin.

- ``StylizeAdminMixin`` gives any shop's ModelAdmin (of a model with an image field, or
  of a model that leads to such objects, e.g. categories -> products) the action
  "Apply style…" and a live "Styles: 3/8 ready" column.
- ``StyleAdmin``: styles with thumbnails, preset-blend editing and a preview
  on a sample product (rendered by a worker).
- ``StylizedImageAdmin``: the variants, with a before/after slider, job details,
  retry, and review (approve / reject).
"""
from django import forms
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.contrib import admin, messages
from django.contrib.admin.options import IS_POPUP_VAR
from django.contrib.admin.utils import quote
from django.contrib.contenttypes.models import ContentType
from django.template.defaultfilters import filesizeformat
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import admin_views
from .forms import StyleAdminForm
from .api.permissions import CanManageJobs
from .conf import stylestore_settings
from .models import SourceImage, Style, StylizedImage

# Registers the personalization admins (visitors, events, analytics) with this one.
from .personalization import admin as personalization_admin  # noqa: F401
from .variants import quality, requests
from .variants.sources import source_fields

__all__ = ["StylizeAdminMixin", "StyleAdmin", "StylizedImageAdmin", "SourceImageAdmin"]

def _stylize_field_missing(modeladmin):
    return (f"{type(modeladmin).__name__} styles {modeladmin.opts.label_lower}, which is not in "
            "STYLESTORE['SOURCE_MODELS']: list it there, or set stylize_image_field on the admin.")


EMPTY_PROGRESS = {"total": 0, "ready": 0, "pending": 0, "failed": 0}
PROGRESS_ATTR = "_stylestore_progress"


def thumbnail(field_file, *, alt="", size=48):
    """An ``<img>`` for a stored image, or a dash if there is none."""
    if not field_file:
        return "–"
    return format_html(
        '<img src="{}" alt="{}" class="stylestore-thumb" width="{}" height="{}" loading="lazy">',
        field_file.url, alt, size, size,
    )


def admin_change_url(admin_site, obj):
    """The admin change page of any object, or None if its model is not in this admin site."""
    opts = obj._meta
    try:
        return reverse(f"{admin_site.name}:{opts.app_label}_{opts.model_name}_change", args=[quote(obj.pk)])
    except NoReverseMatch:
        return None


def key_value_table(mapping):
    """Metrics and timings as a small table; ``*_ms`` keys read as milliseconds."""
    if not mapping:
        return "–"

    def row(key, value):
        label = key.removesuffix("_ms").replace("_", " ")
        if isinstance(value, float):
            value = f"{value:.1f} ms" if key.endswith("_ms") else f"{value:.4g}"
        elif key.endswith("_ms"):
            value = f"{value} ms"
        return label, value

    rows = format_html_join("", '<tr><th scope="row">{}</th><td>{}</td></tr>', (row(k, v) for k, v in sorted(mapping.items())))
    return format_html('<table class="stylestore-kv">{}</table>', rows)


class StylizeAdminMixin:
    """Adds "Apply style…" and a progress column to a ModelAdmin. Use it first in the bases::

        class ProductAdmin(StylizeAdminMixin, admin.ModelAdmin):
            pass  # styles the first field STYLESTORE["SOURCE_MODELS"] names for Product

    The action is added in ``get_actions``, so a subclass's own ``actions`` list need
    not mention it. It needs the ``stylestore.apply_style`` permission, and each
    object is checked for view permission through its own ModelAdmin.

    To style objects other than the rows (e.g. the products of selected categories),
    override ``get_stylize_objects`` and ``get_stylize_objects_by_row``, and set
    ``stylize_image_field`` to their image field. The model of those objects should be
    listed in ``STYLESTORE["SOURCE_MODELS"]`` so replacing a photo refreshes its variants.
    """

    @property
    def stylize_image_field(self):
        """The image field on the objects that ``get_stylize_objects`` returns: by
        default the first one ``SOURCE_MODELS`` names for this admin's model (a
        subclass may set the attribute instead)."""
        fields = source_fields(self.model)
        if not fields:
            raise ImproperlyConfigured(_stylize_field_missing(self))
        return fields[0]

    def check(self, **kwargs):
        errors = super().check(**kwargs)
        if type(self).stylize_image_field is StylizeAdminMixin.stylize_image_field and not source_fields(self.model):
            errors.append(checks.Error(_stylize_field_missing(self), obj=type(self), id="stylestore.E030"))
        return errors
    stylize_action_description = _("Apply style…")
    # Append the "Styles" progress column to the changelist.
    stylize_show_progress = True

    def get_stylize_objects(self, request, queryset):
        """The objects whose images the selected rows stand for. Default: the rows."""
        return queryset

    def get_stylize_objects_by_row(self, request, rows):
        """``{row pk: [objects]}``: whose variants a changelist row's progress sums up."""
        return {row.pk: [row] for row in rows}

    def has_apply_style_permission(self, request):
        return request.user.has_perm("stylestore.apply_style")

    @admin.action(description=_("Apply style…"), permissions=["apply_style"])
    def apply_style(self, request, queryset):
        return admin_views.apply_style_view(self, request, queryset)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if self.actions is None or IS_POPUP_VAR in request.GET or not self.has_apply_style_permission(request):
            return actions
        func, name, _description = self.get_action(admin_views.ACTION_NAME)
        actions[name] = (func, name, self.stylize_action_description)
        return actions

    def get_list_display(self, request):
        list_display = super().get_list_display(request)
        if self.stylize_show_progress and "stylize_progress" not in list_display:
            list_display = [*list_display, "stylize_progress"]
        return list_display

    def get_changelist_instance(self, request):
        """Fetch the progress of the whole page in a few queries, not per row."""
        changelist = super().get_changelist_instance(request)
        if "stylize_progress" in changelist.list_display:
            # The page's queryset caches its rows, so the rows annotated here are the
            # very instances the changelist renders.
            rows = list(changelist.result_list)
            progress = self.get_stylize_progress(request, rows)
            for row in rows:
                setattr(row, PROGRESS_ATTR, progress.get(row.pk, EMPTY_PROGRESS))
        return changelist

    def get_stylize_progress(self, request, rows):
        """``{row pk: {total, ready, pending, failed}}`` over the current variants of its objects."""
        grouped = self.get_stylize_objects_by_row(request, rows)
        objects = [obj for group in grouped.values() for obj in group]
        result = {pk: dict(EMPTY_PROGRESS) for pk in grouped}
        if not objects:
            return result
        source_ids = dict(
            SourceImage.objects.filter(
                content_type=ContentType.objects.get_for_model(objects[0]),
                field_name=self.stylize_image_field,
                object_id__in={str(obj.pk) for obj in objects},
            ).values_list("object_id", "pk")
        )
        per_source = requests.progress(list(source_ids.values()))
        for pk, group in grouped.items():
            for obj in group:
                counts = per_source.get(source_ids.get(str(obj.pk)))
                if counts:
                    for key in EMPTY_PROGRESS:
                        result[pk][key] += counts[key]
        return result

    @admin.display(description=_("Styles"))
    def stylize_progress(self, obj):
        counts = getattr(obj, PROGRESS_ATTR, EMPTY_PROGRESS)
        url = reverse(
            f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_stylize_progress",
        )
        return format_html(
            '<span class="stylestore-progress{}" data-stylestore-progress="{}" data-pending="{}" data-url="{}">{}</span>',
            " stylestore-progress--failed" if counts["failed"] else "",
            obj.pk, counts["pending"], url, admin_views.progress_label(counts),
        )

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("stylize-progress/", self.admin_site.admin_view(self.stylize_progress_view),
                 name="%s_%s_stylize_progress" % info),
            *super().get_urls(),
        ]

    def stylize_progress_view(self, request):
        return admin_views.progress_view(self, request)

    @property
    def media(self):
        return super().media + forms.Media(
            js=["stylestore/admin/progress.js"], css={"all": ["stylestore/admin/stylestore.css"]}
        )


@admin.register(Style)
class StyleAdmin(admin.ModelAdmin):
    form = StyleAdminForm
    change_form_template = "stylestore/admin/style_change_form.html"
    list_display = ["thumbnail", "name", "kind", "engine_display", "default_strength", "preserve_color",
                    "auto_apply", "active"]
    list_display_links = ["thumbnail", "name"]
    list_filter = ["kind", "active", "auto_apply", "engine"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["image_preview"]
    fieldsets = [
        (None, {"fields": ["name", "slug", "kind", "active", "auto_apply"]}),
        (_("Look"), {"fields": ["image", "image_preview", "preset_weights"]}),
        (_("Rendering defaults"), {"fields": ["engine", "default_strength", "preserve_color", "region"]}),
        (_("Shown to customers"), {"fields": ["description", "attribution"]}),
    ]

    @admin.display(description=_("Image"))
    def thumbnail(self, obj):
        return thumbnail(obj.image) if obj.image else _("Preset")

    @admin.display(description=_("Preview"))
    def image_preview(self, obj):
        if obj.image:
            return format_html('<img src="{}" alt="" class="stylestore-style-preview">', obj.image.url)
        return _("No style image. Use “Preview on a sample product” to see a preset blend.")

    @admin.display(description=_("Engine"), ordering="engine")
    def engine_display(self, obj):
        return Style.Engine(obj.effective_engine).label

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("<path:object_id>/preview/", self.admin_site.admin_view(self.preview_view),
                 name="%s_%s_preview" % info),
            *super().get_urls(),
        ]

    def preview_view(self, request, object_id):
        return admin_views.style_preview_view(self, request, object_id)

    @property
    def media(self):
        return super().media + forms.Media(
            js=["stylestore/admin/style_form.js"], css={"all": ["stylestore/admin/stylestore.css"]}
        )


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
    list_filter = [StatusFilter, "review", "style", "engine", "output_format", "max_side"]
    search_fields = ["style__name", "source__object_id", "last_error"]
    date_hierarchy = "created_at"
    actions = ["retry", "approve", "reject"]
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

    @property
    def media(self):
        return super().media + forms.Media(
            js=["stylestore/admin/compare.js"], css={"all": ["stylestore/admin/stylestore.css"]}
        )


@admin.register(SourceImage)
class SourceImageAdmin(admin.ModelAdmin):
    """Read-only: source rows follow the shop's own objects and are kept in sync by signals."""

    list_display = ["__str__", "field_name", "short_hash", "width", "height", "updated_at"]
    list_filter = ["content_type", "field_name"]
    search_fields = ["object_id"]
    list_select_related = ["content_type"]

    @admin.display(description=_("Content hash"))
    def short_hash(self, obj):
        return obj.content_hash[:12] or "–"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # it would only come back on the object's next save, without its variants

