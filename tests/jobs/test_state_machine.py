"""The job rules that keep work from being lost or duplicated, without rendering."""
import subprocess
import sys
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.models import OrmQ

from stylestore.models import StylizedImage
from stylestore.variants import requests, state, sweeper

pytestmark = pytest.mark.django_db(transaction=True)
Status = StylizedImage.Status


def test_request_creates_rows_once_and_reuses_them(sources, styles):
    srcs = sources(3)
    first = requests.request_variants(srcs, styles, requests.RenderRequest(max_side=200))
    assert len(first.created) == 6 and not first.reused
    again = requests.request_variants(srcs, styles, requests.RenderRequest(max_side=200))
    assert not again.created and sorted(again.reused) == sorted(first.created)
    assert StylizedImage.objects.count() == 6
    # Size requests snap to the configured buckets.
    assert set(StylizedImage.objects.values_list("max_side", flat=True)) == {256}


def test_requests_are_enqueued_after_commit_with_ids(sources, styles, settings):
    if "redis" in settings.Q_CLUSTER:
        pytest.skip("counts ORM broker rows")
    srcs = sources(2)
    before = OrmQ.objects.count()
    requests.request_variants(srcs, styles[:1])
    assert OrmQ.objects.count() == before + 1  # one batch task for the style's two rows


def test_a_second_delivery_claims_nothing(sources, styles):
    ids = requests.request_variants(sources(2), styles[:1]).created
    won = state.claim(ids)
    assert {r.pk for r in won} == set(ids)
    assert state.claim(ids) == []
    assert all(r.attempts == 1 and r.status == Status.RUNNING for r in StylizedImage.objects.all())


def test_finish_needs_the_claim_token(sources, styles):
    (pk,) = requests.request_variants(sources(1), styles[:1]).created
    (row,) = state.claim([pk])
    stale = StylizedImage.objects.get(pk=pk)
    stale.worker = "someone-else"
    assert not state.finish(stale, name="x.webp", width=1, height=1, size=1, metrics={}, timings={})
    assert state.finish(row, name="x.webp", width=1, height=1, size=1, metrics={}, timings={})
    assert StylizedImage.objects.get(pk=pk).status == Status.READY


def test_failures_back_off_then_fail(sources, styles, settings):
    settings.STYLESTORE = {**settings.STYLESTORE, "MAX_ATTEMPTS": 2}
    (pk,) = requests.request_variants(sources(1), styles[:1]).created
    (row,) = state.claim([pk])
    state.fail(row, "boom", retry=True)
    row = StylizedImage.objects.get(pk=pk)
    assert row.status == Status.PENDING and row.not_before > timezone.now()
    assert state.claim([pk]) == []  # still backing off
    StylizedImage.objects.filter(pk=pk).update(not_before=timezone.now() - timedelta(seconds=1))
    (row,) = state.claim([pk])
    state.fail(row, "boom again", retry=True)
    row = StylizedImage.objects.get(pk=pk)
    assert row.status == Status.FAILED and row.last_error == "boom again" and row.attempts == 2


def test_refused_input_fails_at_once_and_infrastructure_errors_keep_attempts(sources, styles):
    a, b = requests.request_variants(sources(2), styles[:1]).created
    claimed = {row.pk: row for row in state.claim([a, b])}
    ra, rb = claimed[a], claimed[b]
    state.fail(ra, "not an image", retry=False)
    state.fail(rb, "weights missing", retry=True, burn_attempt=False)
    assert StylizedImage.objects.get(pk=a).status == Status.FAILED
    b_row = StylizedImage.objects.get(pk=b)
    assert b_row.status == Status.PENDING and b_row.attempts == 0


def test_sweeper_revives_expired_leases_and_kills_poison(sources, styles, settings):
    settings.STYLESTORE = {**settings.STYLESTORE, "MAX_ATTEMPTS": 3}
    a, b = requests.request_variants(sources(2), styles[:1]).created
    state.claim([a, b])
    StylizedImage.objects.filter(pk=b).update(attempts=3)
    StylizedImage.objects.update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    summary = sweeper.sweep()
    assert summary["dead"] == 1 and summary["revived"] == 1
    assert StylizedImage.objects.get(pk=a).status == Status.PENDING
    dead = StylizedImage.objects.get(pk=b)
    assert dead.status == Status.DEAD and "died" in dead.last_error
    # Retry gives a dead job a fresh budget.
    assert requests.retry([b]) == [b]
    assert StylizedImage.objects.get(pk=b).status == Status.PENDING


def test_a_dead_worker_of_this_machine_is_seen_before_its_lease_runs_out(sources, styles):
    """Its process is gone: its jobs go back to work at once. A live process's jobs, and
    another machine's (whose processes cannot be seen), wait for their lease."""
    gone, live, elsewhere = requests.request_variants(sources(3), styles[:1]).created
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    state.claim([gone, live, elsewhere])
    StylizedImage.objects.filter(pk=gone).update(worker=f"{state.HOST}:{int(ended.stdout)}:dead0")
    StylizedImage.objects.filter(pk=elsewhere).update(worker=f"other-host:{int(ended.stdout)}:far0")
    assert StylizedImage.objects.get(pk=live).lease_expires_at > timezone.now()  # nobody's lease ran out

    dead_ids, revived = state.reclaim_expired(timezone.now())
    assert (dead_ids, revived) == ([], [gone])
    assert StylizedImage.objects.get(pk=gone).status == Status.PENDING
    assert set(StylizedImage.objects.filter(status=Status.RUNNING).values_list("pk", flat=True)) == {live, elsewhere}


def test_sweeper_resends_lost_pending_tasks(sources, styles, settings):
    (pk,) = requests.request_variants(sources(1), styles[:1]).created
    StylizedImage.objects.filter(pk=pk).update(enqueued_at=timezone.now() - timedelta(hours=1))
    assert sweeper.sweep()["requeued"] == 1
    assert StylizedImage.objects.get(pk=pk).enqueued_at > timezone.now() - timedelta(minutes=1)
    assert sweeper.sweep()["requeued"] == 0  # just re-sent: not lost yet


def test_changing_a_product_photo_makes_variants_stale_and_requeues(make_products, styles, image_bytes,
                                                                    django_capture_on_commit_callbacks):
    from django.core.files.base import ContentFile

    from stylestore.variants.sources import sync_sources

    with django_capture_on_commit_callbacks(execute=True):
        (product,) = make_products(1)
    (source,) = sync_sources([product], "image")
    requests.request_variants([source], styles, requests.RenderRequest(max_side=256))
    old_hash = source.content_hash
    with django_capture_on_commit_callbacks(execute=True):
        product.image.save("new.jpg", ContentFile(image_bytes((80, 80), color=(1, 2, 3))), save=True)
    source.refresh_from_db()
    assert source.content_hash != old_hash
    fresh = StylizedImage.objects.filter(source=source, source_hash=source.content_hash)
    assert fresh.count() == 2 and set(fresh.values_list("max_side", flat=True)) == {256}
    assert not StylizedImage.objects.visible().exists()


def test_auto_apply_styles_follow_new_products(make_products, styles, django_capture_on_commit_callbacks):
    styles[0].auto_apply = True
    styles[0].save()
    with django_capture_on_commit_callbacks(execute=True):
        make_products(2)
    assert StylizedImage.objects.filter(style=styles[0]).count() == 2


def test_a_stuck_cluster_is_told_apart_while_another_machines_cluster_keeps_the_queue_moving(sources, styles):
    _waiting, elsewhere, here = requests.request_variants(sources(3), styles[:1]).created
    long_ago = timezone.now() - timedelta(minutes=10)
    StylizedImage.objects.update(created_at=long_ago)
    # Another machine's worker took a job a moment ago; this machine's did nothing.
    StylizedImage.objects.filter(pk=elsewhere).update(status=Status.RUNNING, worker="other-machine/4026531836:77:ab12",
                                                     started_at=timezone.now())
    assert not state.stalled(60)  # the queue as a whole moves
    assert state.stalled(60, this_machine=True)  # this machine's cluster does not
    err = StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("stylestore_health", "--stalled-after", "60", "--this-machine", stderr=err)
    assert exit_info.value.code == 1 and "this machine's workers" in err.getvalue()
    state.claim([here])  # now a worker here takes one
    assert not state.stalled(60, this_machine=True)
    out = StringIO()
    call_command("stylestore_health", "--stalled-after", "60", "--this-machine", stdout=out)
    assert out.getvalue().strip() == "ok"


def test_stalled_workers_are_told_from_busy_ones_and_the_health_command_says_so(sources, styles):
    a, b = requests.request_variants(sources(2), styles[:1]).created
    assert not state.stalled(60)  # just queued: nothing has waited long yet
    long_ago = timezone.now() - timedelta(minutes=10)
    StylizedImage.objects.update(created_at=long_ago)
    assert state.stalled(60)  # waiting ten minutes, nothing started since
    sweeper.sweep(pending_grace_seconds=0)  # the sweeper re-sends them: still waiting, still stalled
    assert state.stalled(60)
    with pytest.raises(SystemExit) as exit_info:
        call_command("stylestore_health", "--stalled-after", "60", stderr=StringIO())
    assert exit_info.value.code == 1
    state.claim([a])  # a worker took one: progress
    assert not state.stalled(60)
    out = StringIO()
    call_command("stylestore_health", "--stalled-after", "60", stdout=out)
    assert out.getvalue().strip() == "ok"
    StylizedImage.objects.filter(pk=a).update(started_at=long_ago)  # running for ten minutes, nothing else moved
    assert state.stalled(60)
    StylizedImage.objects.update(status=Status.FAILED, finished_at=long_ago)
    assert not state.stalled(60)  # nothing waiting
