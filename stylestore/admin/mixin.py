"""``StylizeAdminMixin``: "Apply style…" and a live progress column for any shop's ModelAdmin."""
from django import forms
from django.contrib import admin
from django.contrib.admin.options import IS_POPUP_VAR
from django.contrib.contenttypes.models import ContentType
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db.models import F
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from ..models import SourceImage, StylizedImage
from ..variants import requests
from ..variants.sources import pks_of, source_fields
from . import inline, views


def _stylize_field_missing(modeladmin):
    return (f"{type(modeladmin).__name__} styles {modeladmin.opts.label_lower}, which is not in "
            "STYLESTORE['SOURCE_MODELS']: list it there, or set stylize_image_field on the admin.")


PROGRESS_ATTR = "_stylestore_progress"


def empty_progress():
    """A row's progress with nothing styled yet (``get_stylize_progress``)."""
    return {**requests.EMPTY_PROGRESS, "source_ids": [], "seconds_left": None}


class StylesFilter(admin.SimpleListFilter):
    """The changelist's "Styles" filter: objects with no styled image yet, or with a
    failed one (current variants only: a replaced photo's old ones do not count)."""

    title = _("styles")
    parameter_name = "stylestore_styles"

    def __init__(self, request, params, model, model_admin):
        self.image_field = model_admin.stylize_image_field
        super().__init__(request, params, model, model_admin)

    def lookups(self, request, model_admin):
        return [("none", _("No styles yet")), ("failures", _("Has failures"))]

    def queryset(self, request, queryset):
        if self.value() not in ("none", "failures"):
            return queryset
        variants = StylizedImage.objects.filter(
            source__content_type=ContentType.objects.get_for_model(queryset.model),
            source__field_name=self.image_field, source_hash=F("source__content_hash"),
        )
        if self.value() == "failures":
            failed = variants.filter(status__in=[StylizedImage.Status.FAILED, StylizedImage.Status.DEAD])
            return queryset.filter(pk__in=pks_of(queryset.model, failed))
        return queryset.exclude(pk__in=pks_of(queryset.model, variants))


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
        return views.apply_style_view(self, request, queryset)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if self.actions is None or IS_POPUP_VAR in request.GET or not self.has_apply_style_permission(request):
            return actions
        func, name, _description = self.get_action(views.ACTION_NAME)
        actions[name] = (func, name, self.stylize_action_description)
        return actions

    def get_list_filter(self, request):
        list_filter = super().get_list_filter(request)
        # Only when the rows are the styled objects themselves (not e.g. categories).
        if self.stylize_show_progress and self.stylize_image_field in source_fields(self.model):
            list_filter = [*list_filter, StylesFilter]
        return list_filter

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
                setattr(row, PROGRESS_ATTR, progress.get(row.pk) or empty_progress())
        return changelist

    def get_stylize_progress(self, request, rows):
        """``{row pk: counts}`` over the current variants of its objects: styles by state
        (``requests.progress``; several sizes of one style count once), ``source_ids``
        (for the link to them) and ``seconds_left`` (None when nothing is in work)."""
        grouped = self.get_stylize_objects_by_row(request, rows)
        objects = [obj for group in grouped.values() for obj in group]
        result = {pk: empty_progress() for pk in grouped}
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
        waits = {}
        for pk, group in grouped.items():
            row = result[pk]
            for obj in group:
                source_id = source_ids.get(str(obj.pk))
                counts = per_source.get(source_id)
                if counts:
                    row["source_ids"].append(source_id)
                    for key in requests.STYLE_STATE_ORDER + ["total"]:
                        row[key] += counts[key]
                    if counts["last_live"] is not None:
                        row["last_live"] = max(row["last_live"] or 0, counts["last_live"])
            if row["last_live"] is not None:
                if row["last_live"] not in waits:
                    waits[row["last_live"]] = requests.queue_wait(row["last_live"])
                row["seconds_left"] = waits[row["last_live"]]
        return result

    @admin.display(description=_("Styles"))
    def stylize_progress(self, obj):
        counts = getattr(obj, PROGRESS_ATTR, None) or empty_progress()
        url = reverse(
            f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_stylize_progress",
        )
        label = views.progress_label(counts)
        classes = "stylestore-progress" + (" stylestore-progress--failed" if counts["failed"] else "")
        pending = counts["queued"] + counts["rendering"]
        variants = views.variants_url(self.admin_site, counts["source_ids"])
        if variants:
            return format_html('<a href="{}" class="{}" data-stylestore-progress="{}" data-pending="{}" '
                               'data-url="{}">{}</a>', variants, classes, obj.pk, pending, url, label)
        return format_html('<span class="{}" data-stylestore-progress="{}" data-pending="{}" data-url="{}">{}</span>',
                           classes, obj.pk, pending, url, label)

    # The object's variants on its change page (``inline``).
    def get_fieldsets(self, request, obj=None):
        return inline.fieldsets(self, request, obj, super().get_fieldsets(request, obj))

    def get_readonly_fields(self, request, obj=None):
        return inline.readonly_fields(self, request, obj, super().get_readonly_fields(request, obj))

    @admin.display(description=_("Styled images"))
    def stylize_variants(self, obj):
        return inline.panel(self, obj)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("stylize-progress/", self.admin_site.admin_view(self.stylize_progress_view),
                 name="%s_%s_stylize_progress" % info),
            *super().get_urls(),
        ]

    def stylize_progress_view(self, request):
        return views.progress_view(self, request)

    @property
    def media(self):
        return super().media + forms.Media(
            js=["stylestore/admin/progress.js"], css={"all": ["stylestore/admin/stylestore.css"]}
        )
