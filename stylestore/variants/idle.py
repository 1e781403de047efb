"""What a worker process does between tasks: give back the memory its tasks needed,
once it has nothing to do.

``task_finished`` is connected to django-q2's ``post_execute_in_worker`` and
``task_started`` to ``pre_execute`` (``stylestore.signals``), so they run in the worker
around every task, whatever the task was. Kept out of ``worker`` because every process
connects its signals, and web processes never import ``worker``.

Why wait: handing the heap back after every task cost a worker fed back to back 4-5%
more CPU time (``bench/jobs.py``, three paired runs), each task faulting its working
memory in again. A worker whose next task is already waiting keeps its heap warm; one
that waits ``IDLE_SECONDS`` for work gives it back, so an idle worker holds its live
data, not the peak of the largest render it ever did.
"""
import sys
import threading

from ..engine import memory

#: Seconds without a task before a worker gives its memory back: longer than django-q2
#: takes to hand a waiting task to a worker that just finished one.
IDLE_SECONDS = 2.0

_lock = threading.Lock()
_pending = None


def release_memory():
    """Drop the models kept for one task only and the pages of GPU libraries a CPU
    worker never runs, and hand the free heap back to the kernel (``engine.memory``). A
    process that never loaded the engine has no model to drop, and does not load torch
    for it."""
    runtime = sys.modules.get("stylestore.engine.runtime")
    if runtime is not None:
        runtime.release_transient()
        runtime.release_gpu_library_pages()
    memory.release_free_memory()


def task_started(**kwargs):
    """The heap is about to be used again: cancel a release not yet begun."""
    global _pending
    with _lock:
        if _pending is not None:
            _pending.cancel()
            _pending = None


def task_finished(**kwargs):
    """Give the memory back once the worker has been idle ``IDLE_SECONDS``."""
    global _pending
    with _lock:
        if _pending is not None:
            _pending.cancel()
        _pending = threading.Timer(IDLE_SECONDS, release_memory)
        _pending.daemon = True  # never keeps a stopping worker alive
        _pending.start()
