"""What a page shows: for each product image, the variant this visitor sees.

For a page of products this module

1. loads the visible variants (``StylizedImage.objects.visible()``: ready, current,
   approved or auto-approved) of every product image on the page in **one query**,
   with their styles, and keeps them on the request (``VisitorContext.images``);
2. takes the visitor's state and the looks their images were seen in (``looks``),
   loaded once per request by ``identity``, and the population model
   (``population``, cached per process and refit period);
3. calls ``policy.choose`` per image (tens of microseconds, no I/O): an image seen
   before keeps its look (``looks``), on every page and through the API; returns a
   ``ShownImage``: the chosen variant's URL, size and ``srcset``, or the original
   photo when no variant is visible or the policy chose it (``offered_looks``: with
   ``STYLESTORE["ORIGINAL_AS_ARM"]`` it is one more look). Nothing is ever generated here;
4. signs every personalized choice into a ``choice_id`` token (``choices``).

So a listing costs a constant number of queries however many products it shows:
variants (1) + visitor (1), plus the population model's aggregate queries once per
process and refit period, and for images new to the process whose objects did not
come with their product category joined (``variants.sources.loaded_category``) those
categories (one query per source model that names a category).
"""
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from itertools import islice

from django.contrib.contenttypes.models import ContentType
from django.core.files.storage import default_storage
from django.db.models import Q, prefetch_related_objects
from django.utils.translation import gettext as _

from ..conf import stylestore_settings
from ..models import StylizedImage
from ..models.personalization import counted_category
from ..storage import variant_storage
from ..variants.sources import (is_source, loaded_category, object_categories, owned_source, product_key,
                                source_model)
from . import looks, policy
from .caches import EMBEDDINGS_TTL, cache
from .choices import ORIGINAL, ChoiceRecord, new_choice_id, sign_choice, stored_look
from .embeddings import photo_table, style_vectors
from .population import best_style, global_model, policy_params


@dataclass(frozen=True)
class StyleInfo:
    id: int
    slug: str
    name: str
    description: str

    @property
    def key(self) -> str:
        """The style's key in the policy's state and model."""
        return str(self.id)


class VariantFile:
    """One stored file of a variant (variants of one style differ in size bucket).

    A slotted class rather than a dataclass: a listing makes hundreds of them per
    request, and its URL is computed only for the few that are shown, once.
    """

    __slots__ = ("name", "width", "height", "max_side", "_url")

    def __init__(self, name, width, height, max_side):
        self.name, self.width, self.height, self.max_side = name, width, height, max_side
        self._url = None

    @property
    def url(self) -> str:
        if self._url is None:
            self._url = variant_storage().url(self.name)
        return self._url


@dataclass
class PageImage:
    """One image field of one object on a page, and its visible variants by style key
    (in the shop's style order, which breaks the policy's ties)."""

    obj: object
    field_name: str
    variants: dict  # style key -> (StyleInfo, [VariantFile] by size)
    source_id: int | None = None
    #: The product category the policy learns this image's styles in (None: none).
    category: str | None = None
    #: The original photo's ``(width, height)`` as recorded with its hash, when a variant
    #: row brought it along; else the file is read (once per request) when needed.
    original_size: tuple | None = None

    @property
    def reference(self) -> str:
        opts = self.obj._meta
        return f"{opts.app_label}.{opts.model_name}:{self.obj.pk}"

    @cached_property
    def product(self) -> str:
        """The product the image belongs to (``variants.sources.product_key``): what a
        per-product pick applies to; once per request (the choice, the image and the
        picker each ask)."""
        return product_key(self.obj)

    @property
    def field_file(self):
        return getattr(self.obj, self.field_name)

    @cached_property
    def original_url(self) -> str:
        # Once per request: every look of the image (picker, gallery) falls back to it.
        field_file = self.field_file
        return field_file.url if field_file else ""


@dataclass(frozen=True)
class ShownImage:
    """What a template or API client gets for one image."""

    url: str
    width: int | None
    height: int | None
    #: ``(url, width)`` of every size of the shown look, smallest first (empty for the
    #: original photo), for ``srcset``.
    candidates: tuple
    #: The style shown, or None for the original photo.
    style: StyleInfo | None
    alt: str
    #: Signed id of this choice for the impression beacon and click attribution; None
    #: when nothing is logged (no consent, a pick of the original photo, or the original
    #: shown for want of a variant).
    choice_id: str | None
    #: Probability with which the policy chose what is shown (for a remembered look:
    #: with which it was first chosen).
    propensity: float
    #: Why: ``policy.Reason`` ("pick", "sticky", "history", "global", "explore",
    #: "original", "control" or "remembered").
    reason: str
    reference: str
    #: The original photo's URL: what a ``<picture>`` falls back to where the
    #: variant's format (WebP) is not supported.
    original_url: str = ""
    #: The product the image belongs to (``PageImage.product``; "" for what is not a
    #: tracked photo): the storefront script refreshes a product's every image after a
    #: per-product pick.
    product: str = ""

    @property
    def srcset(self) -> str:
        return ", ".join(f"{url} {width}w" for url, width in self.candidates)


def _key(content_type_id, obj, field_name):
    return (content_type_id, str(obj.pk), field_name)


def _sources_among(objects, field_name):
    """The tracked photos among ``objects``: sources as they are, and for owners (the
    products of a grouped source model) their images, fetched in one query per owner
    model unless prefetched. Placeholders and untracked objects have nothing to load."""
    objects = [obj for obj in objects if obj is not None]
    owners = {}
    for obj in objects:
        if not is_source(obj, field_name) and getattr(obj, "_meta", None) is not None:
            owners.setdefault(type(obj), []).append(obj)
    found = [obj for obj in objects if is_source(obj, field_name)]
    for model, group in owners.items():
        owned = owned_source(model)
        if owned is None or field_name not in owned[1].fields:
            continue
        accessor = owned[0]._meta.get_field(owned[1].group).remote_field.get_accessor_name()
        prefetch_related_objects(group, accessor)
        found += [image for owner in group for image in getattr(owner, accessor).all()]
    return found


def load_images(context, objects, field_name) -> None:
    """Load the visible variants of ``field_name`` of all ``objects`` that the request
    has not loaded yet, in one query (or none). Objects may be of several models, and
    owners stand for their images (``_sources_among``)."""
    by_type = {}
    for obj in _sources_among(objects, field_name):
        content_type = ContentType.objects.get_for_model(obj)  # cached by Django: no query
        if _key(content_type.pk, obj, field_name) not in context.images:
            by_type.setdefault(content_type.pk, {})[str(obj.pk)] = obj
    if not by_type:
        return
    condition = Q()
    for content_type_id, objs in by_type.items():
        condition |= Q(source__content_type_id=content_type_id, source__object_id__in=list(objs))
    rows = (
        StylizedImage.objects.visible()
        .filter(condition, source__field_name=field_name)
        .order_by("style__name", "style_id", "max_side", "-pk")
        .values_list(
            "source__content_type_id", "source__object_id", "source_id", "source__width", "source__height",
            "style_id", "style__slug", "style__name", "style__description", "max_side", "file", "width", "height",
        )
    )
    # The images' product categories: from the objects where their query joined them,
    # else kept per process for a minute and read (one query per source model) only
    # for those the process does not know.
    categories, unknown = {}, []
    for content_type_id, objs in by_type.items():
        for object_id, obj in objs.items():
            loaded, name = loaded_category(obj)
            if loaded:
                categories[("object category", content_type_id, object_id)] = counted_category(name)
            else:
                unknown.append(("object category", content_type_id, object_id))
    if unknown:
        categories.update(cache.get_many(unknown, EMBEDDINGS_TTL, _object_categories))
    styles = {}
    for content_type_id, objs in by_type.items():
        for object_id, obj in objs.items():
            context.images[(content_type_id, object_id, field_name)] = PageImage(
                obj, field_name, {}, category=categories[("object category", content_type_id, object_id)])
    for (ct_id, object_id, source_id, source_width, source_height, style_id, slug, name, description, max_side, file,
         width, height) in rows:
        entry = context.images[(ct_id, object_id, field_name)]
        entry.source_id = source_id
        if source_width and source_height:
            entry.original_size = (source_width, source_height)
        key = str(style_id)
        if key not in entry.variants:
            if style_id not in styles:
                styles[style_id] = StyleInfo(style_id, slug, name, description)
            entry.variants[key] = (styles[style_id], [])
        files = entry.variants[key][1]
        # Ordered by size, newest first: the newest file of each size bucket wins.
        if not files or files[-1].max_side != max_side:
            files.append(VariantFile(file, width, height, max_side))


def _object_categories(keys) -> dict:
    """``load_images``' categories: ``object_categories`` of the keys' objects, cut as
    the hourly counters cut them (``counted_category``)."""
    objects = {}
    for _kind, content_type_id, object_id in keys:
        objects.setdefault(content_type_id, []).append(object_id)
    return {("object category", *key): counted_category(name) for key, name in object_categories(objects).items()}


def page_image(context, obj, field_name) -> PageImage | None:
    """The page's entry for ``obj.<field_name>``, or None when it is not a photo
    Stylestore tracks (``variants.sources.is_source``)."""
    if not is_source(obj, field_name):
        return None
    content_type = ContentType.objects.get_for_model(obj)
    key = _key(content_type.pk, obj, field_name)
    if key not in context.images:
        load_images(context, [obj], field_name)
    return context.images[key]


def decide(context, entry: PageImage):
    """The policy's choice for one image and its signed id, made once per request
    (and again if the visitor's state changed since)."""
    key = (entry.reference, entry.field_name)
    if key in context.choices:
        return context.choices[key]
    available = offered_looks(entry)
    model = global_model().within(entry.category)
    state = scoped_state(context)
    per_product = state is not None and stylestore_settings.PICK_SCOPE == "product"
    picked = looks.pinned(context.looks, entry.product, entry.source_id) if per_product else None
    shown = _seen_look(context, entry) if state is not None and state.pick != ORIGINAL else None
    if picked == ORIGINAL or picked in entry.variants:
        # The customer's pick for this product alone, all its images (PICK_SCOPE "product").
        share = 0.0 if picked == ORIGINAL else state.history_share(picked)
        choice = policy.Choice(None if picked == ORIGINAL else picked, 1.0, "pick", share, state.current)
        decision = (choice, tuple(map(stored_look, available)))
    elif shown is not None and shown.style in available:
        # The look this image was seen in: the policy keeps it (after a pick and the
        # control group), logged with the draw that chose it.
        choice = policy.choose(state, available, model, policy_params(), visitor=context.key,
                               epoch=context.epoch, remembered=shown)
        available_ids = tuple(map(stored_look, shown.available if choice.reason == "remembered" else available))
        decision = (choice, available_ids)
    else:
        # Otherwise the choice depends on the visitor, the available styles and the
        # category only: the images of a page that share them share one decision (each
        # still gets its own id).
        decision = context.decisions.get((available, entry.category))
    if decision is None:
        if state is None:
            # Without consent there is no key to keep a random draw sticky and nothing is
            # logged: everyone sees the population's best, with certainty.
            best = best_style(available, model)
            choice = policy.Choice(best, 1.0, "global" if best else "original", 0.0, None)
        elif state.pick == ORIGINAL:
            choice = policy.Choice(None, 1.0, "pick", 0.0, state.current)
        else:
            choice = policy.choose(state, available, model, policy_params(), visitor=context.key,
                                   epoch=context.epoch)
        decision = context.decisions[(available, entry.category)] = (choice, tuple(map(stored_look, available)))
    choice, available_ids = decision
    token = None
    # The control group's original photo is logged too: it is what styling is measured
    # against; so is the original photo the policy drew as an arm (style None).
    if state is not None and (choice.style is not None or choice.reason == "control"):
        token = sign_choice(
            context.key,
            ChoiceRecord(
                new_choice_id(), entry.source_id, None if choice.style in (None, ORIGINAL) else int(choice.style),
                choice.propensity,
                choice.history_share, choice.reason, choice.sticky, available_ids,
            ),
        )
    context.choices[key] = (choice, token)
    return context.choices[key]


def offered_looks(entry: PageImage) -> tuple:
    """The keys of the looks the policy chooses among for ``entry``: its visible
    variants' styles, and with ``STYLESTORE["ORIGINAL_AS_ARM"]`` the original photo
    (``ORIGINAL``) where there is a choice to make (a variant) and a photo to show."""
    if stylestore_settings.ORIGINAL_AS_ARM and entry.variants and entry.field_file:
        return (*entry.variants, ORIGINAL)
    return tuple(entry.variants)


def _seen_look(context, entry) -> policy.Remembered | None:
    """The look this visitor saw ``entry`` in: remembered from its impression, else
    that of the listing card they clicked to come here, whose impression may not be
    recorded yet (``looks.clicked``)."""
    return (looks.remembered(context.looks, entry.source_id, time.time())
            or looks.clicked(context.clicked, entry.source_id))


def scoped_state(context):
    """The visitor's state with the picks ``STYLESTORE["PICK_SCOPE"]`` applies: under
    "product" a shop-wide pick (made before the setting changed) is dormant until the
    visitor's next pick replaces it, as pins are under "shop"."""
    state = context.state
    if state is not None and state.pick is not None and stylestore_settings.PICK_SCOPE == "product":
        return replace(state, pick=None)  # shallow: the policy never mutates it
    return state


def picked_look(context, entry: PageImage) -> str | None:
    """The look the visitor picked that applies to ``entry``: a style key,
    ``choices.ORIGINAL``, or None; their pick for this product alone, or their
    shop-wide pick, as ``STYLESTORE["PICK_SCOPE"]`` says."""
    state = context.state
    if state is None:
        return None
    if stylestore_settings.PICK_SCOPE == "product":
        return looks.pinned(context.looks, entry.product, entry.source_id)
    return state.pick


def pick_scope_note() -> str:
    """What a pick applies to (``STYLESTORE["PICK_SCOPE"]``), as the picker and its
    confirmation page tell the customer before they pick."""
    if stylestore_settings.PICK_SCOPE == "product":
        return _("Your pick applies to this product only.")
    return _("Your pick applies across the shop: every product that has the look shows it.")


def _pick_file(files, size):
    """The smallest file that covers ``size``, else the largest."""
    return next((r for r in files if r.max_side >= size), files[-1])


def _original_size(field_file):
    try:
        return field_file.width, field_file.height
    except (OSError, ValueError):  # missing or unreadable file: the page still renders
        return None, None


def shown_image(entry: PageImage, style_key, *, size=None, alt=None, propensity=1.0, reason="pick", choice_id=None):
    """The ``ShownImage`` for showing style ``style_key`` (None: the original) of an
    image, or None if there is nothing to show at all. Without the policy's choice
    details it describes a look the customer picks (the style picker's options)."""
    alt = str(entry.obj) if alt in (None, "") else str(alt)
    if style_key is None or style_key not in entry.variants:
        field_file = entry.field_file
        if not field_file:
            return None
        if entry.original_size is None:
            entry.original_size = _original_size(field_file)
        width, height = entry.original_size
        url = entry.original_url
        return ShownImage(url, width, height, (), None, alt, choice_id, propensity, reason, entry.reference, url,
                          entry.product)
    style, files = entry.variants[style_key]
    shown = _pick_file(files, size or stylestore_settings.DEFAULT_SIZE)
    candidates = tuple((r.url, r.width) for r in files if r.width)
    described = _("%(alt)s, in the style “%(style)s”") % {"alt": alt, "style": style.name}
    return ShownImage(
        shown.url, shown.width, shown.height, candidates, style, described, choice_id, propensity, reason,
        entry.reference, entry.original_url, entry.product,
    )


def _url_of(value) -> str:
    """The URL of a file field, a file-like object with ``url``, or a storage name."""
    if isinstance(value, str):
        if not value or value.startswith(("/", "http://", "https://")):
            return value
        return default_storage.url(value)
    try:
        return value.url if value else ""
    except (AttributeError, ValueError):  # no URL, or a field without a file
        return ""


def unstyled_image(obj, field_name, *, alt=None) -> ShownImage | None:
    """The image of something Stylestore does not track, shown as it is: a template's
    placeholder (Oscar's ``{"original": name, "is_missing": True}``), an object of a
    model not in ``SOURCE_MODELS`` or not saved yet. Never personalized (no reference,
    no choice); None when it has no image."""
    if isinstance(obj, Mapping):
        value, described = obj.get(field_name), obj.get("caption") or ""
    else:
        value, described = getattr(obj, field_name, None), obj
    url = _url_of(value)
    if not url:
        return None
    alt = str(described) if alt in (None, "") else str(alt)
    return ShownImage(url, None, None, (), None, alt, None, 1.0, "original", "", url)


def styled_image(context, obj, field_name, *, size=None, alt=None) -> ShownImage | None:
    """The variant (or original) this visitor sees for ``obj.<field_name>``; anything
    that is not a tracked photo (``None``, a placeholder...) as it is."""
    entry = page_image(context, obj, field_name)
    if entry is None:
        return unstyled_image(obj, field_name, alt=alt)
    choice, choice_id = decide(context, entry)
    return shown_image(entry, choice.style, size=size, alt=alt, propensity=choice.propensity, reason=choice.reason,
                  choice_id=choice_id)


def style_options(context, obj, field_name, *, size=None, alt=None):
    """What the style picker offers: ``(ShownImage, selected)`` for the original photo
    and every visible variant, ``selected`` marking the visitor's explicit pick; none
    for what is not a tracked photo."""
    entry = page_image(context, obj, field_name)
    if entry is None:
        return []
    pick = picked_look(context, entry)
    options = []
    original = shown_image(entry, None, size=size, alt=alt)
    if original is not None:
        options.append((original, pick == ORIGINAL))
    for key in entry.variants:
        options.append((shown_image(entry, key, size=size, alt=alt), pick == key))
    return options


#: Ranked candidates fetched per query while filling "More in this style": most come
#: in the first batch; unpublished objects and other images of one group take the rest.
CANDIDATE_BATCH = 32


def _fetched(queryset, model, ranked):
    """``(object, score)`` of the ranked keys that ``queryset`` holds, in rank order,
    fetched ``CANDIDATE_BATCH`` at a time as the caller asks for more."""
    ranked = iter(ranked)
    while batch := list(islice(ranked, CANDIDATE_BATCH)):
        found = {str(pk): o for pk, o in queryset.in_bulk([model._meta.pk.to_python(k) for k, _ in batch]).items()}
        yield from ((found[key], score) for key, score in batch if key in found)


def _ranked(query, candidates, leave_out):
    """``policy.rank_styles`` lazily, without the key ``leave_out``: the closest few
    dozen first, then four times as many, and so on. A page needs a handful of the N
    photos; ordering all N in Python cost tens of milliseconds at N = 10,000."""
    given, size = {leave_out}, 2 * CANDIDATE_BATCH
    while True:
        ranked = policy.rank_styles(query, candidates, limit=size)
        # By key, not position: equal scores at the cut may come in another order.
        for key, score in ranked:
            if key not in given:
                given.add(key)
                yield key, score
        if len(ranked) < size:
            return
        size *= 4


#: Most public candidates "More in this style" examines for a look in the style, the
#: closest first: where few products have the style, the list is shorter rather than
#: loading the variants of the whole catalogue.
MAX_EXAMINED = 16 * CANDIDATE_BATCH


def this_style(context, obj, field_name) -> str | None:
    """The style "More in this style" is about: the look ``obj`` is shown in to this
    visitor, else their preferred style (``VisitorState.preferred_style``); None when
    neither is a style (the original photo)."""
    entry = page_image(context, obj, field_name)
    shown = decide(context, entry)[0].style if entry is not None else None
    if shown not in (None, ORIGINAL):
        return shown
    state = scoped_state(context)
    preferred = state.preferred_style() if state is not None else None
    return preferred if preferred in style_vectors() else None


def _chunks(candidates, first):
    """Lists of ``candidates``, ``first`` long, then twice as long each time up to
    ``CANDIDATE_BATCH``: the first few usually fill the list (one query for their
    variants), and where many lack the style it takes few queries to look further."""
    size = max(first, 1)
    while chunk := list(islice(candidates, size)):
        yield chunk
        size = min(size * 2, CANDIDATE_BATCH)


def more_in_this_style(context, obj, field_name, *, limit=4):
    """Objects of ``obj``'s model shown in the same style: the style ``obj`` is shown
    in (``this_style``), their photos closest in style-embedding space to it (else to
    ``obj``'s own photo, where the style has no comparable vector).

    Returns ``[(object, similarity)]``, closest first: public objects only (the
    ``public`` of the model's ``SOURCE_MODELS`` entry), never ``obj``, and only those
    this visitor sees in that style: an approved, ready variant of it, chosen for them
    (never the original photo, never another style standing in for a variant that is
    not shown), so every card keeps its one look. Nothing when ``obj`` shows the
    original photo and the visitor prefers no style. With a ``group`` (images of a
    product) it ranks groups: the closest image of each, none of ``obj``'s own group,
    the group's object fetched with it. Candidates' variants are loaded a few at a time
    (one query for the usual page, at most ``MAX_EXAMINED`` candidates); nothing for
    what is not a tracked photo.
    """
    if limit <= 0 or not is_source(obj, field_name):
        return []
    content_type = ContentType.objects.get_for_model(obj)
    candidates = photo_table(content_type.pk, field_name)
    style = this_style(context, obj, field_name) if len(candidates) else None
    if style is None:
        return []
    query = style_vectors().get(style)
    if query is None or len(query) != candidates.matrix.shape[1]:
        own = str(obj.pk)
        if own not in candidates.keys:
            return []
        query = candidates.matrix[candidates.keys.index(own)]
    model = type(obj)
    config = source_model(model)
    group = config.group_attname(model)
    queryset = config.public_queryset(model)
    if config.group:
        queryset = queryset.select_related(config.group)
    seen = {getattr(obj, group)} if group else set()
    fetched = islice(_fetched(queryset, model, _ranked(query, candidates, leave_out=str(obj.pk))), MAX_EXAMINED)
    # Another image of a group already listed, or of obj's own, is not worth loading.
    unlisted = ((o, score) for o, score in fetched if not group or getattr(o, group) not in seen)
    results = []
    for chunk in _chunks(unlisted, limit):
        load_images(context, [o for o, _ in chunk], field_name)
        for candidate, score in chunk:
            if group and getattr(candidate, group) in seen:
                continue  # a closer image of its group was listed from this chunk
            entry = page_image(context, candidate, field_name)
            if style not in entry.variants or decide(context, entry)[0].style != style:
                continue
            if group:
                seen.add(getattr(candidate, group))
            results.append((candidate, score))
            if len(results) == limit:
                return results
    return results
