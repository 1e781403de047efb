"""Variants rendered by an older engine: find them, render them again, retire each old one
once its successor shows.

An upgrade that changes what the engine makes of the same inputs bumps
``models.ENGINE_VERSION``, which is hashed into every variant's key (``params_hash``). The
old variants stay visible: the storefront shows the newest visible file of each size
(``personalization.page.load_images``), so customers keep the old look until the new one
is ready and approved, never the original photo in between. Rendering again
(``render_again``) creates rows under the new key. Nothing in a row says which
engine made it: an older one is told by its key no longer matching its own parameters.

Once a successor is visible its predecessor can never be shown again, and it goes, file
and all (``retire_predecessors``, called where a variant becomes ready or visible: a
worker finishing it, ``approve`` for the admin and the API). A successor held by the
quality gate, or waiting for an approval, leaves a shown predecessor on the storefront;
one that was not shown either (held, or waiting for its own review) goes at once, so a
reviewer sees only the new engine's image.
"""
from collections import Counter

from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from ..models import Batch, SourceImage, Style, StylizedImage, params_hash
from . import batches, requests

#: Ids per query: well under SQLite's variable limit.
CHUNK = 500
#: The fields ``current_key`` reads.
KEY_FIELDS = ("strength", "preserve_color", "max_side", "output_format", "engine", "region", "style_fingerprint")


def current_key(variant: StylizedImage) -> str:
    """The key ``variant``'s own parameters have under the engine running now."""
    return params_hash(**{name: getattr(variant, name) for name in KEY_FIELDS})


def is_outdated(variant: StylizedImage) -> bool:
    return variant.params_hash != current_key(variant)


def outdated(queryset=None) -> list[StylizedImage]:
    """The variants among ``queryset`` (default: all) that an older engine rendered and
    that are shown or may be: current and not rejected (held and unreviewed ones are
    waiting for a review, which the new engine's image should get). Read in one pass,
    the keys computed here (0.6 s for 100,000 on a 2-core machine, besides reading the
    rows)."""
    rows = (queryset if queryset is not None else StylizedImage.objects.all()).current()
    rows = rows.exclude(review=StylizedImage.Review.REJECTED)
    fields = ("pk", "source_id", "style_id", "params_hash", *KEY_FIELDS)
    return [row for row in rows.only(*fields).order_by("pk").iterator(chunk_size=2000) if is_outdated(row)]


def render_again(rows, *, user=None, origin=Batch.Origin.ADMIN, enqueue=True):
    """Request each row's photo and style again with its own parameters, in one batch
    (``requests.request_like``): ``(result, batch)``. Where a row's successor exists
    and shows already, the row goes now."""
    rows = list(rows)
    with transaction.atomic():
        result = requests.request_like(rows, enqueue=enqueue)
        styles = Style.objects.filter(pk__in={row.style_id for row in rows}).order_by("name")
        source_ids = sorted({row.source_id for row in rows})
        owners = set()  # (content type, object id): an object's photo fields count once
        for start in range(0, len(source_ids), CHUNK):
            owners.update(SourceImage.objects.filter(pk__in=source_ids[start:start + CHUNK])
                          .values_list("content_type_id", "object_id"))
        objects = Counter(ContentType.objects.get_for_id(content_type).model_class() for content_type, _ in owners)
        batch = batches.record(result, styles, objects, user=user, origin=origin)
        # Successors shown already (an earlier request's) retire their predecessors now.
        retire_predecessors(result.reused)
    return result, batch


def approve(queryset) -> int:
    """Approve the ready variants among ``queryset`` (for the admin and the API): they
    show, so what they replace goes (``retire_predecessors``). Returns how many."""
    ready = queryset.filter(status=StylizedImage.Status.READY)
    ids = list(ready.values_list("pk", flat=True))
    # By pk: the caller's queryset may be one update() refuses (the admin's, searched, is distinct).
    approved = StylizedImage.objects.filter(pk__in=ids, status=StylizedImage.Status.READY).update(
        review=StylizedImage.Review.APPROVED)
    retire_predecessors(ids)
    return approved


def retire_predecessors(ids) -> int:
    """Delete what the ready variants among ``ids`` replace: the same photo, style and
    parameters rendered by an older engine, once that is no longer needed on the
    storefront (the successor shows, or the predecessor did not either). Their files go
    after commit (the ``post_delete`` handler). Four queries per CHUNK ids. Returns how
    many were deleted."""
    ids, doomed = list(ids), []
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        successors = (StylizedImage.objects.current().filter(pk__in=chunk)
                      .values_list("pk", "source_id", "style_id", "source_hash", "max_side", "params_hash"))
        shown = set(StylizedImage.objects.visible().filter(pk__in=chunk).values_list("pk", flat=True))
        slots = {tuple(slot): pk in shown for pk, *slot in successors}
        if not slots:
            continue
        candidates = StylizedImage.objects.filter(
            source_id__in={slot[0] for slot in slots}, style_id__in={slot[1] for slot in slots},
        ).only("pk", "source_id", "style_id", "source_hash", "params_hash", *KEY_FIELDS)
        replaced = {}  # predecessor's pk: whether its successor shows
        for row in candidates:
            slot = (row.source_id, row.style_id, row.source_hash, row.max_side, current_key(row))
            if slot in slots and row.params_hash != slot[-1]:
                replaced[row.pk] = slots[slot]
        still_shown = set(StylizedImage.objects.visible().filter(pk__in=list(replaced)).values_list("pk", flat=True))
        doomed += [pk for pk, successor_shown in replaced.items() if successor_shown or pk not in still_shown]
    for start in range(0, len(doomed), CHUNK):
        StylizedImage.objects.filter(pk__in=doomed[start:start + CHUNK]).delete()
    return len(doomed)
