"""``manage.py stylestore_health``: a liveness probe for the worker cluster.

Exits 1 when jobs have waited longer than ``--stalled-after`` seconds and no job
started or finished within that time (see ``state.stalled``); a supervisor (systemd's
``ExecCondition``/watchdog script, a Kubernetes liveness probe) then restarts
``manage.py qcluster``. With several clusters on one queue, run it beside each (one per
machine or container) with ``--this-machine``: the others' progress would hide a stuck
one. Pick a window longer than the longest render plus the broker's
retry delay (``Q_CLUSTER["retry"]``), so a cluster that is merely busy is left alone.
"""
from django.core.management.base import BaseCommand, CommandError

from ...variants import state


class Command(BaseCommand):
    help = "Exit 1 if the workers look stuck: jobs waiting, none started or finished recently."

    def add_arguments(self, parser):
        parser.add_argument("--stalled-after", type=int, default=state.STALLED_AFTER, metavar="SECONDS",
                            help=f"how long waiting jobs may see no progress (default {state.STALLED_AFTER})")
        parser.add_argument("--this-machine", action="store_true",
                            help="count only the progress of this machine's workers (one cluster per machine "
                                 "or container, several sharing the queue)")

    def handle(self, *args, stalled_after, this_machine, **options):
        if stalled_after <= 0:
            raise CommandError("--stalled-after must be a positive number of seconds")
        if state.stalled(stalled_after, this_machine=this_machine):
            workers = "this machine's workers" if this_machine else "the workers"
            self.stderr.write(f"stalled: jobs are waiting and {workers} started or finished none in {stalled_after} s")
            raise SystemExit(1)
        self.stdout.write("ok")
