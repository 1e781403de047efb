"""A worker gives back the memory its tasks needed once it has none to do
(``variants.idle``), and keeps it while tasks come back to back."""
import time

import pytest
import torch
from django_q.signals import post_execute_in_worker, pre_execute

from stylestore import tasks
from stylestore.engine import runtime
from stylestore.variants import idle
from tests.engine.test_memory import resident_mb

CPU = runtime.pick_device("cpu", "exact")


def one_task_model():
    return runtime.cached("test-one-task", CPU, lambda: torch.nn.Conv2d(3, 4, 3), keep=False)


@pytest.fixture
def short_idle(monkeypatch):
    monkeypatch.setattr(idle, "IDLE_SECONDS", 0.2)
    yield
    idle.task_started()  # no release left pending for other tests
    runtime.release_transient()


def finish_task():
    # what django-q2's worker sends once a task has returned (connected in AppConfig.ready)
    post_execute_in_worker.send(sender="django_q", func=tasks.render_variants, task={})


def test_an_idle_worker_drops_one_task_models(short_idle):
    model = one_task_model()
    finish_task()
    assert one_task_model() is model  # not yet idle for long: kept
    time.sleep(0.6)
    assert one_task_model() is not model


def test_a_worker_with_its_next_task_keeps_them(short_idle):
    model = one_task_model()
    finish_task()
    pre_execute.send(sender="django_q", func=tasks.render_variants, task={})  # the next task, at once
    time.sleep(0.6)
    assert one_task_model() is model


def test_an_idle_worker_without_cuda_drops_the_gpu_libraries_pages(short_idle):
    if torch.cuda.is_initialized() or resident_mb(runtime.GPU_ONLY_LIBRARIES)[0] < 1:
        pytest.skip("CUDA is in use, or a CPU build of torch loads no GPU library")
    finish_task()
    time.sleep(0.6)
    resident, dirty = resident_mb(runtime.GPU_ONLY_LIBRARIES)
    assert resident <= dirty + 1
