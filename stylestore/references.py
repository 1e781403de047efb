"""Stable references to source objects: ``<app_label>.<model_name>:<pk>``.

A headless storefront knows its products by its own ids, not by Stylestore's
``SourceImage`` rows (which appear only once an image was hashed). A reference such
as ``shop.product:42`` names the object itself, stays valid across re-uploads of its
photo, and is what ``SourceImage.reference`` prints, so ids round-trip.

Parsing is strict and happens before any query, for two reasons:

- Malformed input must be a client error (HTTP 400), never a database error: an
  integer primary key out of the column's range raises ``OverflowError`` on SQLite
  and ``DataError`` on PostgreSQL, so the key is cleaned with the primary key field's
  own ``to_python`` and validators (which carry the backend's integer range).
- Only models listed in ``STYLESTORE["SOURCE_MODELS"]`` can be referenced (and the
  models their ``group`` points at: ``catalogue.product:1`` names a product's images),
  so the API cannot be used to probe which rows exist in arbitrary tables.

This module knows nothing about HTTP; the API maps :class:`MalformedReference` to 400
and :class:`UnknownReference` to 404 (or to a validation error inside a request body).
"""
import re
from dataclasses import dataclass
from functools import cached_property

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError

from .variants.sources import owned_source, public_queryset, source_fields

# Lower-case Python identifiers (what Django uses for app labels and model names),
# then a key made of URL-unreserved characters, so a reference never needs escaping
# in a URL path. 64 characters is the width of ``SourceImage.object_id``.
# The pattern is also published in the OpenAPI schema, hence no Python-only syntax
# such as named groups; it is applied with ``fullmatch`` because Python's ``$`` also
# matches before a trailing newline.
REFERENCE_PATTERN = r"^([a-z_][a-z0-9_]{0,99})\.([a-z_][a-z0-9_]{0,99}):([A-Za-z0-9_.~-]{1,64})$"
REFERENCE_RE = re.compile(REFERENCE_PATTERN)
EXAMPLE_REFERENCE = "shop.product:42"


class MalformedReference(ValueError):
    """The text is not a reference, or its key is not a valid primary key for its model."""


class UnknownReference(LookupError):
    """The reference is well formed but names no source model, or no existing object."""


@dataclass(frozen=True)
class SourceReference:
    """A parsed reference: the source model and the object's primary key, cleaned."""

    model: type
    pk: object

    @property
    def object_id(self) -> str:
        """The key as ``SourceImage.object_id`` stores it (``str(obj.pk)``)."""
        return str(self.pk)

    @property
    def label(self) -> str:
        """The canonical spelling, e.g. ``shop.product:42`` for ``shop.product:042``."""
        opts = self.model._meta
        return f"{opts.app_label}.{opts.model_name}:{self.object_id}"

    @cached_property
    def content_type(self) -> ContentType:
        return ContentType.objects.get_for_model(self.model)

    @property
    def fields(self) -> list[str]:
        """The image fields that Stylestore renders (``SOURCE_MODELS``): the object's,
        or for an owner (a product whose images are a grouped source model) its images'."""
        owned = owned_source(self.model)
        return list(owned[1].fields) if owned else source_fields(self.model)

    def source_objects(self, *, public=False) -> list:
        """The source objects the reference names: the object itself, or an owner's
        images in their model's order (the first is its primary image). With
        ``public``, only what customers may see; :class:`UnknownReference` when that
        leaves nothing."""
        owned = owned_source(self.model)
        if owned is None:
            return [self.get_object(public=public)]
        model, config = owned
        queryset = public_queryset(model) if public else model._default_manager.all()
        found = list(queryset.filter(**{config.group: self.pk}))
        if not found:
            raise UnknownReference(f"{self.label} does not exist or has no images.")
        return found

    def get_object(self, *, public=False):
        """The referenced object, or :class:`UnknownReference` if it does not exist or,
        with ``public``, is not public (its ``SOURCE_MODELS`` entry): to customers an
        unpublished object is as absent as a deleted one, so ids cannot be probed."""
        queryset = public_queryset(self.model) if public else self.model._default_manager
        obj = queryset.filter(pk=self.pk).first()
        if obj is None:
            raise UnknownReference(f"{self.label} does not exist.")
        return obj

    def __str__(self):
        return self.label


def parse_reference(text) -> SourceReference:
    """Parse ``app_label.model:pk`` into a :class:`SourceReference`, without querying rows."""
    match = REFERENCE_RE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise MalformedReference(
            f"A source reference looks like {EXAMPLE_REFERENCE!r}: <app_label>.<model>:<primary key>."
        )
    app_label, model_name, key = match.groups()
    try:
        model = apps.get_model(app_label, model_name)
    except LookupError:
        model = None
    if model is None or not (source_fields(model) or owned_source(model)):
        raise UnknownReference(f"{app_label}.{model_name} is not a source model.")
    pk_field = model._meta.pk
    try:
        pk = pk_field.to_python(key)
        pk_field.run_validators(pk)
    except ValidationError:
        raise MalformedReference(f"{key!r} is not a valid key for {app_label}.{model_name}.") from None
    return SourceReference(model=model, pk=pk)


def resolve_objects(references) -> tuple[dict, list[SourceReference]]:
    """Fetch the referenced source objects, one query per model.

    Returns ``({model: [objects]}, missing)``: objects in the order first referenced,
    each once (an owner's reference stands for all its images), and the references
    whose object does not exist (or, for an owner, has no image).
    """
    keys_by_model = {}
    for ref in references:
        keys_by_model.setdefault(ref.model, {}).setdefault(ref.pk, ref)
    found, missing = {}, []
    for model, refs in keys_by_model.items():
        owned = owned_source(model)
        if owned is None:
            objects = model._default_manager.in_bulk(list(refs))
            found.setdefault(model, {}).update((pk, objects[pk]) for pk in refs if pk in objects)
            missing += [ref for pk, ref in refs.items() if pk not in objects]
            continue
        source, config = owned
        attname = config.group_attname(source)
        images = list(source._default_manager.filter(**{f"{config.group}__in": list(refs)}))
        found.setdefault(source, {}).update((image.pk, image) for image in images)
        owners = {getattr(image, attname) for image in images}
        missing += [ref for pk, ref in refs.items() if pk not in owners]
    return {model: list(objects.values()) for model, objects in found.items() if objects}, missing
