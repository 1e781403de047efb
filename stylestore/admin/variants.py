"""The variants (stylized images): before/after slider, quality in words, job details, retry and review."""
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.defaultfilters import filesizeformat
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..api.permissions import CanManageJobs
from ..conf import stylestore_settings
from ..engine import formats
from ..models import StylizedImage
from ..variants import quality, requests, upgrades
from . import search, views
from .batches import BatchFilter
from .display import admin_change_url, key_value_table, thumbnail

MAY_REVIEW_ATTR = "_stylestore_may_review"


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
    # Breadcrumbs that name the variant as its title does (``variant_title``).
    change_form_template = "stylestore/admin/variant_change_form.html"
    list_display = ["thumbnail", "source_thumbnail", "source_label", "style", "status", "review", "product_colour",
                    "engine", "max_side", "attempts", "created_at"]
    list_display_links = ["thumbnail", "source_label"]
    # A date filter rather than ``date_hierarchy``, whose year links come from a
    # ``SELECT DISTINCT`` over every variant (5.5 s at 200,000 on SQLite).
    list_filter = [StatusFilter, BatchFilter, "review", "style", "engine", "output_format", "max_side",
                   ("created_at", admin.DateFieldListFilter)]
    search_fields = ["style__name", "source__object_id", "last_error"]
    actions = ["retry", "approve", "reject", "rerender", "render_outdated"]
    list_select_related = ["style", "source__content_type"]
    fieldsets = [
        (None, {"fields": ["comparison", "review_buttons", "review"]}),
        (_("Source and style"), {"fields": ["source_link", "style", "engine", "strength", "preserve_color",
                                            "region", "max_side", "output_format"]}),
        (_("Quality"), {"fields": ["gate_display", "product_colour", "product_shape", "style_strength",
                                   "metrics_display"]}),
        (_("Result"), {"fields": ["file_link", "dimensions", "file_size_display"]}),
        (_("Job"), {"fields": ["status", "attempts", "error_display", "worker", "created_at", "enqueued_at",
                               "started_at", "finished_at", "not_before", "lease_expires_at", "timings_display"]}),
        (_("Keys"), {"fields": ["source_hash", "params_hash", "style_fingerprint"], "classes": ["collapse"]}),
    ]

    def get_search_results(self, request, queryset, search_term):
        """Also by the product behind each variant: its name (as its own admin searches
        it) or its reference, e.g. ``shop.product:42`` (``search``)."""
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if search_term.strip():
            # Within ``queryset``: the list's filters still apply.
            found |= queryset.filter(search.matching_sources(self.admin_site, request, search_term, prefix="source__"))
        return found, may_have_duplicates

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
        may_review = self.has_manage_jobs_permission(request)
        if obj is not None:  # for ``review_buttons``, which is given only the object
            setattr(obj, MAY_REVIEW_ATTR, may_review)
        editable = {"review"} if may_review else set()
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
        label = formats.OUTPUT_FORMATS[obj.output_format].label if obj.output_format in formats.OUTPUT_FORMATS else ""
        # The stored name is a long key that says nothing (and overflows the page).
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a> {}', obj.file.url,
                           _("Open the image"), label)

    @admin.display(description=_("Size"))
    def dimensions(self, obj):
        return f"{obj.width} × {obj.height} px" if obj.width else "–"

    @admin.display(description=_("File size"))
    def file_size_display(self, obj):
        return filesizeformat(obj.file_size) if obj.file_size else "–"

    @admin.display(description=_("Measured"))
    def metrics_display(self, obj):
        """Each metric with what it means; metrics of older renders keep their raw names."""
        metrics = {key: value for key, value in obj.metrics.items() if key != "gate" and value is not None}
        if not metrics:
            return _("not measured")
        known = [(explain(key, value), key) for key, value in metrics.items() if key in METRIC_WORDS]
        rows = format_html_join("", '<tr><th scope="row">{}</th><td>{}</td></tr>',
                                ((label, words) for (label, words), _key in known))
        others = {key: value for key, value in metrics.items() if key not in METRIC_WORDS}
        return format_html('<table class="stylestore-kv">{}</table>{}', rows,
                           key_value_table(others) if others else "")

    @admin.display(description=_("Approve or reject"))
    def review_buttons(self, obj):
        """The decision in words, with Approve / Reject buttons for those who may review.

        Buttons of the change form itself (``formaction``) posting to ``review_view``:
        a form cannot sit inside the change form."""
        return review_controls(self.admin_site, obj, may_review=getattr(obj, MAY_REVIEW_ATTR, False))

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
        selected = queryset.count()
        approved = upgrades.approve(queryset)
        skipped = selected - approved
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

    @admin.action(description=_("Render again what an older engine made"), permissions=["rerender"])
    def render_outdated(self, request, queryset):
        """``manage.py stylize --outdated`` for the selected images (``variants.upgrades``)."""
        rows = upgrades.outdated(queryset)
        if not rows:
            self.message_user(request, _("None of the selected ready images was rendered by an older engine: "
                                         "nothing to do."), messages.WARNING)
            return
        result, batch = upgrades.render_again(rows, user=request.user)
        message = ngettext(
            "Queued %(count)d image again with the current engine. Customers see the old one until the new one "
            "is shown; then the old one is deleted.",
            "Queued %(count)d images again with the current engine. Customers see each old one until its new one "
            "is shown; then the old one is deleted.", len(result.ids)) % {"count": len(result.ids)}
        self.message_user(request, format_html("{} {}", message, views.batch_link(self.admin_site, batch)),
                          messages.SUCCESS)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("<path:object_id>/review/", self.admin_site.admin_view(self.review_view), name="%s_%s_review" % info),
            *super().get_urls(),
        ]

    def review_view(self, request, object_id):
        """POST ``decision`` = approve | reject for one variant, as the list's actions do
        it (same permission, same rules, same messages); back to ``next`` or its page."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_manage_jobs_permission(request):
            raise PermissionDenied
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404(_("No stylized image with this id."))
        decisions = {"approve": self.approve, "reject": self.reject}
        decision = decisions.get(request.POST.get("decision"))
        if decision is None:
            self.message_user(request, _("Choose approve or reject."), messages.ERROR)
        else:
            decision(request, StylizedImage.objects.filter(pk=obj.pk))
        next_url = request.GET.get("next", "")
        if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
            next_url = reverse(f"{self.admin_site.name}:stylestore_stylizedimage_change", args=[obj.pk])
        return HttpResponseRedirect(next_url)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        if obj is not None:
            extra_context = {"title": variant_title(obj), "subtitle": status_in_words(obj), **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra_context)

    @property
    def media(self):
        return super().media + forms.Media(
            js=["stylestore/admin/compare.js"], css={"all": ["stylestore/admin/stylestore.css"]}
        )


#: What each metric is, in words (``engine.metrics``): ``(label, how to read the value)``.
METRIC_WORDS = {
    "product_delta_e": _("Product colour"),
    "product_delta_e_p95": _("Product colour where it changed most (95th percentile)"),
    "structure": _("Product shape"),
    "style_visibility": _("Style"),
    "product_coverage": _("Product area"),
}


def explain(key, value):
    """``(label, words)`` for one metric."""
    floor = stylestore_settings.QUALITY_GATE.get("STRUCTURE") or 0.0
    words = {
        "product_delta_e": lambda: _("%(verdict)s: the product's mean colour difference from the photo "
                                     "(CIEDE2000; under about 2 is not visible)") % {
            "verdict": quality.colour_in_words(value)},
        "product_delta_e_p95": lambda: _("ΔE %.1f") % value,
        "structure": lambda: _("%(verdict)s (%(value).2f): how much of the product's outlines and detail "
                               "remain (1 is all)") % {"verdict": _("kept") if value >= floor else _("lost"),
                                                      "value": value},
        "style_visibility": lambda: _("%(verdict)s (%(value).2f): how far the picture moved towards the "
                                      "full style (1 is all the way)") % {
            "verdict": quality.style_in_words(value), "value": value},
        "product_coverage": lambda: _("%d%% of the picture") % round(value * 100),
    }[key]()
    return METRIC_WORDS[key], words


def status_in_words(obj):
    """E.g. "Ready · Approved": where the job is and what the review decided; and
    whether an older engine rendered it (``upgrades``)."""
    words = f"{obj.get_status_display()} · {obj.get_review_display()}"
    if upgrades.is_outdated(obj):
        words += " · " + _("rendered by an older engine")
    return words


def variant_title(obj):
    """E.g. "Serape — The Great Wave, 1024 px": what a shop admin calls a variant."""
    target = obj.source.source
    name = str(target) if target is not None else _("%(source)s (deleted)") % {"source": obj.source}
    return _("%(product)s — %(style)s, %(size)d px") % {"product": name, "style": obj.style, "size": obj.max_side}


def review_controls(admin_site, obj, *, may_review, next_url=""):
    """The review decision in words, plus Approve / Reject buttons for those who may
    review; shared by the variant page and the product's variants panel.

    The buttons belong to the page's change form (a form cannot sit inside another) and
    post it to ``review_view`` (``formaction``), which goes back to ``next_url``."""
    state = obj.get_review_display()
    if obj.status != StylizedImage.Status.READY:
        state = _("%(review)s (not ready: %(status)s)") % {"review": state, "status": obj.get_status_display()}
    if not may_review:
        return format_html('<span class="stylestore-review-state">{}</span>', state)
    url = reverse(f"{admin_site.name}:stylestore_stylizedimage_review", args=[obj.pk])
    if next_url:
        url += "?" + urlencode({"next": next_url})
    buttons = [("approve", _("Approve"), obj.status == StylizedImage.Status.READY
                and obj.review != StylizedImage.Review.APPROVED),
               ("reject", _("Reject"), obj.review != StylizedImage.Review.REJECTED)]
    return format_html(
        '<span class="stylestore-review-state">{}</span> {}', state,
        format_html_join("", '<button type="submit" class="button stylestore-review-{}" formaction="{}" '
                             'formmethod="post" formnovalidate name="decision" value="{}">{}</button> ',
                         ((value, url, value, label) for value, label, shown in buttons if shown)),
    )
