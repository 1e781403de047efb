"""An object's variants on its own admin change page: thumbnails, status, review
(approve / reject) and "Apply style…" for this object.

``StylizeAdminMixin`` hooks it in: a "Styles" fieldset with one read-only field,
on the change page of an admin whose rows are the styled objects themselves (a
product's page, not a category's). Everything on it belongs to the page's change form,
so its buttons post that form elsewhere (``formaction``): a form cannot sit inside
another.
"""
from django.contrib.admin import helpers
from django.contrib.contenttypes.models import ContentType
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from ..models import SourceImage, StylizedImage
from ..variants.sources import source_fields
from . import views
from .display import admin_change_url
from .variants import review_controls, variant_title

FIELD = "stylize_variants"
# The request, kept on the object for the field (a read-only field is given only the object).
REQUEST_ATTR = "_stylestore_request"
# Variants listed on the page; the rest are one link away.
SHOWN = 24


def shows_variants(modeladmin, obj) -> bool:
    return obj is not None and modeladmin.stylize_image_field in source_fields(modeladmin.model)


def fieldsets(modeladmin, request, obj, fieldsets):
    """``fieldsets`` with the variants' own last, and the field nowhere else (Django's
    default fieldset lists every read-only field)."""
    fieldsets = [(name, {**options, "fields": [f for f in options["fields"] if f != FIELD]})
                 for name, options in fieldsets]
    if shows_variants(modeladmin, obj):
        fieldsets.append((_("Styles"), {"fields": [FIELD], "classes": ["stylestore-object-variants"]}))
    return fieldsets


def readonly_fields(modeladmin, request, obj, readonly):
    if not shows_variants(modeladmin, obj):
        return readonly
    setattr(obj, REQUEST_ATTR, request)
    return [*readonly, FIELD]


def panel(modeladmin, obj):
    """The HTML of the object's current variants (those of its photo as it is now)."""
    request = getattr(obj, REQUEST_ATTR, None)
    if request is None:
        return "–"
    site = modeladmin.admin_site
    field_name = modeladmin.stylize_image_field
    source = SourceImage.objects.filter(content_type=ContentType.objects.get_for_model(obj), object_id=str(obj.pk),
                                        field_name=field_name).first()
    variants = []
    if source is not None and source.content_hash:
        variants = list(StylizedImage.objects.filter(source=source, source_hash=source.content_hash)
                        .select_related("style").order_by("style__name", "-max_side", "-pk")[:SHOWN + 1])
    variant_admin = site.get_model_admin(StylizedImage) if site.is_registered(StylizedImage) else None
    may_view = variant_admin is not None and variant_admin.has_view_or_change_permission(request)
    may_review = variant_admin is not None and variant_admin.has_manage_jobs_permission(request)
    here = request.get_full_path()
    rows = []
    for variant in variants[:SHOWN]:
        variant.source = source  # the object is at hand: no query per row for it
        rows.append({
            "variant": variant,
            "title": variant_title(variant),
            "url": admin_change_url(site, variant) if may_view else None,
            "review": review_controls(site, variant, may_review=may_review, next_url=here),
        })
    opts = modeladmin.opts
    context = {
        "rows": rows,
        "more": len(variants) > SHOWN,
        "has_image": bool(getattr(obj, field_name)),
        "all_url": (reverse(f"{site.name}:stylestore_stylizedimage_changelist") + f"?q={source.reference}"
                    if source is not None and may_view else None),
        "apply": modeladmin.has_apply_style_permission(request),
        "changelist_url": reverse(f"{site.name}:{opts.app_label}_{opts.model_name}_changelist"),
        "action_name": views.ACTION_NAME,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "pk": obj.pk,
    }
    return render_to_string("stylestore/admin/includes/object_variants.html", context, request)
