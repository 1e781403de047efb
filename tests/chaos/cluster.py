"""Helpers for tests that run real ``qcluster`` processes: a private task queue and
the cluster's process tree.

A private queue (``STYLESTORE["TASK_CLUSTER"]`` in the test process, the same name as
the worker's django-q2 ``cluster_name``, see ``worker_settings``) keeps a test's tasks
away from any other cluster that shares the broker (another test run on the same
Redis), and theirs away from it.
"""
import os
import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings


def private_queue_name() -> str:
    return f"stylestore-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def private_queue(settings):
    """Route this test's stylization tasks to a queue of its own.

    Returns the environment a worker needs to serve that queue. The queue is purged
    afterwards (a Redis list would otherwise outlive the test).
    """
    from django_q.brokers import get_broker

    name = private_queue_name()
    settings.STYLESTORE = {**django_settings.STYLESTORE, "TASK_CLUSTER": name}
    yield {"DJANGO_SETTINGS_MODULE": "tests.chaos.worker_settings", "STYLESTORE_TEST_QUEUE": name}
    get_broker(name).purge_queue()


def uses_redis() -> bool:
    return "redis" in django_settings.Q_CLUSTER


def _parent_pid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    return int(stat.rsplit(")", 1)[1].split()[1])


def descendants(root: int) -> list[int]:
    """Every live process below ``root`` (Linux ``/proc``), children before grandchildren."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            parent = _parent_pid(int(entry))
            if parent is not None:
                children.setdefault(parent, []).append(int(entry))
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop(0)
        for child in sorted(children.get(pid, [])):
            found.append(child)
            frontier.append(child)
    return found


def is_alive(pid: int) -> bool:
    """True for a running process; a zombie (killed, not yet reaped) counts as gone."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"
