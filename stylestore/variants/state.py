"""The variant state machine: claim, renew, finish, fail, reclaim; and whether work is stuck.

Every transition is one conditional UPDATE, so two workers (or a worker and the
sweeper) can never both own a row: a worker's writes are guarded by its claim token.
A claim holds for ``LEASE_SECONDS``; the worker's heartbeat renews it while it renders,
so an expired lease means a dead worker, never a slow one.
"""
import os
import socket
import uuid
from datetime import timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from ..conf import stylestore_settings
from ..models import StylizedImage

Status = StylizedImage.Status
#: ``last_error`` of a job revived from a dead worker, until it is claimed again.
REVIVED = "The worker stopped before finishing; re-queued."


def _host() -> str:
    """This machine, as claim tokens name it: the host name and, on Linux, the PID
    namespace, so two containers that share a host name (``--network host``) are never
    taken for one another when telling whether a worker process still exists."""
    try:
        namespace = os.readlink("/proc/self/ns/pid").removeprefix("pid:[").removesuffix("]")
    except OSError:
        return socket.gethostname()
    return f"{socket.gethostname()}/{namespace}"


HOST = _host()


def worker_name():
    return f"{HOST}:{os.getpid()}"


def process_gone(pid: int) -> bool:
    """Whether process ``pid`` of this machine has ended (a zombie, killed and not yet
    reaped, counts as ended). A reused pid reads as alive: the lease is then the
    fallback, never a live worker taken for dead."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rpartition(b")")[2].split()[0] in (b"Z", b"X")
    except FileNotFoundError:
        return True
    except OSError:  # no /proc (not Linux): ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False


def orphaned_tokens() -> set:
    """Claim tokens of running rows held by processes of this machine that have ended:
    their jobs need not wait for the lease to run out."""
    tokens = (StylizedImage.objects.filter(status=Status.RUNNING, worker__startswith=f"{HOST}:")
              .values_list("worker", flat=True).distinct())
    return {token for token in tokens if process_gone(int(token.rsplit(":", 2)[1]))}


def _due(now) -> Q:
    """Rows whose retry backoff (if any) is over."""
    return Q(not_before__isnull=True) | Q(not_before__lte=now)


def claim(ids) -> list[StylizedImage]:
    """Atomically take the claimable rows among ``ids``; returns only the rows this call won."""
    now = timezone.now()
    token = f"{worker_name()}:{uuid.uuid4().hex[:12]}"
    claimed = (
        StylizedImage.objects.filter(pk__in=ids, status=Status.PENDING)
        .filter(_due(now))
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


def renew(token) -> int:
    """Extend the lease of every row still held under ``token``; returns how many."""
    return StylizedImage.objects.filter(worker=token, status=Status.RUNNING).update(
        lease_expires_at=timezone.now() + timedelta(seconds=stylestore_settings.LEASE_SECONDS)
    )


def finish(row: StylizedImage, *, name, width, height, size, metrics, timings, held=False) -> bool:
    """Flip a claimed row to ready. False if the claim was lost (lease expired and retaken).

    ``held``: the quality gate failed it, so it waits in review; a render that passes
    after being held goes back to unreviewed (approvals and rejections stay)."""
    fields = dict(status=Status.READY, file=name, width=width, height=height, file_size=size,
                  metrics=metrics, timings=timings, last_error="", finished_at=timezone.now(), lease_expires_at=None)
    if held:
        fields["review"] = StylizedImage.Review.HELD
    elif row.review == StylizedImage.Review.HELD:
        fields["review"] = StylizedImage.Review.UNREVIEWED
    return bool(StylizedImage.objects.filter(pk=row.pk, status=Status.RUNNING, worker=row.worker).update(**fields))


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


def reset_for_retry(ids) -> list:
    """Failed or dead rows among ``ids`` start over as pending with a fresh attempt
    budget; returns the ids that did."""
    ids = list(
        StylizedImage.objects.filter(pk__in=ids, status__in=[Status.FAILED, Status.DEAD]).values_list("pk", flat=True)
    )
    StylizedImage.objects.filter(pk__in=ids).update(
        status=Status.PENDING, attempts=0, not_before=None, last_error="", worker=""
    )
    return ids


def reclaim_expired(now) -> tuple[list, list]:
    """Running rows past their lease, or held by a process of this machine that has
    ended: their worker died. With attempts left they go back to pending (their ids are
    returned, to be re-sent one per task); otherwise they end ``dead``. Returns
    ``(dead ids, revived ids)``.

    Several callers may run at once (the sweeper and every rendering worker's
    heartbeat): the rows are locked first, so each is revived, and re-sent, by one only
    (PostgreSQL skips rows another caller holds; SQLite runs the whole transaction alone).
    """
    with transaction.atomic():
        expired = list(
            StylizedImage.objects.select_for_update(skip_locked=True)
            .filter(Q(lease_expires_at__lt=now) | Q(worker__in=orphaned_tokens()), status=Status.RUNNING)
            .values_list("pk", "attempts")
        )
        dead_ids = [pk for pk, attempts in expired if attempts >= stylestore_settings.MAX_ATTEMPTS]
        revived_ids = [pk for pk, attempts in expired if attempts < stylestore_settings.MAX_ATTEMPTS]
        StylizedImage.objects.filter(pk__in=dead_ids).update(
            status=Status.DEAD, finished_at=now, lease_expires_at=None,
            last_error="The worker died while rendering this image on every attempt "
                       f"({stylestore_settings.MAX_ATTEMPTS}); it may crash the renderer. Retry to try again.",
        )
        StylizedImage.objects.filter(pk__in=revived_ids).update(
            status=Status.PENDING, worker="", lease_expires_at=None, last_error=REVIVED,
        )
    return dead_ids, revived_ids


def revived_waiting(limit, *, sent_before=None) -> list:
    """Ids of jobs revived from dead workers that nobody has claimed again yet, oldest
    first; ``sent_before``: only those whose task was last sent before then."""
    now = timezone.now()
    waiting = StylizedImage.objects.filter(status=Status.PENDING, last_error=REVIVED)
    if sent_before is not None:
        waiting = waiting.filter(enqueued_at__lt=sent_before)
    return list(waiting.filter(_due(now)).order_by("pk").values_list("pk", flat=True)[:limit])


def lost(now, grace_seconds) -> list:
    """Ids of pending rows that are due (backoff over) and were last sent more than
    ``grace_seconds`` ago: their task was lost (e.g. a broker restart)."""
    due = StylizedImage.objects.filter(status=Status.PENDING, enqueued_at__lt=now - timedelta(seconds=grace_seconds))
    return list(due.filter(_due(now)).values_list("pk", flat=True))


#: How long waiting jobs may see no progress before the workers count as stalled: the
#: default of ``manage.py stylestore_health`` and of the admin's warning. Longer than
#: the longest render plus the broker's retry delay, so a merely busy cluster passes.
STALLED_AFTER = 600


def stalled(seconds=STALLED_AFTER, *, this_machine=False) -> bool:
    """Whether the workers look stuck: jobs have waited longer than ``seconds``, yet
    no job started or finished in the last ``seconds`` (``this_machine``: none by a
    worker of this machine, ``HOST``).

    A liveness signal for whatever supervises the worker cluster (``manage.py
    stylestore_health``). django-q2 hands tasks to its workers through a
    multiprocessing queue whose reader holds a lock while it waits; a worker killed
    while waiting (the OOM killer, say) leaves that lock held, every other worker
    waits on it forever and the cluster looks alive while doing nothing. The sweeper
    cannot help (its schedule runs on those same workers): restarting the cluster does.
    Where several clusters share the queue, the others keep the jobs moving and only
    each cluster's own progress tells it is stuck: run the probe beside each (one
    cluster per machine or container) with ``this_machine``.
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
    progress = StylizedImage.objects.filter(Q(started_at__gte=since) | Q(finished_at__gte=since))
    if this_machine:
        # Claim tokens are "host:pid:nonce", and a finished row keeps its last one.
        progress = progress.filter(worker__startswith=f"{HOST}:")
    return not progress.exists()
