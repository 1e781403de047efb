"""The signed webhook, against a real HTTP receiver on loopback: it answers 500 to the
first delivery and 200 after, so the retry is seen; each request's signature is checked
the way a shop's receiver would check it."""
import ast
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.utils import translation
from django_q.conf import Conf
from django_q.models import Schedule

from shop.models import Product
from stylestore import tasks
from stylestore.models import Batch
from stylestore.variants import batches, requests, webhook

pytestmark = pytest.mark.django_db

SECRET = "test-webhook-secret"


class Receiver:
    """An ``http.server`` in a thread on 127.0.0.1: answers each POST with the next
    status of ``statuses`` (the last one repeats) and keeps what it got."""

    def __init__(self, statuses):
        self.statuses, self.received = list(statuses), []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/stylestore"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def start(*statuses):
        made.append(Receiver(statuses))
        return made[-1]

    yield start
    for r in made:
        r.close()


@pytest.fixture
def webhook_settings(settings):
    def configure(url, events=("batch.finished",)):
        settings.STYLESTORE = {**getattr(settings, "STYLESTORE", {}), "WEBHOOK_URL": url, "WEBHOOK_SECRET": SECRET,
                               "WEBHOOK_EVENTS": list(events), "WEBHOOK_BACKOFF_SECONDS": 30}

    return configure


@pytest.fixture
def sync_tasks(monkeypatch):
    # django-q2 reads Q_CLUSTER once at import: sync mode is switched on its Conf.
    monkeypatch.setattr(Conf, "SYNC", True)


def render_a_batch(sources, styles, capture):
    """Two sources in one style: requested as a batch, then rendered by the worker's
    entry point; the batch finishes and its signal goes out after commit."""
    result = requests.request_variants(sources(2), [styles[0]], requests.RenderRequest(max_side=256), enqueue=False)
    batch = batches.record(result, [styles[0]], {Product: 2})
    with capture(execute=True):
        outcome = tasks.render_variants(result.ids)
    assert outcome["ready"] == 2, outcome
    return Batch.objects.get(pk=batch.pk)


def test_batch_finished_is_posted_signed_and_retried_after_a_failure(
        receiver, webhook_settings, sync_tasks, sources, styles, django_capture_on_commit_callbacks):
    hook = receiver(500, 200)
    webhook_settings(hook.url)
    with translation.override("fr"):  # the payload is in the site's language, whoever finished the batch
        batch = render_a_batch(sources, styles, django_capture_on_commit_callbacks)

    # The first delivery got a 500: the next attempt is scheduled after the backoff, not made now.
    assert len(hook.received) == 1
    retry = Schedule.objects.get(func="stylestore.tasks.deliver_webhook")
    body, attempt = ast.literal_eval(retry.args)  # django-q2 stores the arguments' repr, and reads them so
    assert attempt == 2 and retry.schedule_type == Schedule.ONCE and retry.repeats == -1
    assert 25 <= (retry.next_run - batch.finished_at).total_seconds() <= 60

    # The scheduled attempt, run as django-q2 would run it, is delivered.
    assert tasks.deliver_webhook(body, attempt) == {"delivered": True, "attempt": 2, "status": 200}
    assert len(hook.received) == 2
    for headers, raw in hook.received:
        assert headers["Content-Type"] == "application/json"
        assert webhook.verify(raw, headers[webhook.SIGNATURE_HEADER], SECRET)
        assert not webhook.verify(raw + b" ", headers[webhook.SIGNATURE_HEADER], SECRET)  # tampered body
        assert not webhook.verify(raw, headers[webhook.SIGNATURE_HEADER], "another secret")
    first, second = (json.loads(raw) for _headers, raw in hook.received)
    assert first == second  # the same event (same id) each attempt: receivers deduplicate on it
    assert first["event"] == "batch.finished"
    assert first["data"]["batch"]["id"] == batch.pk and first["data"]["batch"]["cancelled"] is False
    assert first["data"]["batch"]["description"] == f"{styles[0].name} on 2 products"
    assert first["data"]["batch"]["counts"] == {**batches.EMPTY_COUNTS, "total": 2, "ready": 2}


def test_old_signatures_are_refused(receiver):
    body = b'{"event": "batch.finished"}'
    header = webhook.sign(body, 1_000_000, SECRET)
    assert webhook.verify(body, header, SECRET, now=1_000_100)
    assert not webhook.verify(body, header, SECRET, now=1_000_000 + 301)
    assert not webhook.verify(body, "t=x,v1=0", SECRET) and not webhook.verify(body, "", SECRET)


def test_variant_ready_is_posted_per_variant(receiver, webhook_settings, sync_tasks, sources, styles,
                                             django_capture_on_commit_callbacks):
    hook = receiver(204)
    webhook_settings(hook.url, events=("variant.ready",))
    batch = render_a_batch(sources, styles, django_capture_on_commit_callbacks)
    events = [json.loads(raw) for _headers, raw in hook.received]
    assert [event["event"] for event in events] == ["variant.ready", "variant.ready"]
    assert {event["data"]["variant"]["id"] for event in events} == set(batch.variants.values_list("pk", flat=True))
    assert all(event["data"]["variant"]["url"].endswith(".webp") for event in events)
    assert not Schedule.objects.filter(func="stylestore.tasks.deliver_webhook").exists()


def test_gives_up_after_the_last_attempt(receiver, webhook_settings, settings):
    hook = receiver(500)
    webhook_settings(hook.url)
    settings.STYLESTORE = {**settings.STYLESTORE, "WEBHOOK_MAX_ATTEMPTS": 2}
    outcome = tasks.deliver_webhook('{"event": "batch.finished"}', 2)
    assert outcome == {"delivered": False, "attempt": 2, "error": "HTTP 500", "retry_in": None}
    assert not Schedule.objects.filter(func="stylestore.tasks.deliver_webhook").exists()


def test_an_unreachable_receiver_is_retried_not_raised(webhook_settings):
    webhook_settings("http://127.0.0.1:9/nothing-listens-here")
    outcome = tasks.deliver_webhook('{"event": "batch.finished"}')
    assert outcome["delivered"] is False and outcome["retry_in"] == 30
    assert Schedule.objects.filter(func="stylestore.tasks.deliver_webhook").count() == 1


def test_a_url_without_a_secret_is_a_configuration_error(settings):
    settings.STYLESTORE = {**getattr(settings, "STYLESTORE", {}), "WEBHOOK_URL": "https://example.com/hook"}
    with pytest.raises(SystemCheckError, match="stylestore.E009"):
        call_command("check")


def test_unknown_events_are_a_configuration_error(settings):
    settings.STYLESTORE = {**getattr(settings, "STYLESTORE", {}), "WEBHOOK_EVENTS": ["batch.done"]}
    with pytest.raises(SystemCheckError, match="stylestore.E014"):
        call_command("check")
