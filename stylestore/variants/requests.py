"""What admins, API clients and commands ask for: plan, count, request, retry, progress.

A request creates one pending row per source x style x parameter set that does not
exist yet (the unique key is the dedupe) and sends the new ones to the workers after
commit. Counting uses the same plan without writing, so the admin's confirmation page
says exactly what a request would do.
"""
from dataclasses import dataclass, field

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Count, F

from ..conf import stylestore_settings
from ..engine.formats import FORMATS
from ..models import Region, SourceImage, Style, StylizedImage, group_by_render, params_hash
from . import estimates, queue, state
from .sources import sync_sources

Status = StylizedImage.Status


@dataclass(frozen=True)
class RenderRequest:
    """What an admin (or API client, or command) asks for; None means the style's default."""

    strength: float | None = None
    preserve_color: bool | None = None
    max_side: int | None = None
    output_format: str | None = None
    engine: str | None = None
    region: str | None = None

    @classmethod
    def like(cls, variant: StylizedImage) -> "RenderRequest":
        """The request that renders ``variant`` again with its own parameters."""
        return cls(variant.strength, variant.preserve_color, variant.max_side, variant.output_format, variant.engine,
                   variant.region)

    def resolve(self, style: Style) -> dict:
        """The concrete render parameters for one style, snapped to the allowed sizes."""
        strength = style.default_strength if self.strength is None else float(self.strength)
        if not 0.0 <= strength <= 1.0:
            raise ValueError("strength must be between 0 and 1")
        engine = self.engine or style.effective_engine
        if (engine == Style.Engine.PRESET) != (style.kind == Style.Kind.PRESET):
            # A preset style cannot run on an image engine and vice versa: use the style's own.
            engine = style.effective_engine
        fmt = self.output_format or stylestore_settings.DEFAULT_FORMAT
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}")
        region = self.region or style.region
        if region not in Region.values:
            raise ValueError(f"region must be one of {', '.join(Region.values)}")
        return {
            "strength": strength,
            "preserve_color": style.preserve_color if self.preserve_color is None else bool(self.preserve_color),
            "max_side": snap_size(self.max_side),
            "output_format": fmt,
            "engine": engine,
            "region": region,
        }


    def problems(self, styles) -> list[tuple[Style, str]]:
        """``(style, why)`` for every style this request cannot render: invalid values,
        or an engine and size that cannot finish within a worker's task time limit."""
        found = []
        for style in styles:
            try:
                params = self.resolve(style)
            except ValueError as exc:
                found.append((style, str(exc)))
                continue
            reason = estimates.too_slow(params["engine"], params["max_side"])
            if reason:
                found.append((style, reason))
        return found


def snap_size(requested: int | None) -> int:
    """Snap a requested size to the smallest allowed bucket that covers it (bounded variant space)."""
    sizes = sorted(stylestore_settings.SIZES)
    if not requested:
        return stylestore_settings.DEFAULT_SIZE
    return next((s for s in sizes if s >= int(requested)), sizes[-1])


@dataclass
class RequestResult:
    created: list = field(default_factory=list)  # ids of new pending rows
    reused: list = field(default_factory=list)  # ids of rows that already existed for the key

    @property
    def ids(self):
        return self.created + self.reused


def plan(sources, styles, request: RenderRequest):
    """The (source, style, params, key) combinations a request stands for, without writing."""
    combos = []
    for style in styles:
        params = request.resolve(style)
        digest = params_hash(**params, style_fingerprint=style.fingerprint)
        for source in sources:
            combos.append((source, style, params, digest))
    return combos


def existing_keys(combos):
    """Ids of rows that already exist for the planned keys, by key.

    One query per style and parameter set, sources in bounded ``IN`` lists: OR-ing one
    condition per combination would exceed SQLite's expression depth on big requests.
    """
    wanted = {}
    for source, style, _, digest in combos:
        wanted.setdefault((style.pk, digest), []).append(source.pk)
    found = {}
    for (style_id, digest), source_ids in wanted.items():
        for start in range(0, len(source_ids), 500):
            rows = StylizedImage.objects.filter(
                style_id=style_id, params_hash=digest, source_id__in=source_ids[start:start + 500],
                source_hash=F("source__content_hash"),
            ).values_list("pk", "source_id", "source_hash")
            for pk, source_id, source_hash in rows:
                found[(source_id, style_id, source_hash, digest)] = pk
    return found


def request_variants(sources, styles, request: RenderRequest = RenderRequest(), *, enqueue=True) -> RequestResult:
    """Create pending rows for every source x style not rendered yet, and enqueue them on commit.

    ``enqueue=False`` is for callers that render the rows in-process right away.
    """
    combos = [c for c in plan(sources, styles, request) if c[0].content_hash]
    result = RequestResult()
    with transaction.atomic():
        before = existing_keys(combos)
        rows = [
            StylizedImage(
                source=source, style=style, source_hash=source.content_hash, params_hash=digest,
                style_fingerprint=style.fingerprint, **params,
            )
            for source, style, params, digest in combos
            if (source.pk, style.pk, source.content_hash, digest) not in before
        ]
        # ignore_conflicts: a concurrent request for the same key is not an error, it is the dedupe.
        StylizedImage.objects.bulk_create(rows, ignore_conflicts=True)
        after = existing_keys(combos)
        for key, pk in after.items():
            (result.reused if key in before else result.created).append(pk)
        if enqueue:
            queue.enqueue_on_commit(result.created)
    return result


def request_like(rows, *, enqueue=True) -> RequestResult:
    """Request each row's photo (as it is now) and style again with the row's own
    parameters: new rows where the photo or the engine changed since, the existing
    ones reused where nothing did. Two queries for the photos and styles, whatever
    the number of rows."""
    rows = list(rows)
    sources = SourceImage.objects.in_bulk({row.source_id for row in rows})
    styles = Style.objects.in_bulk({row.style_id for row in rows})
    result = RequestResult()
    for group in group_by_render(rows).values():
        chosen = [sources[source_id] for source_id in dict.fromkeys(row.source_id for row in group)]
        part = request_variants(chosen, [styles[group[0].style_id]], RenderRequest.like(group[0]), enqueue=enqueue)
        result.created += part.created
        result.reused += part.reused
    return result


def request_again(source: SourceImage):
    """After a source's photo changed: request what its old photo had, with the same
    parameters, plus the auto-apply styles."""
    request_like(StylizedImage.objects.filter(source=source, style__active=True)
                 .exclude(source_hash=source.content_hash))
    auto = list(Style.objects.filter(auto_apply=True, active=True))
    if auto:
        request_variants([source], auto)


def retry(ids):
    """Admin "retry": failed or dead rows start over with a fresh attempt budget."""
    with transaction.atomic():
        ids = state.reset_for_retry(ids)
        queue.enqueue_on_commit(ids)
    return ids


#: A style's state on one photo, from its variants' states: the first of these any has.
STYLE_STATE_ORDER = ["rendering", "queued", "failed", "ready", "held", "rejected"]
EMPTY_PROGRESS = {"total": 0, **dict.fromkeys(STYLE_STATE_ORDER, 0), "last_live": None}


def state_of(status: str, review: str) -> str:
    """Where one variant is, in the admin's and the API's words: queued (waiting for a
    worker), rendering, ready, held (by the quality gate), rejected, failed."""
    if status == Status.PENDING:
        return "queued"
    if status == Status.RUNNING:
        return "rendering"
    if status == Status.READY:
        return {StylizedImage.Review.REJECTED: "rejected", StylizedImage.Review.HELD: "held"}.get(review, "ready")
    return "failed"


def progress(source_ids) -> dict:
    """Per source: its styles by state (``STYLE_STATE_ORDER``), over its current variants.

    Several sizes (or settings) of one style count once, as the first state in
    ``STYLE_STATE_ORDER`` any of them is in: "3/3 ready" on a product with three
    styles, and a rejected image is not ready. ``last_live``: the newest queued or
    rendering variant's id (see ``remaining_seconds``), or None.
    """
    states, last_live = {}, {}
    rows = StylizedImage.objects.filter(source_id__in=source_ids, source_hash=F("source__content_hash"))
    for pk, source_id, style_id, status, review in rows.values_list("pk", "source_id", "style_id", "status", "review"):
        states.setdefault(source_id, {}).setdefault(style_id, set()).add(state_of(status, review))
        if status in (Status.PENDING, Status.RUNNING):
            last_live[source_id] = max(pk, last_live.get(source_id, 0))
    counts = {}
    for source_id, styles in states.items():
        c = counts[source_id] = {**EMPTY_PROGRESS, "total": len(styles), "last_live": last_live.get(source_id)}
        for found in styles.values():
            c[next(state for state in STYLE_STATE_ORDER if state in found)] += 1
    return counts


def remaining_seconds(variants) -> float | None:
    """About how long the workers need for the queued and rendering ones among
    ``variants`` (a queryset), from this machine's measured time per image
    (``estimates``); one being rendered counts half. None when none is left."""
    live = (variants.filter(status__in=[Status.PENDING, Status.RUNNING])
            .values_list("engine", "max_side", "status").annotate(n=Count("pk")).order_by())
    total, any_live = 0.0, False
    for engine, max_side, status, n in live:
        any_live = True
        seconds, _measured = estimates.seconds_per_image(engine, max_side)
        total += n * seconds * (0.5 if status == Status.RUNNING else 1.0)
    return total / estimates.workers() if any_live else None


def queue_wait(last_live) -> float | None:
    """Seconds until the variant ``last_live`` is rendered, everything queued before it
    (the queue is first in, first out) included."""
    if last_live is None:
        return None
    return remaining_seconds(StylizedImage.objects.filter(pk__lte=last_live))


@dataclass
class VariantCounts:
    """What a bulk request would do: the admin's confirmation page and the CLI report it."""

    objects: int = 0  # objects selected
    without_image: int = 0  # of those, with an empty image field: nothing to render
    images: int = 0  # variants the request stands for (objects with an image x styles)
    existing: int = 0  # of those, rows that already exist and would be reused
    existing_failed: int = 0  # of the existing rows, failed or dead ones (retry them instead)

    @property
    def new(self):
        return self.images - self.existing


def count_for_objects(objects, field_name, styles, request: RenderRequest = RenderRequest()) -> VariantCounts:
    """Count what ``request_for_objects`` would create and reuse, without writing anything.

    Uses the content hashes already stored: reading every image to re-hash it would make
    a live recount as slow as the request itself. Objects never hashed count as new.
    """
    objects = list(objects)
    with_image = [obj for obj in objects if getattr(obj, field_name)]
    counts = VariantCounts(objects=len(objects), without_image=len(objects) - len(with_image),
                           images=len(with_image) * len(styles))
    if not with_image or not styles:
        return counts
    content_type = ContentType.objects.get_for_model(with_image[0])
    sources = SourceImage.objects.filter(
        content_type=content_type, field_name=field_name, object_id__in=[str(obj.pk) for obj in with_image]
    ).exclude(content_hash="")
    ids = list(existing_keys(plan(sources, styles, request)).values())
    counts.existing = len(ids)
    counts.existing_failed = StylizedImage.objects.filter(pk__in=ids, status__in=[Status.FAILED, Status.DEAD]).count()
    return counts


def request_for_objects(objects, field_name, styles, request: RenderRequest = RenderRequest(), *, enqueue=True) -> RequestResult:
    """Hash the objects' images and request every object x style, all or nothing.

    One transaction, so a failure part-way queues nothing; tasks go out after commit.
    """
    with transaction.atomic():
        return request_variants(sync_sources(objects, field_name), styles, request, enqueue=enqueue)
