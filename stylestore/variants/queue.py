"""Sending work to the django-q2 workers: row ids, after commit, grouped into batches.

Every task Stylestore sends goes through :func:`send`, so the cluster a shop points
its GPU workers at (``STYLESTORE["TASK_CLUSTER"]``) is decided in one place.
"""
from itertools import islice

from django.db import transaction
from django.utils import timezone

from ..conf import stylestore_settings
from ..models import StylizedImage, group_by_render

Status = StylizedImage.Status


def send(func: str, *args, **kwargs):
    """Queue ``stylestore.tasks.<func>`` on Stylestore's cluster."""
    # Imported here: django_q's models cannot load while it is missing from
    # INSTALLED_APPS, and the system check (stylestore.E040) must get to say so.
    from django_q.tasks import async_task

    if stylestore_settings.TASK_CLUSTER:
        kwargs["cluster"] = stylestore_settings.TASK_CLUSTER
    async_task(f"stylestore.tasks.{func}", *args, group="stylestore", **kwargs)


def enqueue(ids, *, solo=False):
    """Send row ids to the workers, grouped so each task renders one style's batch.

    ``solo`` sends each id alone: used for rows whose previous worker died.
    """
    rows = StylizedImage.objects.filter(pk__in=ids).order_by("style_id", "params_hash", "pk")
    size = 1 if solo else stylestore_settings.BATCH_SIZE
    StylizedImage.objects.filter(pk__in=ids, status=Status.PENDING).update(enqueued_at=timezone.now())
    for group in group_by_render(rows.only("pk", "style_id", "params_hash")).values():
        it = iter(row.pk for row in group)
        while chunk := list(islice(it, size)):
            send("render_variants", chunk, task_name=f"stylize-{chunk[0]}-{len(chunk)}")


def enqueue_on_commit(ids):
    """Send the ids once the current transaction commits (never for rolled-back rows)."""
    if ids:
        ids = list(ids)
        transaction.on_commit(lambda: enqueue(ids))


def enqueue_analysis(source_ids):
    """Compute what is computed once per photo: its embedding and its product mask."""
    if source_ids:
        send("analyse_sources", list(source_ids))


def send_later(func: str, *args, seconds: float):
    """Queue ``stylestore.tasks.<func>`` to run once, ``seconds`` from now (a django-q2
    schedule, deleted after it ran), on Stylestore's cluster."""
    from datetime import timedelta

    from django_q.models import Schedule
    from django_q.tasks import schedule

    schedule(f"stylestore.tasks.{func}", *args, schedule_type=Schedule.ONCE, repeats=-1,
             next_run=timezone.now() + timedelta(seconds=seconds), cluster=stylestore_settings.TASK_CLUSTER)
