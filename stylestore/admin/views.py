"""Views behind the Stylestore admin: "Apply style…", changelist progress, style preview.

Nothing here renders or imports the engine's networks: a web process stays free of
PyTorch, and previews are rendered by a worker (``stylestore.variants.previews``).

They take the ``ModelAdmin`` they serve as their first argument and are wired up by
``stylestore.admin.mixin`` and ``.styles`` (the action, and ``get_urls`` behind ``admin_site.admin_view``,
which gives login, staff-only access and ``never_cache``).
"""
import json
from dataclasses import asdict

from django import forms
from django.contrib import messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import model_ngettext, quote, unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404, HttpResponseBadRequest, HttpResponseRedirect, JsonResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ..engine.preset_names import NUM_PRESETS
from ..forms import ApplyStyleForm
from ..models import Batch, SourceImage, Style
from ..variants import batches, estimates, previews, requests
from ..variants.sources import sync_sources

ACTION_NAME = "apply_style"
# Marks a POST as coming from the confirmation page (like the delete page's ``post=yes``).
CONFIRM_FIELD = "_stylestore_confirm"
# Present when the admin asks for a recount instead of submitting: "Recalculate"
# (a plain submit button, so it works without JavaScript) or "json" from the page's script.
RECOUNT_FIELD = "_stylestore_recount"
LISTED_OBJECTS = 20
MAX_PROGRESS_IDS = 500
PREVIEW_SAMPLES = 50
# Styles the Apply page previews its settings in (each is a render on a worker).
PREVIEW_STYLES = 3
SETTINGS_PREVIEW_TEMPLATE = "stylestore/admin/includes/apply_style_preview.html"
# Every preset's swatch and a blend's: all a page polls for at once.
MAX_SWATCHES = NUM_PRESETS + 1


def split_permitted(admin_site, request, objects):
    """The objects this user may view in the admin, and how many were left out.

    Checked per object through the object's own ModelAdmin, so object-level permission
    backends (django-guardian and the like) are honoured the way the admin honours them.
    A model without a ModelAdmin falls back to the model-level view/change permission.
    """
    objects = list(objects)
    if not objects:
        return [], 0
    model = type(objects[0])
    if admin_site.is_registered(model):
        may_view = admin_site.get_model_admin(model).has_view_or_change_permission
        permitted = [obj for obj in objects if may_view(request, obj)]
    else:
        opts = model._meta
        allowed = request.user.has_perm(f"{opts.app_label}.view_{opts.model_name}") or request.user.has_perm(
            f"{opts.app_label}.change_{opts.model_name}"
        )
        permitted = objects if allowed else []
    return permitted, len(objects) - len(permitted)


def apply_style_view(modeladmin, request, queryset, *, changelist_url=None):
    """The "Apply style…" action: the confirmation page, its recount, and the submit.

    It runs inside Django's action machinery. The page posts ``action``,
    ``select_across`` and ``_selected_action`` back to the changelist URL it came from
    (which keeps the filters), as the delete confirmation does, so Django re-checks
    that the user may run the action and rebuilds the selection each time; "Select all
    N" means every object matching the filter at the moment of submitting.
    ``changelist_url``: the page was opened from elsewhere (``rerender_view``): it
    posts to ``modeladmin``'s changelist instead, the rows of ``queryset`` selected.
    """
    if not modeladmin.has_apply_style_permission(request):
        raise PermissionDenied
    objects, denied = split_permitted(
        modeladmin.admin_site, request, modeladmin.get_stylize_objects(request, queryset)
    )
    if not objects:
        message = (_("You do not have permission to view the selected items.") if denied
                   else _("The selection holds nothing to apply a style to."))
        modeladmin.message_user(request, message, messages.WARNING)
        return None  # the changelist redirects back to itself
    image_field = modeladmin.stylize_image_field
    confirmed = CONFIRM_FIELD in request.POST
    recount = request.POST.get(RECOUNT_FIELD)
    form = ApplyStyleForm(request.POST if confirmed else None)
    form.fields["styles"].widget.swatches_url = reverse(f"{modeladmin.admin_site.name}:stylestore_style_swatches")
    valid = form.is_valid()
    if valid and not recount:
        styles = form.cleaned_data["styles"]
        with transaction.atomic():
            result = requests.request_for_objects(objects, image_field, styles, form.cleaned_data["render_request"])
            batch = batches.record(result, styles, {type(objects[0]): len(objects)}, user=request.user,
                                   origin=Batch.Origin.ADMIN)
        skipped = len(objects) * len(styles) - len(result.ids)
        modeladmin.message_user(request, success_message(result, skipped, batch_link(modeladmin.admin_site, batch)),
                                messages.SUCCESS)
        return HttpResponseRedirect(request.get_full_path())

    estimate, preview = {}, {}
    if valid:
        styles, render_request = form.cleaned_data["styles"], form.cleaned_data["render_request"]
        counts = requests.count_for_objects(objects, image_field, styles, render_request)
        renders = [(params["engine"], params["max_side"]) for params in map(render_request.resolve, styles)]
        estimate = estimates.for_batch(renders, counts.new)
        preview = settings_preview(objects, image_field, list(styles), render_request)
    else:
        counts = requests.count_for_objects(objects, image_field, [])
    counts_context = {"counts": counts, "counted": valid, "estimate": estimate, "problems": form.non_field_errors(),
                      "objects_name": model_ngettext(objects[0], len(objects))}
    if recount == "json":
        return JsonResponse({
            "valid": valid,
            "errors": form.errors.get_json_data() if form.is_bound else {},
            "counts": {**asdict(counts), "new": counts.new},
            "summary_html": render_to_string("stylestore/admin/includes/apply_style_counts.html", counts_context, request),
            "preview_html": render_to_string(SETTINGS_PREVIEW_TEMPLATE, {"preview": preview}, request),
            "preview_pending": preview.get("pending", False),
        })

    opts = modeladmin.model._meta
    context = {
        **modeladmin.admin_site.each_context(request),
        **counts_context,
        "title": _("Apply style"),
        "opts": opts,
        "form": form,
        "fields": [form[name] for name in form.fields if name != "styles"],
        "objects": objects[:LISTED_OBJECTS],
        "more_objects": max(len(objects) - LISTED_OBJECTS, 0),
        "denied": denied,
        "changelist_url": changelist_url or request.get_full_path(),
        "action_name": ACTION_NAME,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "selected": ([str(pk) for pk in queryset.values_list("pk", flat=True)] if changelist_url
                     else request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)),
        "select_across": "0" if changelist_url else request.POST.get("select_across", "0"),
        "confirm_field": CONFIRM_FIELD,
        "recount_field": RECOUNT_FIELD,
        "media": modeladmin.media + form.media,
        "preview": preview,
        "settings_preview_template": SETTINGS_PREVIEW_TEMPLATE,
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, "stylestore/admin/apply_style.html", context)


def settings_preview(objects, image_field, styles, render_request):
    """The Apply page's settings on the first selected item with an image, in the first
    few chosen styles, rendered by a worker (``previews``); ``{}`` if no item has one."""
    obj = next((obj for obj in objects if getattr(obj, image_field)), None)
    if obj is None:
        return {}
    source = sync_sources([obj], image_field)[0]
    if not source.content_hash:
        return {}
    settings = previews.settings_of(render_request)
    shown = [(style, previews.get_or_request(style, source, settings)) for style in styles[:PREVIEW_STYLES]]
    return {
        "object": obj, "original_url": source.get_field_file().url, "shown": shown, "side": previews.PREVIEW_SIDE,
        "more": max(len(styles) - PREVIEW_STYLES, 0),
        "pending": any(found.status == "rendering" for _style, found in shown),
        "slow_engine": any(render_request.resolve(style)["engine"] == Style.Engine.OPTIMIZE for style in styles),
    }


def batch_link(admin_site, batch):
    """A link to a batch's page in the admin (where it can be followed and cancelled)."""
    url = reverse(f"{admin_site.name}:stylestore_batch_change", args=[batch.pk])
    return format_html('<a href="{}">{}</a>', url, _("Follow or cancel it"))


def rerender_view(variants_admin, request, variants):
    """The variants list's "Re-render with other settings…": the Apply page for the
    objects whose photos those variants show, served by their own ModelAdmin (one with
    ``StylizeAdminMixin`` that styles that image field), so what follows is its usual
    flow. Variants of several kinds of object at once are refused with a message."""
    admin_site = variants_admin.admin_site
    sources = list(SourceImage.objects.filter(pk__in=variants.values("source_id")).select_related("content_type"))
    kinds = {(source.content_type, source.field_name) for source in sources}
    if len(kinds) != 1:
        variants_admin.message_user(
            request, _("Select the images of one kind of object (one image field) at a time."), messages.WARNING)
        return None
    content_type, field_name = kinds.pop()
    model = content_type.model_class()
    modeladmin = admin_site._registry.get(model) if model is not None else None
    if getattr(modeladmin, "stylize_image_field", None) != field_name:
        variants_admin.message_user(request, _("%(model)s has no “Apply style…” in this admin for its %(field)s "
                                               "field.") % {"model": content_type.name, "field": field_name},
                                    messages.WARNING)
        return None
    objects = modeladmin.get_queryset(request).filter(pk__in=[source.object_id for source in sources])
    opts = model._meta
    changelist_url = reverse(f"{admin_site.name}:{opts.app_label}_{opts.model_name}_changelist")
    return apply_style_view(modeladmin, request, objects, changelist_url=changelist_url)


def success_message(result, skipped=0, link=""):
    """E.g. "Queued 12 images (4 already existed)." ``skipped``: combinations with no
    readable image; ``link``: to the batch, added when something was queued."""
    created, reused = len(result.created), len(result.reused)
    if created:
        message = ngettext("Queued %(count)d image", "Queued %(count)d images", created) % {"count": created}
        if reused:
            message += " " + ngettext("(%(count)d already existed)", "(%(count)d already existed)", reused) % {
                "count": reused
            }
        message += "."
    elif reused:
        message = ngettext(
            "Nothing new to queue: the %(count)d image already existed.",
            "Nothing new to queue: all %(count)d images already existed.",
            reused,
        ) % {"count": reused}
    else:
        message = _("Nothing was queued.")
    if skipped:
        message += " " + ngettext(
            "%(count)d was skipped: its item has no readable image.",
            "%(count)d were skipped: their items have no readable image.",
            skipped,
        ) % {"count": skipped}
    if link and created:
        return format_html("{} {}.", message, link)
    return message


def progress_label(counts):
    """The changelist cell's text, e.g. "Styles: 1/3 ready · 1 queued, waiting for a
    worker · 1 rendering · about 40 s of rendering left" (styles, not images: see ``requests.progress``)."""
    if not counts["total"]:
        return _("No styles yet")
    parts = [_("Styles: %(ready)d/%(total)d ready") % counts]
    rest = {**counts, "ready": 0}  # said above, as styles of the total
    if any(rest[key] for key in requests.STYLE_STATE_ORDER):
        parts.append(batches.summary(rest))
    if counts["seconds_left"] is not None:
        parts.append(_("about %(time)s of rendering left") % {"time": estimates.duration(counts["seconds_left"])})
    return " · ".join(parts)


def variants_url(admin_site, source_ids):
    """The variants list narrowed to these photos' variants, or None (none, or that
    admin is not on this site)."""
    if not source_ids:
        return None
    try:
        url = reverse(f"{admin_site.name}:stylestore_stylizedimage_changelist")
    except NoReverseMatch:
        return None
    return f"{url}?source__in={','.join(str(pk) for pk in sorted(source_ids))}"


def progress_view(modeladmin, request):
    """JSON progress of the changelist rows given as ``?id=1&id=2``, polled by ``progress.js``."""
    if not modeladmin.has_view_or_change_permission(request):
        raise PermissionDenied
    pk = modeladmin.opts.pk
    try:
        # Converted and range-checked first: a number too big for the column is a 500 otherwise.
        ids = [pk.to_python(value) for value in request.GET.getlist("id")[:MAX_PROGRESS_IDS]]
        for value in ids:
            pk.run_validators(value)
        rows = list(modeladmin.get_queryset(request).filter(pk__in=ids))
    except (ValueError, ValidationError):
        return HttpResponseBadRequest("Each id must be a primary key.")
    progress = modeladmin.get_stylize_progress(request, rows)
    return JsonResponse({"progress": {
        str(pk): {"label": progress_label(counts), "pending": counts["queued"] + counts["rendering"],
                  "failed": counts["failed"], "url": variants_url(modeladmin.admin_site, counts["source_ids"])}
        for pk, counts in progress.items()
    }})


def sample_sources(admin_site, request):
    """Recent source images this user may see, for the preview's "sample product" choice."""
    candidates = (
        SourceImage.objects.exclude(content_hash="").select_related("content_type")
        .prefetch_related("source").order_by("-updated_at")[:PREVIEW_SAMPLES]
    )
    by_model = {}
    for source in candidates:
        if source.source is not None:
            by_model.setdefault(type(source.source), []).append(source)
    samples = []
    for sources in by_model.values():
        permitted, _denied = split_permitted(admin_site, request, [s.source for s in sources])
        permitted_ids = {id(obj) for obj in permitted}
        samples += [s for s in sources if id(s.source) in permitted_ids]
    samples.sort(key=lambda s: s.updated_at, reverse=True)
    return samples


def style_preview_view(modeladmin, request, object_id):
    """The style on one sample product, rendered by a worker and shown when ready.

    Until then the page says so and polls itself (``?format=json``: the preview's
    status, its URL once ready, its error if it failed). A failure is shown on the
    page with "Try again" (``?retry=1``): a preview is a convenience and must never
    turn into a server error.
    """
    style = modeladmin.get_object(request, unquote(object_id))
    if style is None:
        raise Http404(_("No style with this id."))
    if not modeladmin.has_view_or_change_permission(request, style):
        raise PermissionDenied
    opts = modeladmin.model._meta
    change_url = reverse(
        f"admin:{opts.app_label}_{opts.model_name}_change", args=[quote(style.pk)], current_app=modeladmin.admin_site.name
    )
    samples = sample_sources(modeladmin.admin_site, request)
    if not samples:
        modeladmin.message_user(
            request, _("There is no product image to preview on yet: add a product with an image first."), messages.WARNING
        )
        return HttpResponseRedirect(change_url)
    chosen = next((s for s in samples if str(s.pk) == request.GET.get("source")), samples[0])
    if request.GET.get("retry"):
        previews.forget_failure(style, chosen)
        # Without ``retry``, so the page's reload after another failure does not retry again.
        return HttpResponseRedirect(f"?source={chosen.pk}")
    preview = previews.get_or_request(style, chosen)
    if request.GET.get("format") == "json":
        return JsonResponse(asdict(preview))
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": _("Preview of %(style)s") % {"style": style},
        "opts": opts,
        "original": style,
        "change_url": change_url,
        "samples": samples,
        "chosen": chosen,
        "original_url": chosen.get_field_file().url,
        "preview": preview,
        "preview_side": previews.PREVIEW_SIDE,
        "media": modeladmin.media + forms.Media(js=["stylestore/admin/style_preview.js"]),
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, "stylestore/admin/style_preview.html", context)


def swatches_view(modeladmin, request):
    """JSON state of preset swatches, ``?w={"3": 1}&w=...`` (preset blends), in order;
    missing ones are asked of a worker. Polled by ``swatches.js`` wherever a preset is
    shown: the Styles list and form, and the Apply page (for those who may apply styles)."""
    if not (modeladmin.has_view_or_change_permission(request) or request.user.has_perm("stylestore.apply_style")):
        raise PermissionDenied
    try:
        blends = [json.loads(value) for value in request.GET.getlist("w")[:MAX_SWATCHES]]
        found = previews.swatches(blends)
    except ValueError:
        return JsonResponse({"error": _("Each w must be a JSON object of preset weights.")}, status=400)
    except ValidationError as exc:
        return JsonResponse({"error": " ".join(exc.messages)}, status=400)
    return JsonResponse({"swatches": [asdict(preview) for preview in found]})
