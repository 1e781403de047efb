"""Rate limits hold under concurrency: 32 clients hammer a throttled endpoint of a
real (threaded) server at once, and the requests let through stay within 10% of the
limit, on the file cache and on Redis (the two shared caches the demo uses)."""
import os
import threading
import urllib.error
import urllib.request
import uuid
from collections import Counter

import pytest
from django.core.cache import caches

from stylestore import ratelimit

pytestmark = pytest.mark.django_db(transaction=True)

CLIENTS = 32
EACH = 10
# Per hour, so the window hardly slides during the burst: what gets through is the limit.
LIMIT = 100


@pytest.fixture(params=["file", "redis"])
def shared_cache(request, settings, tmp_path):
    if request.param == "file":
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                                       "LOCATION": str(tmp_path / "cache")}}
    else:
        url = os.environ.get("REDIS_URL")
        if not url:
            pytest.skip("REDIS_URL is not set")
        # A key prefix of its own: other runs may share the server.
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                       "LOCATION": url, "KEY_PREFIX": f"throttle-test-{uuid.uuid4().hex}"}}
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "stylestore_anon": f"{LIMIT}/hour"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates, "NUM_PROXIES": 0}
    yield request.param
    caches["default"].clear()


def hammer(url):
    codes = Counter()
    barrier = threading.Barrier(CLIENTS)

    def client():
        barrier.wait()
        for _ in range(EACH):
            try:
                with urllib.request.urlopen(url, timeout=60) as response:
                    codes[response.status] += 1
            except urllib.error.HTTPError as exc:
                codes[exc.code] += 1

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return codes


def test_the_anonymous_limit_holds_under_32_concurrent_clients(live_server, shared_cache):
    codes = hammer(f"{live_server.url}/api/v1/styles/")
    print(f"{shared_cache}: {codes[200]} of {CLIENTS * EACH} through against {LIMIT}")
    assert set(codes) <= {200, 429} and sum(codes.values()) == CLIENTS * EACH
    assert abs(codes[200] - LIMIT) <= LIMIT // 10, codes


def test_the_window_slides_and_refused_requests_are_not_counted(settings, tmp_path):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                                   "LOCATION": str(tmp_path / "cache")}}
    cache, start = caches["default"], 6000.0  # the start of a window of 60 s
    assert all(ratelimit.take(cache, "k", 10, 60, now=start + 1).allowed for _ in range(10))
    refused = ratelimit.take(cache, "k", 10, 60, now=start + 2)
    assert not refused.allowed and refused.wait == pytest.approx(58)
    for _ in range(100):  # hammering while blocked counts nothing
        ratelimit.take(cache, "k", 10, 60, now=start + 3)
    # Just after the boundary the previous window still weighs ~10: still blocked.
    assert not ratelimit.take(cache, "k", 10, 60, now=start + 61).allowed
    # Half a window on, half of it has slid out of view: 5 more fit, not 6.
    assert sum(ratelimit.take(cache, "k", 10, 60, now=start + 90).allowed for _ in range(6)) == 5
