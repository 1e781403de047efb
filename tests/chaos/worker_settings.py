"""Settings for ``qcluster`` processes started by tests: the demo shop's, serving a
private queue (``STYLESTORE_TEST_QUEUE``).

django-q2 routes tasks by ``cluster_name`` but signs their payloads with ``name`` (its
``PREFIX``), so a cluster serving another queue of the same site must keep the name
and change only ``cluster_name``; with a different name it would refuse every task as
a bad signature. The worker sends tasks too (a heartbeat re-queues a dead worker's jobs),
so its STYLESTORE["TASK_CLUSTER"] names the private queue as well.
"""
import os

from shop.settings import *  # noqa: F401,F403
from shop.settings import Q_CLUSTER, STYLESTORE

Q_CLUSTER = {**Q_CLUSTER, "cluster_name": os.environ["STYLESTORE_TEST_QUEUE"]}
STYLESTORE = {**STYLESTORE, "TASK_CLUSTER": os.environ["STYLESTORE_TEST_QUEUE"]}
