"""The chaos both chaos tests unleash: supervised ``qcluster`` processes, a monkey that
SIGKILLs their workers (and now and then a whole cluster), the recovery clocks of the
jobs each death leaves behind, and the loop that drives it all while recovery runs as
in production (each worker's lease watcher, the sweep once a minute).

Which worker dies when is drawn from ``SEED``, printed with any failure; replay a run
with ``CHAOS_SEED=<seed>``. (Timing still varies between runs: the kills hit whatever
the workers are doing at that moment.)
"""
import os
import random
import re
import signal
import subprocess
import time
from urllib.parse import urlsplit

import redis as redis_client

from stylestore.conf import stylestore_settings
from stylestore.models import StylizedImage
from stylestore.variants import state, sweeper

from .cluster import descendants, is_alive

Status = StylizedImage.Status
SEED = int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(2**32))
#: django-q2 logs each worker process it starts; the monitor and pusher log differently.
WORKER_STARTED = re.compile(r"ready for work at (\d+)")
PENDING_GRACE = 120  # the sweeper's default: pending jobs not started after this long are re-sent
SWEEP_EVERY = 60.0  # the sweeper schedule's period
# Longer than any quiet spell of a working cluster (an idle cluster waits for a dead
# worker's lease, then for the next sweep): no job started or finished for this long
# while jobs wait means it is stuck.
STALL_SECONDS = 100


class Redis:
    """The local Redis server the broker uses, shut down and started the way the
    machine starts it."""

    def __init__(self, url):
        parts = urlsplit(url)
        assert parts.hostname in ("127.0.0.1", "localhost", "::1"), "restarting Redis needs a local server"
        self.port = str(parts.port or 6379)

    def ping(self):
        return subprocess.run(["redis-cli", "-p", self.port, "ping"], capture_output=True, text=True).stdout.strip()

    def restart(self):
        subprocess.run(["redis-cli", "-p", self.port, "SHUTDOWN", "NOSAVE"], capture_output=True, timeout=30)
        deadline = time.monotonic() + 30
        while self.ping() == "PONG":
            assert time.monotonic() < deadline, "Redis did not shut down"
            time.sleep(0.2)
        time.sleep(2)  # an outage, not a blip
        subprocess.run(["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", self.port,
                        "--save", "", "--appendonly", "no", "--dir", "/var/lib/redis",
                        "--logfile", "/var/log/redis/ci.log"], check=True, timeout=30)
        while self.ping() != "PONG":
            assert time.monotonic() < deadline + 30, "Redis did not come back"
            time.sleep(0.2)


class Supervised:
    """One ``qcluster`` as a supervisor keeps it: started again whenever it dies, every
    start logging to the same file, so the file names every worker process it ever had."""

    def __init__(self, label, start, log):
        self.label, self._start, self.log = label, start, log
        self.process = None
        self.start()

    def start(self):
        self.process = self._start()
        self.started_at = time.monotonic()

    def logged_worker_pids(self) -> set:
        return {int(pid) for pid in WORKER_STARTED.findall(self.log.read_text(errors="replace"))}

    def worker_pids(self) -> list:
        """Live worker processes of the current start."""
        ours = set(descendants(self.process.proc.pid))
        return [pid for pid in sorted(self.logged_worker_pids() & ours) if is_alive(pid)]


class ChaosMonkey:
    """Kills worker processes of the clusters it supervises, and a whole cluster now
    and then, and times how long each dead worker's jobs wait for another worker.

    ``idle_kills``: when no worker holds a job, kill an idle one (one waiting for a
    task, which can leave django-q2's queue locked: the supervisor's stall restart is
    what clears it); otherwise only busy workers die.
    """

    def __init__(self, clusters, chance, *, poison_id=None, cluster_kill_every=5, idle_kills=True):
        self.clusters = clusters
        self.chance = chance
        self.poison_id = poison_id
        self.cluster_kill_every = cluster_kill_every
        self.idle_kills = idle_kills
        self.kills = self.cluster_kills = self.restarts = self.stall_restarts = 0
        self.deaths = {}  # pid -> wall-clock time just before the monkey killed it
        self.awaiting = []  # (time of the kill, kind, {row id: claim token it held then})
        self.recoveries = []  # (seconds from a kill to the re-claim, kind), one per job it held

    def claims(self):
        """pid -> the rows its worker process holds, from the claim tokens (host:pid:nonce)."""
        held = {}
        for row in StylizedImage.objects.filter(status=Status.RUNNING).only("pk", "worker", "attempts"):
            held.setdefault(int(row.worker.rsplit(":", 2)[1]), []).append(row)
        return held

    def spared(self, rows, *, poison=True):
        """Leave alone innocent jobs on their last attempt, and (``poison``) the poison:
        it dies on its own. A cluster kill may take it along: it only costs the poison
        an attempt, and waiting for a moment it is not held can take the whole chaos."""
        return any((poison and r.pk == self.poison_id)
                   or (r.pk != self.poison_id and r.attempts >= stylestore_settings.MAX_ATTEMPTS) for r in rows)

    def killed(self, rows, kind, at):
        """Start the recovery clocks (at ``at``) of the innocent jobs a dead worker held."""
        tokens = {r.pk: r.worker for r in rows if r.pk != self.poison_id}
        if tokens:
            self.awaiting.append((at, kind, tokens))

    def watch_recovery(self):
        """Stop the clocks of jobs that another worker claimed (or finished) since."""
        still = []
        for killed_at, kind, tokens in self.awaiting:
            now = time.monotonic()
            for pk, status, worker in StylizedImage.objects.filter(pk__in=tokens).values_list("pk", "status", "worker"):
                if worker != tokens[pk] and status in (Status.RUNNING, Status.READY):
                    self.recoveries.append((now - killed_at, kind))
                elif status == Status.PENDING or (status == Status.RUNNING and worker == tokens[pk]):
                    continue  # not back in work yet
                tokens.pop(pk)  # recovered, or finished just before the kill
            if tokens:
                still.append((killed_at, kind, tokens))
        self.awaiting = still

    def kill_cluster(self, cluster):
        """SIGKILL a whole cluster (parent, sentinel, workers) and start it again."""
        for pid in cluster.worker_pids():
            self.deaths[pid] = time.time()
        cluster.process.kill()
        time.sleep(1)
        cluster.start()

    def strike(self):
        held = self.claims()
        # Every ``cluster_kill_every``-th kill takes a whole cluster down, as soon as one
        # holds no spared job.
        cluster_due = self.cluster_kills < (self.kills + 1) // self.cluster_kill_every
        victims = [c for c in self.clusters
                   if not any(self.spared(held.get(pid, []), poison=False) for pid in c.worker_pids())]
        if cluster_due and victims:
            cluster = self.chance.choice(victims)
            rows = [row for pid in cluster.worker_pids() for row in held.get(pid, [])]
            killed_at = time.monotonic()
            self.kill_cluster(cluster)
            self.cluster_kills += 1
            self.kills += 1
            # With another cluster alive its workers take the jobs over; with none,
            # nobody can until a supervisor has started one: the clocks start then.
            others_alive = any(c is not cluster and c.worker_pids() for c in self.clusters)
            self.killed(rows, "cluster", killed_at if others_alive else time.monotonic())
            return
        workers = [pid for c in self.clusters for pid in c.worker_pids() if not self.spared(held.get(pid, []))]
        busy = [pid for pid in workers if pid in held]
        candidates = busy or (workers if self.idle_kills else [])
        if candidates:
            victim = self.chance.choice(candidates)
            self.deaths[victim] = time.time()
            os.kill(victim, signal.SIGKILL)
            self.killed(held.get(victim, []), "worker", time.monotonic())
            self.kills += 1

    def keep_alive(self):
        """A supervisor's job: start a cluster again if it died on its own, or every
        cluster if ``manage.py stylestore_health``'s signal says they are stuck
        (``state.stalled``: a worker killed while waiting for a task can leave
        django-q2's queue locked)."""
        for cluster in self.clusters:
            if cluster.process.proc.poll() is not None:
                cluster.process.log.close()
                cluster.start()
                self.restarts += 1
        settled = all(time.monotonic() - c.started_at > STALL_SECONDS for c in self.clusters)
        if settled and state.stalled(STALL_SECONDS):
            for cluster in self.clusters:
                self.kill_cluster(cluster)
            self.stall_restarts += 1

    def stop(self):
        for cluster in self.clusters:
            cluster.process.stop()

    def summary(self) -> dict:
        return {"kills": self.kills, "cluster_kills": self.cluster_kills, "unprompted_restarts": self.restarts,
                "stall_restarts": self.stall_restarts, "lease": stylestore_settings.LEASE_SECONDS,
                "recoveries": len(self.recoveries), "recovery_seconds": {
                    kind: sorted(round(seconds, 1) for seconds, of in self.recoveries if of == kind)
                    for kind in ("worker", "cluster")}}


def unfinished():
    return StylizedImage.objects.filter(status__in=[Status.PENDING, Status.RUNNING]).count()


def unleash(monkey, *, kill_every, min_kills, chaos_seconds, deadline, redis=None, redis_restart_after=None) -> dict:
    """Run the chaos until every job has finished: kills every ``kill_every`` seconds
    (uniformly drawn) until ``min_kills`` (however slowly a busy machine starts
    workers) or ``chaos_seconds``, then the system is left to recover on its own; with
    ``redis``, Redis restarted once after ``redis_restart_after`` seconds. The sweep
    runs once a minute, as its schedule does. Stops the clusters; returns the
    monkey's summary with the run's length and the sweeps' counts."""
    broker_errors = (redis_client.exceptions.ConnectionError,) if redis else ()
    started = time.monotonic()
    next_kill = started + monkey.chance.uniform(*kill_every)
    next_sweep = started + SWEEP_EVERY
    redis_restarted = False
    last_kill = started
    sweeps = {"dead": 0, "revived": 0, "requeued": 0, "failed_during_outage": 0}
    try:
        while unfinished():
            now = time.monotonic()
            assert now - started < deadline, f"{unfinished()} jobs unfinished after {deadline} s"
            if now >= next_sweep:
                try:
                    for key, value in sweeper.sweep(pending_grace_seconds=PENDING_GRACE).items():
                        sweeps[key] = sweeps.get(key, 0) + value
                except broker_errors:
                    sweeps["failed_during_outage"] += 1  # the schedule runs again next time
                next_sweep = now + SWEEP_EVERY
            if now - started < chaos_seconds and monkey.kills < min_kills and now >= next_kill:
                kills = monkey.kills
                monkey.strike()
                last_kill = now if monkey.kills > kills else last_kill
                next_kill = now + monkey.chance.uniform(*kill_every)
            if redis and not redis_restarted and now - started >= redis_restart_after:
                redis.restart()
                redis_restarted = True
            monkey.keep_alive()
            monkey.watch_recovery()
            time.sleep(0.5)
        monkey.watch_recovery()  # jobs finished since the last look
    finally:
        monkey.stop()
    return {"seconds": round(time.monotonic() - started), "last_kill_at": round(last_kill - started),
            **monkey.summary(), "redis_restarted": redis_restarted,
            **sweeps}


def assert_recovered(monkey, summary, goal, *, at_least):
    """Every killed worker's jobs were back in work within ``goal`` seconds, long before
    a full lease would have run out, and at least ``at_least`` such jobs were timed."""
    assert len(monkey.recoveries) >= at_least and not monkey.awaiting, (monkey.recoveries, monkey.awaiting)
    assert max(seconds for seconds, _kind in monkey.recoveries) <= goal, summary["recovery_seconds"]
