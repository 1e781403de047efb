"""Finding source images (and so variants) by the objects behind them.

Sources point at the shop's objects through a generic relation, which the admin's
``search_fields`` cannot follow. A search term is matched the way the shop's own admin
matches it: each source model's ModelAdmin searches its objects (its ``search_fields``,
e.g. a product's name), and the sources of what it finds match; a grouped source model
(Oscar's product images) matches through its owner's admin. A reference such as
``shop.product:42`` (``stylestore.references``) matches that object's sources. Always
current: nothing is copied that could fall out of step with a renamed product.
"""
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db.models import Q

from ..references import MalformedReference, UnknownReference, parse_reference
from ..variants.sources import object_ids_of, source_models


def matching_sources(admin_site, request, search_term, prefix="") -> Q:
    """A ``Q`` over SourceImage (its fields behind ``prefix``, e.g. ``"source__"``)
    for the sources of the objects that ``search_term`` finds."""
    term = search_term.strip()
    if not term:
        return Q(pk__in=[])
    try:
        reference = parse_reference(term)
    except (MalformedReference, UnknownReference):
        reference = None
    if reference is not None:
        try:
            objects = reference.source_objects()
        except UnknownReference:
            return Q(pk__in=[])
        model = type(objects[0])
        return Q(**{f"{prefix}content_type": ContentType.objects.get_for_model(model),
                    f"{prefix}object_id__in": [str(obj.pk) for obj in objects]})
    found = Q(pk__in=[])
    for label, config in source_models().items():
        model = apps.get_model(label)
        searched = model if not config.group else model._meta.get_field(config.group).related_model
        objects = _search(admin_site, request, searched, term)
        if objects is None:
            continue
        if config.group:  # the images of the owners found
            objects = model._default_manager.filter(**{f"{config.group}__in": objects})
        found |= Q(**{f"{prefix}content_type": ContentType.objects.get_for_model(model),
                      f"{prefix}object_id__in": object_ids_of(objects)})
    return found


def _search(admin_site, request, model, term):
    """The objects of ``model`` its own admin finds for ``term``, or None if it has no search."""
    if not admin_site.is_registered(model):
        return None
    model_admin = admin_site.get_model_admin(model)
    if not model_admin.get_search_fields(request):
        return None
    queryset, _may_have_duplicates = model_admin.get_search_results(request, model._default_manager.all(), term)
    return queryset
