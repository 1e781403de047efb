"""After every task a worker gives back the memory that task needed (``variants.idle``)."""
import torch
from django_q.signals import post_execute_in_worker

from stylestore import tasks
from stylestore.engine import runtime

CPU = runtime.pick_device("cpu", "exact")


def test_a_worker_drops_one_task_models_after_each_task():
    model = runtime.cached("test-one-task", CPU, lambda: torch.nn.Conv2d(3, 4, 3), keep=False)
    # what django-q2's worker sends once a task has returned (connected in AppConfig.ready)
    post_execute_in_worker.send(sender="django_q", func=tasks.render_variants, task={})
    assert runtime.cached("test-one-task", CPU, lambda: torch.nn.Conv2d(3, 4, 3), keep=False) is not model
    runtime.release_transient()
