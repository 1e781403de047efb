"""``manage.py stylestore_health``: a liveness probe for the worker cluster.

Exits 1 when jobs have waited longer than ``--stalled-after`` seconds and no job
started or finished within that time (see ``state.stalled``); a supervisor (systemd's
``ExecCondition``/watchdog script, a Kubernetes liveness probe) then restarts
``manage.py qcluster``. Pick a window longer than the longest render plus the broker's
retry delay (``Q_CLUSTER["retry"]``), so a cluster that is merely busy is left alone.
"""
from django.core.management.base import BaseCommand, CommandError

from ...variants import state


class Command(BaseCommand):
    help = "Exit 1 if the workers look stuck: jobs waiting, none started or finished recently."

    def add_arguments(self, parser):
        parser.add_argument("--stalled-after", type=int, default=state.STALLED_AFTER, metavar="SECONDS",
                            help=f"how long waiting jobs may see no progress (default {state.STALLED_AFTER})")

    def handle(self, *args, stalled_after, **options):
        if stalled_after <= 0:
            raise CommandError("--stalled-after must be a positive number of seconds")
        if state.stalled(stalled_after):
            self.stderr.write(f"stalled: jobs are waiting and none started or finished in {stalled_after} s")
            raise SystemExit(1)
        self.stdout.write("ok")
