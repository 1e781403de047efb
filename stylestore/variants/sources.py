"""Source photos: which model fields hold them, which objects are public, their
content hashes and sizes.

Any model can be a source: list it in ``STYLESTORE["SOURCE_MODELS"]`` (both forms are
described in ``stylestore.conf``). A variant keys on its photo's content hash, so a
replaced photo can never be served with old variants.
"""
import logging
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models.constants import LOOKUP_SEP
from django.db.models.functions import Cast
from django.utils.module_loading import import_string

from ..conf import image_limits, stylestore_settings
from ..engine.errors import ImageError
from ..engine.gate import inspect_image
from ..models import SourceImage
from ..storage import file_hash

logger = logging.getLogger(__name__)

#: The keys a ``SOURCE_MODELS`` value may have in its dict form.
SOURCE_MODEL_KEYS = {"fields", "public", "group", "category"}


@dataclass(frozen=True)
class SourceModel:
    """One entry of ``SOURCE_MODELS``: a model's image fields, which of its objects are
    public, and the field naming the object its images belong to."""

    label: str
    fields: tuple
    #: None (every object is public), a dict of queryset lookups, or the dotted path of
    #: a callable taking the model's queryset and returning its public part.
    public: object = None
    #: A foreign key to the object the images belong to (Oscar's ``ProductImage.product``):
    #: "More in this style" then ranks those objects, one image each, never the object's own.
    group: str | None = None
    #: A lookup from the model to its category's name, for the analytics (None: none).
    category: str | None = None

    def public_queryset(self, model):
        """The objects customers may see, fetched to be shown: with their category
        joined where a join can name it (``loaded_category``)."""
        queryset = model._default_manager.all()
        if relation := self.category_relation(model):
            queryset = queryset.select_related(relation)
        if self.public is None:
            return queryset
        if isinstance(self.public, dict):
            return queryset.filter(**self.public)
        return import_string(self.public)(queryset)

    def group_attname(self, model):
        return model._meta.get_field(self.group).attname if self.group else None

    def category_relation(self, model) -> str | None:
        """The relations ``category`` follows (``"category"`` of ``"category__name"``),
        for ``select_related``, where they are all forward and single-valued: objects
        fetched with them name their category without a query (``loaded_category``)."""
        path = _category_path(model, self.category) if self.category else None
        if not path or len(path) == 1:
            return None
        return LOOKUP_SEP.join(field.name for field in path[:-1])


def parse_source_models(raw) -> tuple[dict, list[str]]:
    """``({label_lower: SourceModel}, [problem, ...])`` of a ``SOURCE_MODELS`` value.

    Labels are matched case-insensitively (``"catalogue.ProductImage"`` names
    ``catalogue.productimage``); problems are reported by the system checks and the
    entries they concern left out, so a typo never breaks a page."""
    found, problems = {}, []
    if not isinstance(raw, dict):
        return found, ["STYLESTORE['SOURCE_MODELS'] must be a dict of model label -> fields."]
    for label, value in raw.items():
        if isinstance(value, dict):
            unknown = set(value) - SOURCE_MODEL_KEYS
            if unknown or "fields" not in value:
                problems.append(f"STYLESTORE['SOURCE_MODELS'][{label!r}] needs 'fields' and may have "
                                f"{', '.join(sorted(SOURCE_MODEL_KEYS - {'fields'}))}; got {', '.join(sorted(value))}.")
                continue
            fields, public, group = value["fields"], value.get("public"), value.get("group")
            category = value.get("category")
        else:
            fields, public, group, category = value, None, None, None
        if isinstance(fields, str) or not all(isinstance(name, str) for name in fields):
            problems.append(f"STYLESTORE['SOURCE_MODELS'][{label!r}]: the fields must be a list of field names.")
            continue
        if public is not None and not isinstance(public, (dict, str)):
            problems.append(f"STYLESTORE['SOURCE_MODELS'][{label!r}]['public'] must be a dict of lookups or the "
                            "dotted path of a callable(queryset).")
            continue
        if category is not None and not isinstance(category, str):
            problems.append(f"STYLESTORE['SOURCE_MODELS'][{label!r}]['category'] must be a lookup such as "
                            "'category__name'.")
            continue
        try:
            key = apps.get_model(label)._meta.label_lower
        except (LookupError, ValueError):
            problems.append(f"STYLESTORE['SOURCE_MODELS'] names unknown model {label!r}.")
            continue
        found[key] = SourceModel(key, tuple(fields), public, group, category)
    return found, problems


_parsed = [None, {}]


def source_models() -> dict:
    """``{label_lower: SourceModel}`` of the current settings (parsed once per value)."""
    raw = stylestore_settings.SOURCE_MODELS
    if _parsed[0] is not raw:
        _parsed[:] = [raw, parse_source_models(raw)[0]]
    return _parsed[1]


def source_model(model) -> SourceModel | None:
    return source_models().get(model._meta.label_lower)


def source_fields(model) -> list[str]:
    """The image fields of ``model`` that ``STYLESTORE["SOURCE_MODELS"]`` names."""
    config = source_model(model)
    return list(config.fields) if config else []


def owned_source(model):
    """``(source model, SourceModel)`` of the grouped source model whose ``group`` points
    at ``model`` (Oscar's products own their images), or None."""
    for label, config in source_models().items():
        if config.group:
            source = apps.get_model(label)
            if source._meta.get_field(config.group).related_model is model:
                return source, config
    return None


def public_queryset(model):
    """The objects of a source model that customers may see (all, unless its
    ``SOURCE_MODELS`` entry says ``public``)."""
    config = source_model(model)
    return config.public_queryset(model) if config else model._default_manager.none()


def categories_of(source_ids) -> dict:
    """``{source id: category name}`` of the images whose model's ``SOURCE_MODELS``
    entry names a ``category`` lookup and whose object has one (the first in name order
    where it has several): what the analytics group by and the policy learns per
    category. One query for the images and one per source model."""
    if not any(config.category for config in source_models().values()):
        return {}  # no query where no source model names a category
    objects = defaultdict(dict)  # {content type id: {object id: source id}}
    for pk, content_type_id, object_id in SourceImage.objects.filter(pk__in=list(source_ids)).values_list(
            "pk", "content_type_id", "object_id"):
        objects[content_type_id][object_id] = pk
    return {objects[content_type_id][object_id]: name
            for (content_type_id, object_id), name in object_categories(objects).items()}


@lru_cache(maxsize=None)
def _category_path(model, lookup):
    """The fields ``lookup`` goes through from ``model``, its last the category's own;
    None where it crosses a reverse or many-valued relation or ends in a transform (an
    object names such a category only through a query)."""
    path, opts = [], model._meta
    parts = lookup.split(LOOKUP_SEP)
    for index, part in enumerate(parts):
        try:
            field = opts.get_field(part)
        except FieldDoesNotExist:
            return None
        if not field.concrete:  # a reverse relation or a many-to-many
            return None
        if index < len(parts) - 1:
            if not (field.many_to_one or field.one_to_one):
                return None
            opts = field.related_model._meta
        path.append(field)
    return tuple(path)


def loaded_category(obj) -> tuple[bool, str | None]:
    """``(True, category name or None)`` of ``obj`` where it can be read from what was
    fetched with it (its ``SOURCE_MODELS`` entry names no category; or the category's
    relations were joined, as by ``select_related``), else ``(False, None)``: a page
    whose query joined the category needs no query for it (``object_categories``)."""
    config = source_model(type(obj))
    if config is None or not config.category:
        return True, None
    path = _category_path(type(obj), config.category)
    if path is None:
        return False, None
    target = obj
    for field in path[:-1]:
        if getattr(target, field.attname) is None:
            return True, None
        if not field.is_cached(target):
            return False, None
        target = field.get_cached_value(target)
    if path[-1].attname in target.get_deferred_fields():
        return False, None
    value = getattr(target, path[-1].attname)
    return True, None if value is None else str(value)


def object_categories(object_ids) -> dict:
    """``{(content type id, object id): category name}`` of the objects of
    ``{content type id: [object ids]}`` (object ids as ``SourceImage`` stores them) that
    have one, as ``categories_of`` finds them: one query per source model that names a
    ``category`` lookup, none for the others."""
    found = {}
    for content_type_id, ids in object_ids.items():
        model = ContentType.objects.get_for_id(content_type_id).model_class()
        config = source_model(model) if model is not None else None
        if config is None or not config.category:
            continue
        # Name order, the first kept: one category per object however many it has.
        names = (model._default_manager.filter(pk__in=list(ids), **{f"{config.category}__isnull": False})
                 .order_by("pk", config.category).values_list("pk", config.category))
        for pk, name in names:
            found.setdefault((content_type_id, str(pk)), str(name))
    return found


def product_key(obj) -> str:
    """The product a source object's images belong to, as ``"app_label.model:pk"``: the
    object its model's ``group`` points to (an Oscar ProductImage's product, so every
    image of a gallery has one key), else the object itself (a product with a photo
    field). What a per-product pick applies to. No query: the group's key is a column."""
    config = source_model(type(obj))
    if config is not None and config.group:
        group = obj._meta.get_field(config.group)
        return f"{group.related_model._meta.label_lower}:{getattr(obj, group.attname)}"
    return f"{obj._meta.label_lower}:{obj.pk}"


def product_key_of(source_id) -> str | None:
    """``product_key`` of the object of ``SourceImage`` ``source_id``; None when either
    is gone. Two queries."""
    source = SourceImage.objects.filter(pk=source_id).first()
    obj = source.source if source is not None else None
    return product_key(obj) if obj is not None else None


def is_source(obj, field_name) -> bool:
    """Whether ``obj.<field_name>`` is a photo Stylestore tracks: a saved object of a
    source model, and one of its source fields (not a template's placeholder)."""
    meta = getattr(obj, "_meta", None)
    return (meta is not None and getattr(obj, "pk", None) is not None
            and field_name in source_fields(type(obj)))


def sync_sources(objects, field_name) -> list[SourceImage]:
    """Get or create the SourceImage of each object's image field, with a current hash."""
    objects = list(objects)
    if not objects:
        return []
    ct = ContentType.objects.get_for_model(objects[0])
    known = {
        s.object_id: s
        for s in SourceImage.objects.filter(content_type=ct, field_name=field_name, object_id__in=[str(o.pk) for o in objects])
    }
    result = []
    for obj in objects:
        source = known.get(str(obj.pk))
        if source is None:
            # get_or_create: two requests may meet the same new source at once.
            source, _ = SourceImage.objects.get_or_create(content_type=ct, object_id=str(obj.pk), field_name=field_name)
        refresh(source, getattr(obj, field_name))
        result.append(source)
    return result


def refresh(source: SourceImage, field_file) -> bool:
    """Re-hash the source's file; save and return True if its content changed.

    The size is recorded with the hash so an original-photo fallback never has to
    open the file (a network round trip on S3) to know its dimensions.
    """
    try:
        digest = file_hash(field_file) if field_file else ""
    except OSError as exc:  # the file vanished from storage: no variants can be made
        logger.warning("cannot read source image %s: %s", source, exc)
        digest = ""
    if source.pk and digest == source.content_hash and (source.width or not digest):
        return False
    changed = digest != source.content_hash
    source.content_hash = digest
    source.width, source.height = _dimensions(field_file) if digest else (None, None)
    if changed:  # what was computed from the old photo goes with it
        source.embedding = None
        source.mask, source.mask_info = "", None
    source.save()
    return changed


def _dimensions(field_file):
    """The size from the image's headers, read through the image gate.

    Not Django's ``get_image_dimensions``: that hands the file to every Pillow plugin
    (TIFF, PSD...) and raises on a decompression bomb put into storage by other means.
    A file the gate refuses has no usable size; its jobs fail when a worker decodes it.
    """
    try:
        with field_file.open("rb"):
            info = inspect_image(field_file, **image_limits())
    except (OSError, ImageError):
        return None, None
    return info.width, info.height


def _key_type_in_sql(model) -> models.Field | None:
    """The type a source's ``object_id`` (the text of ``str(pk)``) converts to in SQL to
    compare with ``model``'s primary key; None where the database's text of a key is not
    ``str(pk)`` (a UUID is 32 hex digits on SQLite and MySQL, with hyphens in Python)."""
    pk = model._meta.pk
    pk = pk.target_field if pk.is_relation else pk
    if isinstance(pk, models.IntegerField):  # the auto fields too
        return models.BigIntegerField()
    if isinstance(pk, (models.CharField, models.TextField)):
        return models.CharField()
    return None


def object_ids_of(queryset):
    """For ``object_id__in``: the keys of ``queryset``'s objects as sources store them,
    a subquery where the database writes them as Python does, else the list."""
    if _key_type_in_sql(queryset.model) is None:
        return [str(pk) for pk in queryset.values_list("pk", flat=True)]
    return queryset.values(key=Cast("pk", models.CharField()))


def pks_of(model, variants):
    """For ``pk__in`` over ``model``: the primary keys of the objects whose photos
    ``variants`` (a StylizedImage queryset) styled, as a subquery where the database
    converts them, else the list."""
    output = _key_type_in_sql(model)
    if output is None:
        pk = model._meta.pk
        return [pk.to_python(value) for value in variants.values_list("source__object_id", flat=True).distinct()]
    return variants.values(object_pk=Cast("source__object_id", output))
