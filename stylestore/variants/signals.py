"""The signals a shop connects to for automation (a CDN purge, a Slack message...)::

    from stylestore.variants.signals import batch_finished, variant_ready

    @receiver(variant_ready)
    def purge(sender, variant, **kwargs): ...

- ``variant_ready(sender=StylizedImage, variant)``: a variant's file was written and
  its row is ready (sent by the worker that rendered it, once per render). Ready is
  not yet visible: it may wait for review or be held by the quality gate
  (``variant.review``).
- ``batch_finished(sender=Batch, batch, counts)``: nothing of a batch is queued or
  rendering any more, or it was cancelled (``batch.cancelled_at``); ``counts`` as
  ``stylestore.variants.batches.counts`` gives them. Sent once per batch, after commit.

Receivers run in the process that sends (usually a worker, between renders): keep them
quick, or send a task. The optional webhook (``STYLESTORE["WEBHOOK_URL"]``) is such a
receiver: it only queues its delivery.
"""
from django.dispatch import Signal

variant_ready = Signal()
batch_finished = Signal()
