"""Chaos: real workers SIGKILLed at random, whole clusters killed and restarted, the
broker restarted (Redis run), a poison job, and recovery within a minute of every death.

Over a hundred small jobs run on one ``qcluster`` with two worker processes. While
they run, every few seconds a worker process is SIGKILLed, preferably one that is in
the middle of a job (its pid is in the claim token of the rows it holds), and now and
then the whole cluster is killed and started again, as a supervisor would. With the
Redis broker, Redis itself is shut down (without saving: the queue is gone) and
started again once. Recovery runs as in production: the default lease (renewed by the
heartbeat of the worker that holds it), every worker process reviving expired leases
(and taking revived jobs over after its task), and ``sweeper.sweep`` once a minute, as
its schedule does.

Recovery time: for every job a killed worker held, from the kill to the moment another
worker claims it again (or has finished it). Every one must be under a minute.

The poison job: no input is known to crash the renderer (the image gate exists to keep
it so), but one kind of job kills its worker by itself: one that cannot finish within
django-q2's ``timeout``. django-q2 then raises ``SystemExit`` in the task, which our
code does not catch, and replaces the worker process, so the job is left claimed by a
dead worker, exactly as after a crash. Here it is the slowest engine (Gatys-style
optimization, minutes per image on a CPU) at 512 px, against a 90 s timeout. Nothing
in the product or the worker knows about this test.

At the end: no job lost (every row ready, the poison ``dead``), the poison executed
at most ``MAX_ATTEMPTS`` (3) times, exactly one output file per ready row and nothing
else in the variants folder once partial files are cleaned up.

The chaos monkey kills a worker only while none of the innocent jobs it holds is on
its last attempt: a third death would rightly make such a job ``dead`` (that rule is
what the poison tests), and the test could no longer tell the two apart.
"""
import io
import os
import random
import re
import signal
import subprocess
import time
from urllib.parse import urlsplit

import pytest
import redis as redis_client
from django.conf import settings as django_settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from shop.models import Category, Product
from stylestore.conf import stylestore_settings
from stylestore.models import Style, StylizedImage
from stylestore.storage import variant_storage
from stylestore.variants import files, requests, state, sweeper
from stylestore.variants.sources import sync_sources
from tests.conftest import make_image_bytes
from tests.jobs.conftest import Worker

from .cluster import descendants, is_alive, private_queue, uses_redis  # noqa: F401 (private_queue: a fixture)

Status = StylizedImage.Status
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

JOBS = 104
SIZES = [(64, 64), (96, 64), (80, 96)]
# Each task must finish within TIMEOUT < RETRY (the ORM broker re-delivers unacknowledged
# tasks after RETRY), as stylestore's checks require; a fresh worker's first task imports
# PyTorch and loads the networks (product masks included), which on a 2-core machine
# shared with other work has taken over 30 s. The lease is the default, whatever the
# timeout: the heartbeat keeps it fresh.
TIMEOUT, RETRY = 90, 100
BATCH_SIZE = 2
PENDING_GRACE = 120  # the sweeper's default: pending jobs not started after this long are re-sent
SWEEP_EVERY = 60.0  # the sweeper schedule's period
# Seconds from a worker's death to its jobs' re-claim by another worker (issue 19: 60 s,
# before a full lease, about 458 s). When the whole cluster dies there is no worker until
# a supervisor starts one: those jobs' clocks start when the new cluster is launched.
RECOVERY_GOAL = 60
KILL_EVERY = (2.0, 5.0)  # seconds between kills, uniformly drawn
CLUSTER_KILL_EVERY = 5  # every fifth kill takes the whole cluster down
# Chaos lasts until this many kills (however slowly a busy machine starts workers), then
# the system is left to recover on its own.
MIN_KILLS = 10
CHAOS_SECONDS = 180  # at most
# Which worker dies when is drawn from this seed, printed with any failure; replay a run
# with CHAOS_SEED=<seed>. (Timing still varies between runs: the kills hit whatever the
# workers are doing at that moment.)
SEED = int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(2**32))
chance = random.Random(SEED)
REDIS_RESTART_AFTER = 25
DEADLINE = 15 * 60  # the poison alone runs three times TIMEOUT
# Longer than any quiet spell of a working cluster (an idle cluster waits for a dead
# worker's lease, then for the next sweep): no job started or finished for this long
# while jobs wait means it is stuck.
STALL_SECONDS = 100
WORKER_STARTED = re.compile(r"ready for work at (\d+)")


def textured_jpeg(size, index):
    return make_image_bytes(size, color=(index * 37 % 256, (index * 11) % 256, 200 - index % 150))


@pytest.fixture
def chaos_jobs(db, settings, private_queue):
    """104 small product photos with one preset style, and the poison, all queued."""
    settings.STYLESTORE = {**settings.STYLESTORE, "BATCH_SIZE": BATCH_SIZE}
    category = Category.objects.create(name="Chaos", slug="chaos")
    # Files written straight to storage and rows bulk-created: no save signals, so no
    # embedding tasks, only the jobs under test.
    products = Product.objects.bulk_create([
        Product(name=f"P{i}", slug=f"p{i}", category=category, price="1.00",
                image=default_storage.save(f"products/p{i}.jpg", ContentFile(textured_jpeg(SIZES[i % 3], i))))
        for i in range(JOBS)
    ])
    heavy = Product.objects.create(name="Heavy", slug="heavy", category=category, price="1.00",
                                   image=default_storage.save("products/heavy.jpg",
                                                              ContentFile(textured_jpeg((512, 512), 999))))
    ink = Style.objects.create(name="Ink", slug="ink", kind=Style.Kind.PRESET, preset_weights={"3": 1})
    slow = Style(name="Oil", slug="oil", kind=Style.Kind.IMAGE, engine=Style.Engine.OPTIMIZE)
    slow.image.save("oil.jpg", ContentFile(textured_jpeg((128, 128), 7)), save=True)
    # The poison first, so it is the first task a worker takes.
    (poison_id,) = requests.request_variants(sync_sources([heavy], "image"), [slow],
                                          requests.RenderRequest(max_side=512)).created
    created = requests.request_variants(sync_sources(products, "image"), [ink], requests.RenderRequest(max_side=256)).created
    assert len(created) == JOBS
    return poison_id, private_queue


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


class ChaosMonkey:
    """Kills worker processes of the cluster it started, and the whole cluster now and then."""

    def __init__(self, start_cluster, log, poison_id):
        self.start_cluster = start_cluster
        self.log = log
        self.poison_id = poison_id
        self.cluster = start_cluster()
        self.started_at = time.monotonic()
        self.kills = self.cluster_kills = self.restarts = self.stall_restarts = 0
        self.awaiting = []  # (time of the kill, kind, {row id: claim token it held then})
        self.recoveries = []  # (seconds from a kill to the re-claim, kind), one per job it held

    def worker_pids(self):
        """Live worker processes of the current cluster: django-q2 logs each one it
        starts ("ready for work at <pid>"); the monitor and pusher log differently."""
        ours = set(descendants(self.cluster.proc.pid))
        logged = {int(pid) for pid in WORKER_STARTED.findall(self.log.read_text(errors="replace"))}
        return [pid for pid in sorted(logged & ours) if is_alive(pid)]

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

    def killed(self, rows, kind="worker"):
        """Start the recovery clocks of the (innocent) jobs a dead worker held."""
        tokens = {r.pk: r.worker for r in rows if r.pk != self.poison_id}
        if tokens:
            self.awaiting.append((time.monotonic(), kind, tokens))

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

    def strike(self):
        held = self.claims()
        # Every fifth kill takes the whole cluster down, as soon as no spared job is held.
        cluster_due = self.cluster_kills < (self.kills + 1) // CLUSTER_KILL_EVERY
        if cluster_due and not any(self.spared(rows, poison=False) for rows in held.values()):
            self.cluster.kill()
            self.cluster_kills += 1
            self.kills += 1
            time.sleep(1)
            self.cluster = self.start_cluster()
            self.started_at = time.monotonic()
            self.killed([row for rows in held.values() for row in rows], kind="cluster")
            return
        workers = [pid for pid in self.worker_pids() if not self.spared(held.get(pid, []))]
        busy = [pid for pid in workers if pid in held]
        if busy or workers:
            victim = chance.choice(busy or workers)
            os.kill(victim, signal.SIGKILL)
            self.killed(held.get(victim, []))
            self.kills += 1

    def keep_alive(self):
        """A supervisor's job: start the cluster again if it died on its own, or if
        ``manage.py stylestore_health``'s signal says it is stuck (``state.stalled``: a
        worker killed while waiting for a task can leave django-q2's queue locked)."""
        if self.cluster.proc.poll() is not None:
            self.cluster.log.close()
            self.cluster = self.start_cluster()
            self.started_at = time.monotonic()
            self.restarts += 1
        elif time.monotonic() - self.started_at > STALL_SECONDS and state.stalled(STALL_SECONDS):
            self.cluster.kill()
            self.cluster = self.start_cluster()
            self.started_at = time.monotonic()
            self.stall_restarts += 1


def unfinished():
    return StylizedImage.objects.filter(status__in=[Status.PENDING, Status.RUNNING]).count()


def test_chaos(chaos_jobs, media_root, tmp_path):
    poison_id, queue_env = chaos_jobs
    print(f"chaos seed {SEED}: replay with CHAOS_SEED={SEED}")  # shown by pytest on failure
    env = {**queue_env, "Q_TIMEOUT": str(TIMEOUT), "Q_RETRY": str(RETRY), "STYLESTORE_DEVICE": "cpu"}
    log = tmp_path / "cluster.log"
    monkey = ChaosMonkey(lambda: Worker(media_root, log, workers=2, extra_env=env), log, poison_id)
    redis = Redis(django_settings.Q_CLUSTER["redis"]) if uses_redis() else None
    broker_errors = (redis_client.exceptions.ConnectionError,) if redis else ()
    started = time.monotonic()
    next_kill = started + chance.uniform(*KILL_EVERY)
    next_sweep = started + SWEEP_EVERY
    redis_restarted = False
    sweeps = {"dead": 0, "revived": 0, "requeued": 0, "failed_during_outage": 0}
    try:
        while unfinished():
            now = time.monotonic()
            assert now - started < DEADLINE, f"{unfinished()} jobs unfinished after {DEADLINE} s"
            if now >= next_sweep:
                try:
                    for key, value in sweeper.sweep(pending_grace_seconds=PENDING_GRACE).items():
                        sweeps[key] = sweeps.get(key, 0) + value
                except broker_errors:
                    sweeps["failed_during_outage"] += 1  # the schedule runs again next time
                next_sweep = now + SWEEP_EVERY
            chaos = now - started < CHAOS_SECONDS and monkey.kills < MIN_KILLS
            if chaos and now >= next_kill:
                monkey.strike()
                next_kill = now + chance.uniform(*KILL_EVERY)
            if redis and not redis_restarted and now - started >= REDIS_RESTART_AFTER:
                redis.restart()
                redis_restarted = True
            monkey.keep_alive()
            monkey.watch_recovery()
            time.sleep(0.5)
        monkey.watch_recovery()  # jobs finished since the last look
    finally:
        monkey.cluster.stop()
    elapsed = time.monotonic() - started
    summary = {"seconds": round(elapsed), "kills": monkey.kills, "cluster_kills": monkey.cluster_kills,
               "unprompted_restarts": monkey.restarts, "stall_restarts": monkey.stall_restarts,
               "redis_restarted": redis_restarted, "lease": stylestore_settings.LEASE_SECONDS,
               "recoveries": len(monkey.recoveries), "recovery_seconds": {
                   kind: sorted(round(seconds, 1) for seconds, of in monkey.recoveries if of == kind)
                   for kind in ("worker", "cluster")}, **sweeps}
    print("chaos summary:", summary)  # shown with -s, and on failure

    rows = list(StylizedImage.objects.all())
    poison = next(r for r in rows if r.pk == poison_id)
    innocent = [r for r in rows if r.pk != poison_id]
    # Nothing lost: every job accounted for, the poison dead after at most 3 executions.
    assert len(innocent) == JOBS
    assert poison.status == Status.DEAD and poison.attempts <= stylestore_settings.MAX_ATTEMPTS, (
        poison.status, poison.attempts, poison.last_error)
    not_ready = {r.pk: (r.status, r.attempts, r.last_error) for r in innocent if r.status != Status.READY}
    assert not not_ready, not_ready
    assert all(r.attempts <= stylestore_settings.MAX_ATTEMPTS for r in innocent)
    # The chaos happened.
    assert monkey.kills >= 8 and monkey.cluster_kills >= 1
    assert not redis or redis_restarted
    # Every killed worker's jobs were back in work within a minute, long before a full lease.
    assert len(monkey.recoveries) >= 4 and not monkey.awaiting, (monkey.recoveries, monkey.awaiting)
    assert max(seconds for seconds, _kind in monkey.recoveries) <= RECOVERY_GOAL, summary["recovery_seconds"]
    # Exactly one output per job: one file per row, no duplicate rows, nothing else.
    keys = [(r.source_id, r.style_id, r.source_hash, r.params_hash) for r in rows]
    assert len(keys) == len(set(keys))
    names = [r.file.name for r in innocent]
    assert len(set(names)) == JOBS and not poison.file
    files.remove_partial_files(max_age_seconds=0)
    base = media_root / stylestore_settings.UPLOAD_TO
    on_disk = {str(p.relative_to(media_root)) for p in base.rglob("*") if p.is_file()}
    assert on_disk == set(names)
    for row in innocent:
        with Image.open(io.BytesIO(variant_storage().open(row.file.name).read())) as image:
            image.load()
            assert image.size == (row.width, row.height) and max(image.size) <= 256
