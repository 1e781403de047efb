"""What a worker process does between tasks: give back the memory the last one needed.

Connected to django-q2's ``post_execute_in_worker`` (``stylestore.signals``), so it runs
in the worker after every task, whatever the task was. Kept out of ``worker`` because
every process connects its signals, and web processes never import ``worker``.
"""
import sys

from ..engine import memory


def release_memory(**kwargs):
    """Drop the models kept for one task only and hand the free heap back to the kernel,
    so an idle worker holds its live data, not the peak of the largest render it ever
    did (``engine.memory``). A task that never loaded the engine has no model to drop,
    and does not load torch for it."""
    runtime = sys.modules.get("stylestore.engine.runtime")
    if runtime is not None:
        runtime.release_transient()
    memory.release_free_memory()
