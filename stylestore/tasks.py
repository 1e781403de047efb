"""django-q2 entry points. Thin on purpose: the logic lives in ``stylestore.variants``.

Stored schedules and queued tasks name these functions by their dotted path
(``stylestore.tasks.render_variants``...), so they stay here whatever else moves.
Workers import this module after django-q2 has forked them, so the engine (and CUDA)
is first touched inside the worker process, never in the parent cluster process.
"""
from .variants import sweeper, webhook, worker


def render_variants(ids):
    """Claim and render the given variant rows (after any that dead workers left). A
    second delivery claims nothing."""
    return worker.render_task(ids)


def sweep():
    return sweeper.sweep()


def analyse_sources(source_ids):
    return worker.analyse_sources(source_ids)


def render_preview(style_id, source_id, settings=None):
    """The admin's style preview (``stylestore.variants.previews``): web processes never render."""
    return worker.render_preview(style_id, source_id, settings)


def render_swatches(blends):
    """Preset swatches on the reference photo (``stylestore.variants.previews``)."""
    return worker.render_swatches(blends)


def deliver_webhook(body, attempt=1):
    """One delivery attempt of a webhook event (``stylestore.variants.webhook``)."""
    return webhook.deliver(body, attempt)
