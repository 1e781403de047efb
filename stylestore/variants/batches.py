"""Batches: what one "Apply style" queued, created with the request, counted while the
workers render it, finished when nothing of it is left to render, and cancellable.

- ``record`` makes the batch of a request's result (``requests.RequestResult``): every
  variant the request stands for, the reused ones too. A batch with nothing left to
  render (everything existed already) is finished at once.
- ``counts`` says where its variants are: queued (waiting for a worker), rendering,
  ready, held by the quality gate, rejected (never counted as ready), failed.
- ``settle`` is called with variants that just left the queue (rendered, failed for
  good, dead): the batches they complete are finished, once each, and
  ``signals.batch_finished`` is sent after commit.
- ``cancel`` drops the batch's variants that are not rendered yet, unless another
  unfinished batch also waits for them: pending rows are deleted (their task later
  claims nothing) and rendering ones too, so their worker's ``finish`` finds no row,
  publishes nothing and removes the file it wrote (``worker``).
"""
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ..models import Batch, StylizedImage
from . import requests
from .signals import batch_finished

Status = StylizedImage.Status
LIVE = (Status.PENDING, Status.RUNNING)
Membership = Batch.variants.through
#: Rows per insert of a batch's memberships (well under SQLite's variable limit).
CHUNK = 500
EMPTY_COUNTS = {"total": 0, **dict.fromkeys(requests.STYLE_STATE_ORDER, 0)}


def record(result, styles, objects_per_model, *, user=None, origin=Batch.Origin.ADMIN) -> Batch:
    """The batch of a request's result, in the caller's transaction (so a request that
    rolls back leaves no batch, and the batch never exists without its variants).

    ``styles`` and ``objects_per_model`` (``{model: how many of its objects}``) are
    what was asked for; the batch keeps them in parts, for ``Batch.description``."""
    models = [model for model, count in objects_per_model.items() if count]
    with transaction.atomic():
        batch = Batch.objects.create(
            created_by=user if user is not None and user.is_authenticated else None, origin=origin,
            style_names=", ".join(str(style) for style in styles)[:Batch._meta.get_field("style_names").max_length],
            object_count=sum(objects_per_model.values()),
            object_type=ContentType.objects.get_for_model(models[0]) if len(models) == 1 else None,
        )
        ids = sorted(set(result.ids))
        for start in range(0, len(ids), CHUNK):
            Membership.objects.bulk_create(
                [Membership(batch_id=batch.pk, stylizedimage_id=pk) for pk in ids[start:start + CHUNK]]
            )
        finish([batch.pk])
    batch.refresh_from_db()
    return batch


def counts_for(batch_ids) -> dict:
    """``{batch id: counts}``: its variants by state (``requests.state_of``), in one query."""
    result = {pk: dict(EMPTY_COUNTS) for pk in batch_ids}
    rows = (
        Membership.objects.filter(batch_id__in=list(result))
        .values_list("batch_id", "stylizedimage__status", "stylizedimage__review")
        .annotate(n=Count("pk")).order_by()
    )
    for batch_id, status, review, n in rows:
        result[batch_id][requests.state_of(status, review)] += n
        result[batch_id]["total"] += n
    return result


def counts(batch: Batch) -> dict:
    return counts_for([batch.pk])[batch.pk]


def eta(batch: Batch) -> float | None:
    """Seconds of rendering until the batch is done, what was queued before it included
    (``requests.queue_wait``); None once nothing of it is queued or rendering."""
    if batch.finished_at:
        return None
    last = batch.variants.filter(status__in=LIVE).order_by("-pk").values_list("pk", flat=True).first()
    return requests.queue_wait(last)


def summary(values: dict) -> str:
    """Counts in words: "2 ready · 1 failed", or "3 queued, waiting for a worker"."""
    parts = []
    if values["queued"]:
        parts.append(ngettext("%(n)d queued, waiting for a worker", "%(n)d queued, waiting for a worker",
                              values["queued"]) % {"n": values["queued"]})
    if values["rendering"]:
        parts.append(ngettext("%(n)d rendering", "%(n)d rendering", values["rendering"]) % {"n": values["rendering"]})
    if values["ready"]:
        parts.append(ngettext("%(n)d ready", "%(n)d ready", values["ready"]) % {"n": values["ready"]})
    if values["held"]:
        parts.append(ngettext("%(n)d held for review", "%(n)d held for review", values["held"]) % {"n": values["held"]})
    if values["rejected"]:
        parts.append(ngettext("%(n)d rejected", "%(n)d rejected", values["rejected"]) % {"n": values["rejected"]})
    if values["failed"]:
        parts.append(ngettext("%(n)d failed", "%(n)d failed", values["failed"]) % {"n": values["failed"]})
    return " · ".join(parts) or _("nothing to render")


def settle(variant_ids):
    """Finish the unfinished batches of these variants that have nothing left queued
    or rendering."""
    batch_ids = set(
        Membership.objects.filter(stylizedimage_id__in=list(variant_ids), batch__finished_at=None)
        .values_list("batch_id", flat=True)
    )
    if batch_ids:
        finish(batch_ids)


def finish(batch_ids) -> int:
    """Mark finished the batches among ``batch_ids`` with nothing queued or rendering;
    each is finished once (a conditional update), then announced after commit.
    Returns how many this call finished."""
    done = Batch.objects.filter(pk__in=list(batch_ids), finished_at=None).exclude(variants__status__in=LIVE)
    now, finished = timezone.now(), 0
    for pk in list(done.values_list("pk", flat=True)):
        if Batch.objects.filter(pk=pk, finished_at=None).update(finished_at=now):
            finished += 1
            transaction.on_commit(lambda pk=pk: announce(pk))
    return finished


def finish_idle() -> int:
    """Finish the unfinished batches that have nothing left to render although no render
    finished them: their last live jobs were deleted (with their product, say). The
    sweep calls it; unfinished batches are few."""
    return finish(Batch.objects.filter(finished_at=None).values_list("pk", flat=True))


def announce(pk):
    batch = Batch.objects.filter(pk=pk).first()
    if batch is not None:
        batch_finished.send(sender=Batch, batch=batch, counts=counts(batch))


def cancel(batch: Batch) -> int | None:
    """Cancel a batch: its variants not rendered yet are dropped, unless another
    unfinished batch waits for them too. Returns how many were dropped, or None if the
    batch had already finished (nothing to cancel)."""
    now = timezone.now()
    with transaction.atomic():
        # Author already knows: no completion notice for a batch they cancelled.
        if not Batch.objects.filter(pk=batch.pk, finished_at=None).update(
            finished_at=now, cancelled_at=now, notified_at=now,
        ):
            return None
        shared = Membership.objects.filter(batch__finished_at=None).exclude(batch_id=batch.pk).values("stylizedimage_id")
        drop = StylizedImage.objects.filter(batches=batch, status__in=LIVE).exclude(pk__in=shared)
        ids = list(drop.values_list("pk", flat=True))
        # Still live at the moment of deleting: a row that became ready meanwhile stays.
        dropped = 0
        for start in range(0, len(ids), CHUNK):
            _total, deleted = StylizedImage.objects.filter(pk__in=ids[start:start + CHUNK], status__in=LIVE).delete()
            dropped += deleted.get(StylizedImage._meta.label, 0)
        Batch.objects.filter(pk=batch.pk).update(dropped=dropped)
        transaction.on_commit(lambda: announce(batch.pk))
    batch.refresh_from_db()
    return dropped


def status(batch: Batch, values: dict) -> str:
    """cancelled, finished, rendering (a worker is on one of its images) or queued
    (waiting for a worker)."""
    if batch.cancelled_at:
        return "cancelled"
    if batch.finished_at:
        return "finished"
    return "rendering" if values["rendering"] else "queued"
