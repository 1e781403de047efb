"""django-q2 entry points. Thin on purpose: the logic lives in ``jobs`` and ``rendering``.

Workers import this module after django-q2 has forked them, so the engine (and CUDA)
is first touched inside the worker process, never in the parent cluster process.
"""
from django_q.tasks import async_task

from . import jobs
from .conf import stylestore_settings


def render_variants(ids):
    """Claim and render the given variant rows. A second delivery claims nothing."""
    rows = jobs.claim(ids)
    if not rows:
        return {"claimed": 0}
    from .rendering import render_rows

    return render_rows(rows)


def sweep():
    return jobs.sweep()


def compute_embeddings(source_ids):
    from .rendering import compute_source_embeddings

    return compute_source_embeddings(source_ids)


def enqueue_embeddings(source_ids):
    options = {"cluster": stylestore_settings.TASK_CLUSTER} if stylestore_settings.TASK_CLUSTER else {}
    if source_ids:
        async_task("stylestore.tasks.compute_embeddings", list(source_ids), group="stylestore", **options)
