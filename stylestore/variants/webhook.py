"""The optional signed webhook (``STYLESTORE["WEBHOOK_URL"]``): a JSON POST per event,
for shops that automate (a CDN purge, a message to the team...).

Receivers of ``signals.variant_ready`` and ``signals.batch_finished`` (connected in
``stylestore.signals``) only queue a ``deliver_webhook`` task: the worker that rendered
never waits on the shop's server. ``deliver`` posts the body once; a failure (no 2xx
answer within ``WEBHOOK_TIMEOUT``) queues the next attempt after a backoff that doubles
each time, up to ``WEBHOOK_MAX_ATTEMPTS`` deliveries in all.

The body is signed as ``X-Stylestore-Signature: t=<unix time>,v1=<hex>`` with
``v1 = HMAC-SHA256(WEBHOOK_SECRET, "<t>.<body>")``; each attempt signs afresh. The
event's ``id`` stays the same across attempts: receivers deduplicate on it.
"""
import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
import uuid

from django.conf import settings
from django.utils import timezone, translation

from .. import moments
from ..conf import stylestore_settings
from . import queue

logger = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Stylestore-Signature"
VARIANT_READY, BATCH_FINISHED = "variant.ready", "batch.finished"
EVENTS = (BATCH_FINISHED, VARIANT_READY)


def sign(body: bytes, timestamp: int, secret: str) -> str:
    """The signature header's value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(body: bytes, header: str, secret: str, *, tolerance: int = 300, now: float | None = None) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` and is at most ``tolerance``
    seconds old: what a receiver (written in Python) checks."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(body, timestamp, secret), f"t={timestamp},v1={fields.get('v1', '')}")


def wanted(event: str) -> bool:
    return bool(stylestore_settings.WEBHOOK_URL) and event in stylestore_settings.WEBHOOK_EVENTS


def queue_event(event: str, data: dict):
    """Queue the delivery of one event (the body is fixed now, with its id)."""
    created = moments.rfc3339(timezone.now())
    body = json.dumps({"id": uuid.uuid4().hex, "event": event, "created": created, "data": data}, sort_keys=True)
    queue.send("deliver_webhook", body, 1, task_name=f"stylestore-webhook-{event}")


def variant_data(variant) -> dict:
    return {
        "id": variant.pk, "status": variant.status, "review": variant.review,
        "source": variant.source.reference, "field": variant.source.field_name, "style": variant.style.slug, "size": variant.max_side,
        "format": variant.output_format, "url": variant.file.url if variant.file else None,
        "width": variant.width, "height": variant.height,
    }


def on_variant_ready(sender, variant, **kwargs):
    if wanted(VARIANT_READY):
        queue_event(VARIANT_READY, {"variant": variant_data(variant)})


def on_batch_finished(sender, batch, counts, **kwargs):
    if wanted(BATCH_FINISHED):
        # In the site's language, whoever's request (a cancel) or worker finished it.
        with translation.override(settings.LANGUAGE_CODE):
            description = batch.description
        queue_event(BATCH_FINISHED, {"batch": {
            "id": batch.pk, "description": description, "origin": batch.origin,
            "created_at": moments.rfc3339(batch.created_at), "finished_at": moments.rfc3339(batch.finished_at),
            "cancelled": batch.cancelled_at is not None, "dropped": batch.dropped, "counts": counts,
        }})


def deliver(body: str, attempt: int = 1) -> dict:
    """POST ``body`` to the webhook URL; on failure queue the next attempt (if any is
    left). Never raises: the outcome is the task's result."""
    url, secret = stylestore_settings.WEBHOOK_URL, stylestore_settings.WEBHOOK_SECRET
    if not url:
        return {"delivered": False, "reason": "no WEBHOOK_URL"}
    data = body.encode()
    request = urllib.request.Request(url, data=data, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "Stylestore-Webhook/1",
        SIGNATURE_HEADER: sign(data, int(time.time()), secret),
    })
    try:
        with urllib.request.urlopen(request, timeout=stylestore_settings.WEBHOOK_TIMEOUT) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status, error = exc.code, f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:  # refused, timed out, DNS, a malformed URL
        status, error = None, f"{type(exc).__name__}: {exc}"
    if status is not None and 200 <= status < 300:
        return {"delivered": True, "attempt": attempt, "status": status}
    if attempt >= stylestore_settings.WEBHOOK_MAX_ATTEMPTS:
        logger.error("webhook to %s failed for good after %d attempts: %s", url, attempt, error)
        return {"delivered": False, "attempt": attempt, "error": error, "retry_in": None}
    backoff = stylestore_settings.WEBHOOK_BACKOFF_SECONDS * 2 ** (attempt - 1)
    logger.warning("webhook to %s failed (attempt %d: %s); retrying in %s s", url, attempt, error, backoff)
    queue.send_later("deliver_webhook", body, attempt + 1, seconds=backoff)
    return {"delivered": False, "attempt": attempt, "error": error, "retry_in": backoff}
