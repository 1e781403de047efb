"""Recovery from lost tasks and dead workers: the sweep runs every minute (a django-q2
schedule); every worker process also revives dead workers' jobs every few seconds
(``LeaseWatcher``), busy or idle, and at the end of each task (``worker``)."""
import logging
import threading
from datetime import timedelta

from django.db import connection
from django.utils import timezone

from . import batches, files, queue, state

logger = logging.getLogger(__name__)


def revive_expired(now=None) -> tuple[int, list]:
    """Rows whose worker died (lease expired): back to pending and re-sent one per
    task while attempts remain, else ``dead``. Returns ``(dead, revived ids)``."""
    dead_ids, revived_ids = state.reclaim_expired(now or timezone.now())
    if dead_ids:
        batches.settle(dead_ids)  # a dead job may be the last of its batch
    if revived_ids:
        queue.enqueue(revived_ids, solo=True)
    return len(dead_ids), revived_ids


#: How often each worker process looks for dead workers' jobs (``LeaseWatcher``). A
#: worker of this machine that died is seen at the next look (its process is gone);
#: one elsewhere once its lease runs out.
WATCH_SECONDS = 5
#: A revived job unclaimed this long after its task was sent has lost that task, or
#: every worker is busy: each watcher round sends it again (at most RESEND_LIMIT per
#: round; the sweep sends any rest). Every task takes revived jobs over first, so in a
#: working cluster they are claimed well within it.
REVIVED_GRACE_SECONDS = 3 * WATCH_SECONDS
RESEND_LIMIT = 500


def watch_round():
    """One ``LeaseWatcher`` round: revive dead workers' jobs, and send again revived
    jobs whose task is overdue. A revival commits before its task is sent, so the
    task can be lost: refused by a restarting broker, or pulled into the memory of a
    cluster that was killed. Nothing in the process that revived it remembers that
    (it may be dead itself), so the row's own ``enqueued_at`` decides. A job sent
    twice is rendered once: the second task finds it claimed."""
    now = timezone.now()
    revive_expired(now)
    overdue = state.revived_waiting(RESEND_LIMIT, sent_before=now - timedelta(seconds=REVIVED_GRACE_SECONDS))
    if overdue:
        queue.enqueue(overdue, solo=True)


class LeaseWatcher(threading.Thread):
    """A daemon thread reviving dead workers' jobs in a worker process, at its start and
    every WATCH_SECONDS for as long as the process lives (``watch_round``): a worker of
    this machine that died is seen within seconds, one of another machine within
    WATCH_SECONDS of its lease running out, rather than at the next sweep, even in a
    cluster with nothing else to do. Started by ``watch_leases``."""

    def __init__(self):
        super().__init__(name="stylestore-lease-watcher", daemon=True)
        self._stop_event = threading.Event()

    def run(self):
        while True:
            try:
                watch_round()
            except Exception:  # noqa: BLE001 - a database or broker hiccup must not end the watch
                logger.warning("reviving expired leases failed; trying again", exc_info=True)
            finally:
                connection.close()  # this thread's own; idle between rounds
            if self._stop_event.wait(WATCH_SECONDS):
                return

    def stop(self):
        self._stop_event.set()


_watcher = None


def watch_leases(proc_name=None, **kwargs) -> LeaseWatcher | None:
    """Receiver of django-q2's ``post_spawn`` (in each worker process as it starts):
    start this process's ``LeaseWatcher`` once.

    Not in the main process: django-q2's sync mode (tests, a shop run without a
    cluster) sends the signal there for every task it runs in the caller, which is no
    worker; a watcher started there outlived the task, querying the database every few
    seconds from a web or test process (and reviving leases a test had just expired)."""
    if proc_name == "MainProcess":  # a cluster's workers are its child processes, never this
        return None
    global _watcher
    if _watcher is None or not _watcher.is_alive():
        _watcher = LeaseWatcher()
        _watcher.start()
    return _watcher


def sweep(*, pending_grace_seconds=120) -> dict:
    """Re-send what was lost and reclaim what a dead worker held.

    - ``running`` rows past their lease: their worker died (``revive_expired``).
    - ``pending`` rows that are due (backoff over) and were last enqueued more than
      ``pending_grace_seconds`` ago: their task was lost (e.g. a broker restart).
    - temporary files of writes that never finished;
    - batches left with nothing to render by a deletion (their last queued job's
      product was deleted, say): no render will finish them.
    """
    now = timezone.now()
    dead, revived_ids = revive_expired(now)
    revived = set(revived_ids)
    lost_ids = [pk for pk in state.lost(now, pending_grace_seconds) if pk not in revived]
    if lost_ids:
        queue.enqueue(lost_ids)
    removed = files.remove_partial_files()
    finished = batches.finish_idle()
    summary = {"dead": dead, "revived": len(revived_ids), "requeued": len(lost_ids), "partial_files_removed": removed,
               "batches_finished": finished}
    if any(summary.values()):
        logger.info("stylestore sweep: %s", summary)
    return summary
