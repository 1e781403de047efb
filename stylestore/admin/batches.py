"""Batches in the admin: what each "Apply style" queued, where it stands (queued,
waiting for a worker / rendering / ready / failed), its estimated time left, links to
its results and failures, and cancel. ``BatchFilter`` narrows the variants list to one
batch (the completion notice links there)."""
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..api.permissions import CanManageJobs
from ..models import Batch
from ..variants import batches, estimates, state
from . import notices

#: Batches offered as choices by the variants list's filter (newest first).
FILTER_CHOICES = 20


class BatchFilter(admin.SimpleListFilter):
    """The variants of one batch: the newest batches as choices; any batch by ``?batch=<id>``."""

    title = _("batch")
    parameter_name = "batch"

    def lookups(self, request, model_admin):
        recent = list(Batch.objects.order_by("-created_at", "-pk")[:FILTER_CHOICES])
        chosen = self.value()
        if chosen and chosen.isdigit() and all(str(b.pk) != chosen for b in recent):
            recent += list(Batch.objects.filter(pk=int(chosen)))
        return [(str(b.pk), f"#{b.pk} {b.description}".strip()) for b in recent]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if not value.isdigit():
            return queryset.none()
        return queryset.filter(batches=int(value))


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin):
    list_display = ["__str__", "description", "created_by", "created_at", "state", "progress", "time_left", "links"]
    list_display_links = ["__str__"]
    list_filter = ["origin", ("created_by", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["created_by"]
    actions = ["cancel_selected"]
    fields = ["description", "origin", "created_by", "created_at", "state", "progress", "time_left", "links",
              "finished_at", "cancelled_at", "dropped"]
    readonly_fields = fields
    change_form_template = "stylestore/admin/batch_change_form.html"

    def has_add_permission(self, request):
        return False  # made by "Apply style…", the API and the stylize command

    def has_change_permission(self, request, obj=None):
        return False  # a record; cancel is its only change

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("stylestore.apply_style") or super().has_view_permission(request, obj)

    def may_cancel(self, request, batch=None):
        """Its author (who may apply styles), or staff who may manage jobs (retry, approve...)."""
        if request.user.has_perms(CanManageJobs.required_permissions):
            return True
        return request.user.has_perm("stylestore.apply_style") and (batch is None or batch.created_by_id == request.user.pk)

    def has_cancel_permission(self, request):
        return self.may_cancel(request)

    def get_changelist_instance(self, request):
        """Counts of the whole page in one query, not one per row."""
        changelist = super().get_changelist_instance(request)
        rows = list(changelist.result_list)
        counted = batches.counts_for([row.pk for row in rows])
        for row in rows:
            row._counts = counted[row.pk]
        return changelist

    def counts_of(self, batch):
        if not hasattr(batch, "_counts"):
            batch._counts = batches.counts(batch)
        return batch._counts

    @admin.display(description=_("status"))
    def state(self, batch):
        return {"cancelled": _("cancelled"), "finished": _("finished"), "rendering": _("rendering"),
                "queued": _("queued, waiting for a worker")}[batches.status(batch, self.counts_of(batch))]

    @admin.display(description=_("images"))
    def progress(self, batch):
        text = batches.summary(self.counts_of(batch))
        if batch.dropped:
            text += " · " + ngettext("%(n)d dropped by the cancel", "%(n)d dropped by the cancel",
                                     batch.dropped) % {"n": batch.dropped}
        return text

    @admin.display(description=_("time left"))
    def time_left(self, batch):
        seconds = batches.eta(batch)
        return "–" if seconds is None else _("about %(time)s of rendering") % {"time": estimates.duration(seconds)}

    @admin.display(description=_("results"))
    def links(self, batch):
        links = [(notices.variants_url(self.admin_site.name, batch), _("results"))]
        if self.counts_of(batch)["failed"]:
            links.append((notices.variants_url(self.admin_site.name, batch, status="attention"), _("failures")))
        return format_html_join(" · ", '<a href="{}">{}</a>', [link for link in links if link[0]])

    @admin.action(description=_("Cancel selected batches"), permissions=["cancel"])
    def cancel_selected(self, request, queryset):
        cancelled = dropped = 0
        for batch in queryset.filter(finished_at=None):
            if self.may_cancel(request, batch):
                result = batches.cancel(batch)
                if result is not None:
                    cancelled += 1
                    dropped += result
        self.message_user(request, cancel_message(cancelled, dropped), messages.SUCCESS if cancelled else messages.WARNING)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("<path:object_id>/cancel/", self.admin_site.admin_view(self.cancel_view), name="%s_%s_cancel" % info),
            *super().get_urls(),
        ]

    def cancel_view(self, request, object_id):
        """POST only: cancel one batch, then back to its page."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        batch = self.get_object(request, unquote(object_id))
        if batch is None:
            raise Http404(_("No batch with this id."))
        if not self.may_cancel(request, batch):
            raise PermissionDenied
        dropped = batches.cancel(batch)
        if dropped is None:
            self.message_user(request, _("This batch had already finished: nothing was cancelled."), messages.WARNING)
        else:
            self.message_user(request, cancel_message(1, dropped), messages.SUCCESS)
        return HttpResponseRedirect(reverse(f"{self.admin_site.name}:stylestore_batch_change", args=[batch.pk]))

    def warn_if_stalled(self, request):
        """Say so when no worker is taking jobs: otherwise a batch just sits at "queued,
        waiting for a worker" with its time left, and nothing tells the admin why."""
        if request.method == "GET" and state.stalled():
            self.message_user(request, _(
                "Images are waiting, but none started or finished rendering in the last %(minutes)d minutes: "
                "is a worker running (manage.py qcluster)? manage.py stylestore_health makes the same check "
                "for a supervisor that restarts stuck workers.") % {"minutes": state.STALLED_AFTER // 60},
                messages.WARNING)

    def changelist_view(self, request, extra_context=None):
        self.warn_if_stalled(request)
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        self.warn_if_stalled(request)
        batch = self.get_object(request, unquote(object_id))
        extra_context = {**(extra_context or {}),
                         "can_cancel": batch is not None and batch.finished_at is None and self.may_cancel(request, batch)}
        return super().change_view(request, object_id, form_url, extra_context)


def cancel_message(cancelled, dropped):
    if not cancelled:
        return _("Nothing to cancel: the selected batches had finished, or are not yours to cancel.")
    return format_html("{} {}", ngettext("Cancelled %(count)d batch.", "Cancelled %(count)d batches.", cancelled) % {
        "count": cancelled}, ngettext("%(count)d image was dropped before rendering.",
                                      "%(count)d images were dropped before rendering.", dropped) % {"count": dropped})
