"""Fixtures for job tests: products with small generated photos, styles, and real
django-q2 worker processes sharing the test database, media and broker."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.db import connection

from shop.models import Category, Product
from stylestore.models import Style
from stylestore.variants.sources import sync_sources
from tests.conftest import make_image_bytes

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def make_products(db):
    def make(n, size=(96, 64)):
        category, _ = Category.objects.get_or_create(slug="c", defaults={"name": "C"})
        products = []
        for i in range(n):
            p = Product(name=f"P{i}", slug=f"p{i}", category=category, price="1.00")
            # Distinct colours give distinct content hashes.
            p.image.save(f"p{i}.jpg", ContentFile(make_image_bytes(size, color=(i * 37 % 256, 90, 200 - i))), save=True)
            products.append(p)
        return products

    return make


@pytest.fixture
def styles(db):
    preset = Style.objects.create(name="Ink", slug="ink", kind=Style.Kind.PRESET, preset_weights={"3": 1})
    painting = Style(name="Wave", slug="wave", kind=Style.Kind.IMAGE)
    painting.image.save("wave.jpg", ContentFile(make_image_bytes((128, 128), color=(20, 60, 160))), save=True)
    return [preset, painting]


@pytest.fixture
def sources(make_products):
    def make(n, size=(96, 64)):
        return sync_sources(make_products(n, size), "image")

    return make


def database_url():
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class Worker:
    """A real ``manage.py qcluster`` in its own process group, killable with SIGKILL."""

    def __init__(self, media_root, log_path, workers=2, extra_env=None):
        env = {**os.environ, "DATABASE_URL": database_url(), "SHOP_MEDIA_ROOT": str(media_root),
               "Q_WORKERS": str(workers), "DJANGO_SETTINGS_MODULE": "shop.settings", **(extra_env or {})}
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self):
        """SIGKILL the whole cluster: parent, sentinel and every worker, mid-task."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)
        self.log.close()

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
                return
        self.log.close()


@pytest.fixture
def start_worker(media_root, tmp_path):
    started = []

    def start(**kwargs):
        w = Worker(media_root, tmp_path / "worker.log", **kwargs)
        started.append(w)
        return w

    yield start
    for w in started:
        if w.proc.poll() is None:
            w.kill()


def wait_until(predicate, timeout=120, interval=0.25, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")
