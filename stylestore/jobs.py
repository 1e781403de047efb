"""The stylization job state machine: request, enqueue, claim, finish, fail, sweep.

A job *is* its ``StylizedImage`` row; django-q2 only carries row ids. The rules that
make jobs neither lost nor duplicated (see the design notes, "Job flow"):

1. Rows are created under their unique key *before* any work; an existing row for
   the same key is reused, so asking twice creates nothing.
2. Tasks are enqueued after commit and carry ids, never model instances.
3. A worker claims rows with one conditional UPDATE (``pending -> running``,
   ``attempts + 1``, a lease, and a claim token). A second delivery of the same task
   claims nothing. The token tells each worker exactly which rows it won.
4. Output goes to a content-addressed name and is complete before the row flips to
   ``ready`` in one UPDATE guarded by the claim token.
5. The sweeper (a django-q2 schedule) re-queues pending rows whose task was lost and
   running rows whose lease expired (their worker died). Because ``attempts`` grows at
   claim time, a worker that dies counts as an attempt: a poison input that kills its
   worker ends ``dead`` after ``MAX_ATTEMPTS`` executions instead of looping forever.
   Rows whose worker died are re-run alone, so one poison input cannot take its batch
   mates down with it.
"""
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import islice

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from .conf import stylestore_settings
from .models import SourceImage, Style, StylizedImage, params_hash
from .storage import variant_storage

logger = logging.getLogger(__name__)

Status = StylizedImage.Status
FORMATS = ("webp", "jpeg", "png")


@dataclass(frozen=True)
class RenderRequest:
    """What an admin (or API client, or command) asks for; None means the style's default."""

    strength: float | None = None
    preserve_color: bool | None = None
    max_side: int | None = None
    output_format: str | None = None
    engine: str | None = None

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
        return {
            "strength": strength,
            "preserve_color": style.preserve_color if self.preserve_color is None else bool(self.preserve_color),
            "max_side": snap_size(self.max_side),
            "output_format": fmt,
            "engine": engine,
        }


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
            enqueue_on_commit(result.created)
    return result


def enqueue_on_commit(ids):
    if ids:
        ids = list(ids)
        transaction.on_commit(lambda: enqueue(ids))


def enqueue(ids, *, solo=False):
    """Send row ids to the workers, grouped so each task renders one style's batch.

    ``solo`` sends each id alone: used for rows whose previous worker died.
    """
    from django_q.tasks import async_task

    rows = StylizedImage.objects.filter(pk__in=ids).order_by("style_id", "params_hash", "pk")
    groups = {}
    for pk, style_id, digest in rows.values_list("pk", "style_id", "params_hash"):
        groups.setdefault((style_id, digest), []).append(pk)
    size = 1 if solo else stylestore_settings.BATCH_SIZE
    options = {"cluster": stylestore_settings.TASK_CLUSTER} if stylestore_settings.TASK_CLUSTER else {}
    StylizedImage.objects.filter(pk__in=ids, status=Status.PENDING).update(enqueued_at=timezone.now())
    for group in groups.values():
        it = iter(group)
        while chunk := list(islice(it, size)):
            async_task("stylestore.tasks.render_variants", chunk, task_name=f"stylize-{chunk[0]}-{len(chunk)}",
                       group="stylestore", **options)


def worker_name():
    return f"{socket.gethostname()}:{os.getpid()}"


def claim(ids) -> list[StylizedImage]:
    """Atomically take the claimable rows among ``ids``; returns only the rows this call won."""
    now = timezone.now()
    token = f"{worker_name()}:{uuid.uuid4().hex[:12]}"
    claimed = (
        StylizedImage.objects.filter(pk__in=ids, status=Status.PENDING)
        .filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
        .update(
            status=Status.RUNNING,
            attempts=F("attempts") + 1,
            worker=token,
            started_at=now,
            lease_expires_at=now + timedelta(seconds=stylestore_settings.LEASE_SECONDS),
        )
    )
    if not claimed:
        return []
    return list(
        StylizedImage.objects.filter(worker=token, status=Status.RUNNING).select_related("source", "style")
    )


def finish(row: StylizedImage, *, name, width, height, size, metrics, timings) -> bool:
    """Flip a claimed row to ready. False if the claim was lost (lease expired and retaken)."""
    return bool(
        StylizedImage.objects.filter(pk=row.pk, status=Status.RUNNING, worker=row.worker).update(
            status=Status.READY, file=name, width=width, height=height, file_size=size,
            metrics=metrics, timings=timings, last_error="", finished_at=timezone.now(), lease_expires_at=None,
        )
    )


def fail(row: StylizedImage, error: str, *, retry: bool, burn_attempt: bool = True):
    """Record a failure: back to pending with backoff while attempts remain, else ``failed``.

    ``retry=False`` is for errors that cannot get better (a refused input image).
    ``burn_attempt=False`` is for infrastructure errors (missing weights): the job is
    not at fault, so the attempt it just made is given back.
    """
    attempts = row.attempts if burn_attempt else max(row.attempts - 1, 0)
    now = timezone.now()
    fields = dict(last_error=error[:2000], attempts=attempts, finished_at=now, lease_expires_at=None)
    if retry and attempts < stylestore_settings.MAX_ATTEMPTS:
        backoff = stylestore_settings.RETRY_BACKOFF_SECONDS * 2 ** max(attempts - 1, 0)
        fields.update(status=Status.PENDING, not_before=now + timedelta(seconds=backoff))
    else:
        fields.update(status=Status.FAILED)
    StylizedImage.objects.filter(pk=row.pk, status=Status.RUNNING, worker=row.worker).update(**fields)


def retry(ids):
    """Admin "retry": failed or dead rows start over with a fresh attempt budget."""
    with transaction.atomic():
        ids = list(
            StylizedImage.objects.filter(pk__in=ids, status__in=[Status.FAILED, Status.DEAD]).values_list("pk", flat=True)
        )
        StylizedImage.objects.filter(pk__in=ids).update(
            status=Status.PENDING, attempts=0, not_before=None, last_error="", worker=""
        )
        enqueue_on_commit(ids)
    return ids


def stalled(seconds) -> bool:
    """Whether the workers look stuck: jobs have waited longer than ``seconds``, yet
    no job started or finished in the last ``seconds``.

    A liveness signal for whatever supervises the worker cluster (``manage.py
    stylestore_health``). django-q2 hands tasks to its workers through a
    multiprocessing queue whose reader holds a lock while it waits; a worker killed
    while waiting (the OOM killer, say) leaves that lock held, every other worker
    waits on it forever and the cluster looks alive while doing nothing. The sweeper
    cannot help (its schedule runs on those same workers): restarting the cluster does.
    """
    now = timezone.now()
    since = now - timedelta(seconds=seconds)
    # Pending since before the window: by creation, not by ``enqueued_at``, which the
    # sweeper moves each time it re-sends a task that no worker took.
    waiting = StylizedImage.objects.filter(
        Q(status=Status.PENDING, created_at__lt=since) & (Q(not_before__isnull=True) | Q(not_before__lt=since))
        | Q(status=Status.RUNNING, started_at__lt=since)
    )
    if not waiting.exists():
        return False
    return not StylizedImage.objects.filter(Q(started_at__gte=since) | Q(finished_at__gte=since)).exists()


def sweep(*, pending_grace_seconds=120) -> dict:
    """Recover from lost tasks and dead workers. Run periodically by a django-q2 schedule.

    - ``running`` rows past their lease: their worker died. With attempts left they go
      back to pending and are re-sent one per task; otherwise they end ``dead``.
    - ``pending`` rows that are due (backoff over) and were last enqueued more than
      ``pending_grace_seconds`` ago: their task was lost (e.g. a broker restart).
    """
    now = timezone.now()
    expired = StylizedImage.objects.filter(status=Status.RUNNING, lease_expires_at__lt=now)
    dead = expired.filter(attempts__gte=stylestore_settings.MAX_ATTEMPTS).update(
        status=Status.DEAD, finished_at=now, lease_expires_at=None,
        last_error="The worker died while rendering this image on every attempt "
                   f"({stylestore_settings.MAX_ATTEMPTS}); it may crash the renderer. Retry to try again.",
    )
    revived_ids = list(expired.values_list("pk", flat=True))
    StylizedImage.objects.filter(pk__in=revived_ids, status=Status.RUNNING, lease_expires_at__lt=now).update(
        status=Status.PENDING, worker="", lease_expires_at=None, last_error="The worker stopped before finishing; re-queued."
    )
    due = StylizedImage.objects.filter(status=Status.PENDING, enqueued_at__lt=now - timedelta(seconds=pending_grace_seconds))
    due = due.filter(Q(not_before__isnull=True) | Q(not_before__lte=now)).exclude(pk__in=revived_ids)
    lost_ids = list(due.values_list("pk", flat=True))
    if revived_ids:
        enqueue(revived_ids, solo=True)
    if lost_ids:
        enqueue(lost_ids)
    removed = remove_partial_files()
    summary = {"dead": dead, "revived": len(revived_ids), "requeued": len(lost_ids), "partial_files_removed": removed}
    if any(summary.values()):
        logger.info("stylestore sweep: %s", summary)
    return summary


TMP_PREFIX = ".partial-"


def remove_partial_files(max_age_seconds=3600) -> int:
    """Delete temp files left by a worker killed mid-write (local storage only)."""
    storage = variant_storage()
    root = getattr(storage, "location", None)
    base = os.path.join(root, stylestore_settings.UPLOAD_TO) if root else None
    if not base or not os.path.isdir(base):
        return 0
    cutoff = timezone.now().timestamp() - max_age_seconds
    removed = 0
    for dirpath, _, files in os.walk(base):
        for name in files:
            path = os.path.join(dirpath, name)
            if name.startswith(TMP_PREFIX) and os.path.getmtime(path) <= cutoff:
                os.unlink(path)
                removed += 1
    return removed


def progress(source_ids) -> dict:
    """Per source: how many of its current variants are ready / in flight / failed."""
    counts = {}
    rows = StylizedImage.objects.filter(source_id__in=source_ids, source_hash=F("source__content_hash"))
    for source_id, status in rows.values_list("source_id", "status"):
        c = counts.setdefault(source_id, {"total": 0, "ready": 0, "pending": 0, "failed": 0})
        c["total"] += 1
        if status == Status.READY:
            c["ready"] += 1
        elif status in (Status.PENDING, Status.RUNNING):
            c["pending"] += 1
        else:
            c["failed"] += 1
    return counts


def sources_with_variants_of(style: Style):
    return SourceImage.objects.filter(variants__style=style).distinct()


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
    from django.contrib.contenttypes.models import ContentType

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
    from .sources import sync_sources

    with transaction.atomic():
        return request_variants(sync_sources(objects, field_name), styles, request, enqueue=enqueue)
