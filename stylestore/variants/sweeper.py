"""Recovery from lost tasks and dead workers: the sweep runs every minute (a django-q2
schedule), and every rendering worker's heartbeat revives expired leases as well."""
import logging

from django.utils import timezone

from . import files, queue, state

logger = logging.getLogger(__name__)


def revive_expired(now=None) -> tuple[int, list]:
    """Rows whose worker died (lease expired): back to pending and re-sent one per
    task while attempts remain, else ``dead``. Returns ``(dead, revived ids)``."""
    dead, revived_ids = state.reclaim_expired(now or timezone.now())
    if revived_ids:
        queue.enqueue(revived_ids, solo=True)
    return dead, revived_ids


def sweep(*, pending_grace_seconds=120) -> dict:
    """Re-send what was lost and reclaim what a dead worker held.

    - ``running`` rows past their lease: their worker died (``revive_expired``).
    - ``pending`` rows that are due (backoff over) and were last enqueued more than
      ``pending_grace_seconds`` ago: their task was lost (e.g. a broker restart).
    - temporary files of writes that never finished.
    """
    now = timezone.now()
    dead, revived_ids = revive_expired(now)
    revived = set(revived_ids)
    lost_ids = [pk for pk in state.lost(now, pending_grace_seconds) if pk not in revived]
    if lost_ids:
        queue.enqueue(lost_ids)
    removed = files.remove_partial_files()
    summary = {"dead": dead, "revived": len(revived_ids), "requeued": len(lost_ids), "partial_files_removed": removed}
    if any(summary.values()):
        logger.info("stylestore sweep: %s", summary)
    return summary
