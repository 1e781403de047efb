"""Rate counters in Django's cache that hold under concurrency.

DRF's throttles keep a list of request times per client and write it back (read,
modify, write): concurrent requests all read the same list and all pass, so 32
clients got 999 requests through a limit of 300. Here taking from a budget is one
atomic increment of a counter per key and window. The window slides: the previous
fixed window's count is weighed by how much of it still lies within the last
``duration`` seconds, so a burst across a window boundary is not let through twice.
What a refused request would have taken is given back, so hammering does not extend
a block.

The increment is atomic where the cache makes it so: Redis (``SET NX`` then
``INCRBY``), Memcached, the local-memory cache. The file cache's ``incr`` reads and
rewrites a file, so there the whole step runs under a lock file (``filelock``: held
across every process and thread of the machine that share the cache directory), one
of ``LOCK_STRIPES`` picked by key.
"""
import hashlib
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass

from django.core.cache.backends.filebased import FileBasedCache
from filelock import FileLock

LOCK_STRIPES = 64
PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Outcome:
    allowed: bool
    #: Seconds until the amount would fit again (0 when allowed).
    wait: float


def parse_rate(rate: str) -> tuple[int, int]:
    """``"100/hour"`` -> ``(100, 3600)``: DRF's rate format (second, minute, hour, day)."""
    number, period = rate.split("/")
    return int(number), PERIODS[period.strip()[0]]


def take(cache, key: str, limit: int, duration: float, amount: int = 1, now: float | None = None) -> Outcome:
    """Count ``amount`` against ``limit`` per ``duration`` seconds under ``key`` in
    ``cache`` (a backend, e.g. ``caches["default"]``, not the ``cache`` proxy).

    Allowed when the sliding count, this amount included, stays within ``limit``;
    otherwise nothing is counted.
    """
    now = time.time() if now is None else now
    window, into = divmod(now, duration)
    current, previous = f"{key}:{int(window)}", f"{key}:{int(window) - 1}"
    timeout = int(2 * duration) + 1
    with _lock(cache, key):
        count = _add(cache, current, amount, timeout)
        earlier = cache.get(previous, 0) * (1 - into / duration)
        if earlier + count <= limit:
            return Outcome(True, 0.0)
        _add(cache, current, -amount, timeout)
    before = count - amount
    if earlier and before + amount <= limit:
        # Fits once enough of the previous window has slid out of view.
        wait = duration * (1 - (limit - before - amount) / cache.get(previous, 1)) - into
    else:
        wait = duration - into
    return Outcome(False, max(wait, 0.0))


def refund(cache, key: str, duration: float, amount: int = 1):
    """Give back what ``take`` counted (when a later check refuses the request after all)."""
    window = int(time.time() // duration)
    with _lock(cache, key):
        _add(cache, f"{key}:{window}", -amount, int(2 * duration) + 1)


def _add(cache, key, delta, timeout):
    """Add ``delta`` to the counter (created at 0 if missing); returns the new value."""
    if isinstance(cache, FileBasedCache):
        # Under the lock already; its own incr would also reset the expiry to the default.
        value = cache.get(key, 0) + delta
        cache.set(key, value, timeout)
        return value
    cache.add(key, 0, timeout)
    try:
        return cache.incr(key, delta)
    except ValueError:  # expired between add and incr
        cache.add(key, 0, timeout)
        try:
            return cache.incr(key, delta)
        except ValueError:  # a cache that keeps nothing (DummyCache) counts nothing, as DRF's throttles
            return delta


def _lock(cache, key):
    if not isinstance(cache, FileBasedCache):
        return nullcontext()
    stripe = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=4).digest(), "big") % LOCK_STRIPES
    os.makedirs(cache._dir, exist_ok=True)
    return FileLock(os.path.join(cache._dir, f"stylestore-ratelimit-{stripe}.lock"))
