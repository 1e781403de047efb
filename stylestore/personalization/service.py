"""The bridge between pages and the pure policy: load, choose, sign.

For a page of products this module

1. loads the visible variants (``StylizedImage.objects.visible()``: ready, current,
   approved or auto-approved) of every product image on the page in **one query**,
   with their styles, and keeps them on the request (``VisitorContext.images``);
2. loads the visitor's state once per request (``identity``) and the global model
   from a per-process cache, fitted from ``StyleHourlyStats`` up to the start of the
   current hour (so every process fits the same model and logs the same
   probabilities, until the next hour);
3. calls ``policy.choose`` per image (tens of microseconds, no I/O) and returns a
   ``StyledImage``: the chosen variant's URL, size and ``srcset``, or the original
   photo when no variant is visible. Nothing is ever generated here;
4. signs every personalized choice into a ``choice_id`` token. The page's script
   reports the impression with it when the image is actually seen, and clicks and add
   to carts refer to it; ``events`` verifies the signature, so the logged propensity
   and style are the ones the server chose, not whatever a client claims.

So a listing costs a constant number of queries however many products it shows:
variants (1) + visitor (1), plus one aggregate query per process and hour for the
global model.
"""
import base64
import math
import os
import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from functools import cached_property
from typing import NamedTuple

from django.contrib.contenttypes.models import ContentType
from django.core.signals import setting_changed
from django.db.models import Q, Sum
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext as _

from ..conf import stylestore_settings
from ..models import SourceImage, Style, StylizedImage
from ..storage import variant_storage
from . import policy, tokens
from .models import StyleHourlyStats

#: Style and product-photo embedding tables are rebuilt this often (per process).
EMBEDDINGS_TTL = 60
#: The pick that means "always show me the original photos".
ORIGINAL = "original"
CHOICE_PURPOSE = "choice"
CHOICE_VERSION = "1"


# ---------------------------------------------------------------------- process caches


class _TTLCache:
    """A few values computed from the database, kept per process for ``ttl`` seconds.

    Concurrent misses may compute a value twice; that is cheaper than a lock held
    across a query. Expired entries are dropped whenever a value is stored, so keys
    that embed a time (the global model's hour) do not pile up.
    """

    def __init__(self):
        self._values = {}
        self._lock = threading.Lock()

    def get(self, key, ttl, compute):
        now = time.monotonic()
        entry = self._values.get(key)
        if entry is not None and entry[0] > now:
            return entry[1]
        value = compute()
        with self._lock:
            self._values = {k: v for k, v in self._values.items() if v[0] > now}
            self._values[key] = (now + ttl, value)
        return value

    def clear(self):
        with self._lock:
            self._values.clear()


_cache = _TTLCache()
#: Markup the template tags render the same way for many requests (the style picker's
#: options), keyed by everything it is made of.
fragments = _TTLCache()


def clear_caches(**kwargs):
    """Forget the cached model, embeddings and markup. Connected to saving and deleting
    a style, so an admin's change shows at once in the process that made it (the others
    follow within ``EMBEDDINGS_TTL``), and to a changed setting (URLs, storage, policy
    parameters: tests and ``override_settings``)."""
    _cache.clear()
    fragments.clear()


post_save.connect(clear_caches, sender=Style, dispatch_uid="stylestore-personalization-style-saved")
post_delete.connect(clear_caches, sender=Style, dispatch_uid="stylestore-personalization-style-deleted")
setting_changed.connect(clear_caches, dispatch_uid="stylestore-personalization-setting-changed")


def policy_params() -> policy.PolicyParams:
    """The policy's parameters, from settings."""
    epsilon = stylestore_settings.EXPLORATION_EPSILON
    return _cache.get(("params", epsilon), math.inf, lambda: policy.PolicyParams(epsilon=epsilon))


def hour_start(moment):
    """The start of ``moment``'s hour: the bucket of the hourly counters."""
    return moment.replace(minute=0, second=0, microsecond=0)


def style_stats(since, until=None) -> dict:
    """``policy.StyleStats`` per style key from the hourly counters in ``[since,
    until)``: the impressions the shop chose (a customer's own picks are not evidence
    about styles shown to everyone)."""
    rows = StyleHourlyStats.objects.filter(hour__gte=since)
    if until is not None:
        rows = rows.filter(hour__lt=until)
    rows = (
        rows.values("style_id")
        .annotate(
            impressions=Sum("impressions"),
            clicks=Sum("clicks"),
            picked_impressions=Sum("picked_impressions"),
            picked_clicks=Sum("picked_clicks"),
            share_sum=Sum("share_sum"),
            share_sq_sum=Sum("share_sq_sum"),
            click_share_sum=Sum("click_share_sum"),
        )
        .order_by()
    )
    return {
        str(row["style_id"]): policy.StyleStats(
            impressions=float(row["impressions"] - row["picked_impressions"]),
            clicks=float(row["clicks"] - row["picked_clicks"]),
            share_sum=row["share_sum"],
            share_sq_sum=row["share_sq_sum"],
            click_share_sum=row["click_share_sum"],
        )
        for row in rows
    }


def global_model() -> policy.GlobalModel:
    """The population model, fitted from the retention window's completed hours.

    The fit is deterministic, so every process holds the same model for the whole hour:
    a visitor's Thompson draw, and the probability logged with it, do not depend on
    which process serves the page. One aggregate query per process and hour.
    """
    now = time.time()
    hour = int(now // 3600)  # plain arithmetic: this runs for every image on a page

    def fit():
        current = datetime.fromtimestamp(hour * 3600, tz=dt_timezone.utc)
        since = current - timedelta(days=stylestore_settings.EVENT_RETENTION_DAYS)
        return policy.fit_global(style_stats(since, until=current), policy_params())

    return _cache.get(("global", hour), (hour + 1) * 3600 - now, fit)


def best_style(available, model: policy.GlobalModel):
    """The available style with the best population CTR (posterior mean; ties: the
    shop's order), or None: what a visitor without consent sees, and the "best single
    style" baseline of the analytics."""
    if not available:
        return None
    return max(enumerate(available), key=lambda item: (model.base_ctr(item[1]), -item[0]))[1]


def _valid_vector(vector):
    return (
        isinstance(vector, list)
        and vector
        and all(isinstance(x, (int, float)) for x in vector)
        and all(math.isfinite(x) for x in vector)
        and any(x != 0 for x in vector)
    )


def _table(vectors: dict):
    """An EmbeddingTable of the vectors sharing the most common length (a corrupt or
    old-format row must not take the whole table down)."""
    lengths = {}
    for vector in vectors.values():
        lengths[len(vector)] = lengths.get(len(vector), 0) + 1
    if not lengths:
        return policy.EmbeddingTable({})
    size = max(lengths, key=lengths.get)
    return policy.EmbeddingTable({k: v for k, v in vectors.items() if len(v) == size})


def style_vectors() -> dict:
    """``{style key: style vector}`` of the active styles that have one (image styles,
    once a worker computed it; presets have none and rank by global CTR only)."""

    def load():
        rows = Style.objects.filter(active=True, style_vector__isnull=False).values_list("pk", "style_vector")
        return {str(pk): vector for pk, vector in rows if _valid_vector(vector)}

    return _cache.get("style_vectors", EMBEDDINGS_TTL, load)


def style_table() -> policy.EmbeddingTable:
    return _cache.get("style_table", EMBEDDINGS_TTL, lambda: _table(style_vectors()))


def view_preference(source_id, embedding, temperature) -> dict:
    """How a view of this photo spreads over the styles (``policy.view_preference``),
    or {} while it has no usable embedding (the worker has not computed it yet).

    Kept per process for ``EMBEDDINGS_TTL`` by source: it is the same for every
    visitor, and computing it was most of what a product's first view added to its
    page."""
    memo = _cache.get(("view_preferences", temperature), EMBEDDINGS_TTL, dict)
    preference = memo.get(source_id)
    if preference is None:
        table = style_table()
        preference = {}
        if embedding and len(table) and len(embedding) == table.matrix.shape[1]:
            try:
                preference = policy.view_preference(table, embedding, temperature)
            except ValueError:  # a zero or non-finite embedding
                pass
        memo[source_id] = preference
    return preference


@dataclass(frozen=True)
class PhotoIndex:
    """One image field's photos: ``sources`` maps object id to ``SourceImage`` id,
    ``table`` holds the embeddings (keyed by object id) of those that have one."""

    sources: dict
    table: policy.EmbeddingTable
    rows: dict  # object id -> row of table.matrix


def photo_index(content_type_id: int, field_name: str) -> PhotoIndex:
    def load():
        rows = SourceImage.objects.filter(content_type_id=content_type_id, field_name=field_name).values_list(
            "object_id", "pk", "embedding"
        )
        sources, vectors = {}, {}
        for object_id, pk, vector in rows:
            sources[object_id] = pk
            if _valid_vector(vector):
                vectors[object_id] = vector
        table = _table(vectors)
        return PhotoIndex(sources, table, {key: row for row, key in enumerate(table.keys)})

    return _cache.get(("photos", content_type_id, field_name), EMBEDDINGS_TTL, load)


def photo_table(content_type_id: int, field_name: str) -> policy.EmbeddingTable:
    """The product photos' embeddings of one image field, keyed by object id."""
    return photo_index(content_type_id, field_name).table


def photo_source(obj, field_name):
    """``(SourceImage id, style embedding or None)`` of ``obj.<field_name>``, or None
    if Stylestore does not know the image. From the per-process index (a product's page
    view costs no query for it); a photo newer than the index is looked up."""
    content_type_id = ContentType.objects.get_for_model(obj).pk
    index = photo_index(content_type_id, field_name)
    object_id = str(obj.pk)
    pk = index.sources.get(object_id)
    if pk is None:
        return (
            SourceImage.objects.filter(content_type_id=content_type_id, object_id=object_id, field_name=field_name)
            .values_list("pk", "embedding")
            .first()
        )
    row = index.rows.get(object_id)
    return pk, (index.table.matrix[row].tolist() if row is not None else None)


# ---------------------------------------------------------------------- what a page shows


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


class Rendition:
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
    variants: dict  # style key -> (StyleInfo, [Rendition] by size)
    source_id: int | None = None
    #: The original photo's ``(width, height)`` as recorded with its hash, when a variant
    #: row brought it along; else the file is read (once per request) when needed.
    original_size: tuple | None = None

    @property
    def reference(self) -> str:
        opts = self.obj._meta
        return f"{opts.app_label}.{opts.model_name}:{self.obj.pk}"

    @property
    def field_file(self):
        return getattr(self.obj, self.field_name)

    @cached_property
    def original_url(self) -> str:
        # Once per request: every look of the image (picker, gallery) falls back to it.
        field_file = self.field_file
        return field_file.url if field_file else ""


@dataclass(frozen=True)
class StyledImage:
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
    #: when nothing is logged (no consent, or the original photo was shown).
    choice_id: str | None
    #: Probability with which the policy chose what is shown.
    propensity: float
    #: Why: "pick", "sticky", "history", "global", "explore" or "original".
    reason: str
    reference: str
    #: The original photo's URL: what a ``<picture>`` falls back to where the
    #: variant's format (WebP) is not supported.
    original_url: str = ""

    @property
    def srcset(self) -> str:
        return ", ".join(f"{url} {width}w" for url, width in self.candidates)


def _key(content_type_id, obj, field_name):
    return (content_type_id, str(obj.pk), field_name)


def load_images(context, objects, field_name) -> None:
    """Load the visible variants of ``field_name`` of all ``objects`` that the request
    has not loaded yet, in one query (or none). Objects may be of several models."""
    by_type = {}
    for obj in objects:
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
    for content_type_id, objs in by_type.items():
        for object_id, obj in objs.items():
            context.images[(content_type_id, object_id, field_name)] = PageImage(obj, field_name, {})
    styles = {}
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
        renditions = entry.variants[key][1]
        # Ordered by size, newest first: the newest file of each size bucket wins.
        if not renditions or renditions[-1].max_side != max_side:
            renditions.append(Rendition(file, width, height, max_side))


def page_image(context, obj, field_name) -> PageImage:
    content_type = ContentType.objects.get_for_model(obj)
    key = _key(content_type.pk, obj, field_name)
    if key not in context.images:
        load_images(context, [obj], field_name)
    return context.images[key]


def _decide(context, entry: PageImage):
    """The policy's choice for one image and its signed id, made once per request
    (and again if the visitor's state changed since)."""
    key = (entry.reference, entry.field_name)
    if key in context.choices:
        return context.choices[key]
    available = tuple(entry.variants)
    state = context.state
    # The choice depends on the visitor and the available styles only: the images of a
    # page that offer the same styles share one decision (each still gets its own id).
    decision = context.decisions.get(available)
    if decision is None:
        if state is None:
            # Without consent there is no key to keep a random draw sticky and nothing is
            # logged: everyone sees the population's best, with certainty.
            best = best_style(available, global_model())
            choice = policy.Choice(best, 1.0, "global" if best else "original", 0.0, None)
        elif state.pick == ORIGINAL:
            choice = policy.Choice(None, 1.0, "pick", 0.0, state.current)
        else:
            choice = policy.choose(
                state, available, global_model(), policy_params(), visitor=context.key, epoch=context.epoch
            )
        decision = context.decisions[available] = (choice, tuple(map(int, available)))
    choice, available_ids = decision
    token = None
    if state is not None and choice.style is not None:
        token = sign_choice(
            context.key,
            ChoiceRecord(
                new_choice_id(), entry.source_id, int(choice.style), choice.propensity,
                choice.history_share, choice.reason, choice.sticky, available_ids,
            ),
        )
    context.choices[key] = (choice, token)
    return context.choices[key]


def _pick_rendition(renditions, size):
    """The smallest file that covers ``size``, else the largest."""
    return next((r for r in renditions if r.max_side >= size), renditions[-1])


def _original_size(field_file):
    try:
        return field_file.width, field_file.height
    except (OSError, ValueError):  # missing or unreadable file: the page still renders
        return None, None


def render(entry: PageImage, style_key, *, size=None, alt=None, propensity=1.0, reason="pick", choice_id=None):
    """The ``StyledImage`` for showing style ``style_key`` (None: the original) of an
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
        return StyledImage(url, width, height, (), None, alt, None, propensity, reason, entry.reference, url)
    style, renditions = entry.variants[style_key]
    shown = _pick_rendition(renditions, size or stylestore_settings.DEFAULT_SIZE)
    candidates = tuple((r.url, r.width) for r in renditions if r.width)
    described = _("%(alt)s, in the style “%(style)s”") % {"alt": alt, "style": style.name}
    return StyledImage(
        shown.url, shown.width, shown.height, candidates, style, described, choice_id, propensity, reason,
        entry.reference, entry.original_url,
    )


def styled_image(context, obj, field_name, *, size=None, alt=None) -> StyledImage | None:
    """The variant (or original) this visitor sees for ``obj.<field_name>``."""
    entry = page_image(context, obj, field_name)
    choice, choice_id = _decide(context, entry)
    return render(entry, choice.style, size=size, alt=alt, propensity=choice.propensity, reason=choice.reason,
                  choice_id=choice_id)


def style_options(context, obj, field_name, *, size=None, alt=None):
    """What the style picker offers: ``(StyledImage, selected)`` for the original photo
    and every visible variant, ``selected`` marking the visitor's explicit pick."""
    entry = page_image(context, obj, field_name)
    state = context.state
    pick = state.pick if state is not None else None
    options = []
    original = render(entry, None, size=size, alt=alt)
    if original is not None:
        options.append((original, pick == ORIGINAL))
    for key in entry.variants:
        options.append((render(entry, key, size=size, alt=alt), pick == key))
    return options


def more_in_this_style(context, obj, field_name, *, limit=4):
    """Objects of ``obj``'s model whose photos are closest in style-embedding space to
    the visitor's preferred style (their pick, their sticky choice, their most browsed
    style), else to the style shown for ``obj``, else to ``obj``'s own photo.

    Returns ``[(object, similarity)]``, closest first, without ``obj``. Their images
    are loaded for the request at once, so showing them adds one query, not one each.
    Objects come from the model's default manager: a shop whose default manager
    includes unpublished products should filter the result.
    """
    content_type = ContentType.objects.get_for_model(obj)
    candidates = photo_table(content_type.pk, field_name)
    if len(candidates) == 0 or limit <= 0:
        return []
    vectors = style_vectors()
    state = context.state
    anchor = state.preferred_style() if state is not None else None
    query = vectors.get(anchor) if anchor else None
    if query is None:
        shown = _decide(context, page_image(context, obj, field_name))[0].style
        query = vectors.get(shown) if shown else None
    if query is None or len(query) != candidates.matrix.shape[1]:
        own = str(obj.pk)
        if own not in candidates.keys:
            return []
        query = candidates.matrix[candidates.keys.index(own)]
    ranked = [(key, score) for key, score in policy.rank_styles(query, candidates, limit + 1) if key != str(obj.pk)]
    ranked = ranked[:limit]
    model = type(obj)
    found = model._default_manager.in_bulk([model._meta.pk.to_python(key) for key, _ in ranked])
    by_key = {str(pk): o for pk, o in found.items()}
    results = [(by_key[key], score) for key, score in ranked if key in by_key]
    load_images(context, [o for o, _ in results], field_name)
    return results


# ---------------------------------------------------------------------- choice tokens


class ChoiceRecord(NamedTuple):
    """What the server chose for one image, as carried (signed) by its ``choice_id``.
    A named tuple: a page makes one per personalized image."""

    choice_id: str
    source_id: int | None
    style_id: int
    propensity: float
    history_share: float
    reason: str
    sticky: str | None
    available: tuple

    @property
    def style_key(self) -> str:
        return str(self.style_id)

    def to_choice(self) -> policy.Choice:
        return policy.Choice(self.style_key, self.propensity, self.reason, self.history_share, self.sticky)


#: The generator of choice ids: its own, so no other code seeding ``random`` can make
#: ids repeat, and reseeded from the OS in every forked worker.
_choice_ids = random.Random()
os.register_at_fork(after_in_child=_choice_ids.seed)


def new_choice_id() -> str:
    """A fresh id for one rendered choice: 72 random bits, 12 URL-safe characters.

    Not from ``secrets``: the id only has to be unique among one visitor's choices (a
    database constraint counts each choice's events once), and the MAC over the token,
    not the id, is what stops forgery. ``os.urandom`` releases the GIL, and in a
    threaded server every release can leave the request waiting up to a whole switch
    interval to get it back: that wait was the largest single cost personalization
    added to a product page under load.
    """
    return base64.urlsafe_b64encode(_choice_ids.getrandbits(72).to_bytes(9, "big")).decode()


def sign_choice(visitor_key: str, record: ChoiceRecord) -> str:
    source = "" if record.source_id is None else record.source_id
    payload = (
        f"{CHOICE_VERSION}|{record.choice_id}|{source}|{record.style_id}|{record.propensity!r}|"
        f"{record.history_share!r}|{record.reason}|{record.sticky or ''}|{'.'.join(map(str, record.available))}"
    )
    # Signed in the visitor's context: a token is only valid for the visitor it was made for.
    return tokens.sign(payload, CHOICE_PURPOSE, visitor_key)


def read_choice(visitor_key: str, token: str) -> ChoiceRecord | None:
    """The record a valid token of this visitor carries; None for anything else."""
    payload = tokens.unsign(token, CHOICE_PURPOSE, visitor_key)
    if payload is None:
        return None
    try:
        version, choice_id, source, style, propensity, share, reason, sticky, available = payload.split("|")
        if version != CHOICE_VERSION:
            return None
        return ChoiceRecord(
            choice_id=choice_id,
            source_id=int(source) if source else None,
            style_id=int(style),
            propensity=float(propensity),
            history_share=float(share),
            reason=reason,
            sticky=sticky or None,
            available=tuple(int(x) for x in available.split(".")) if available else (),
        )
    except ValueError:
        return None
