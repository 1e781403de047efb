"""Values computed from the database and kept per process: the population model, the
embedding tables, the markup of the style picker.

Each process keeps its own copy for a short time rather than asking the database on
every page; ``clearcaches`` (connected in ``stylestore.signals`` to saving or deleting
a style and to changed settings) makes an admin's change show at once in the process
that made it, and the others follow within ``EMBEDDINGS_TTL``.
"""
import threading
import time

#: Style and product-photo embedding tables are rebuilt this often (per process).
EMBEDDINGS_TTL = 60


class TTLCache:
    """A few values computed from the database, kept per process for ``ttl`` seconds.

    Concurrent misses may compute a value twice; that is cheaper than a lock held
    across a query. Expired entries are dropped whenever a value is stored, so keys
    that embed a time (the global model's hour) do not pile up.
    """

    def __init__(self):
        self._values = {}
        self._lock = threading.Lock()

    def get(self, key, ttl, compute):
        now = time.monotonic()
        entry = self._values.get(key)
        if entry is not None and entry[0] > now:
            return entry[1]
        value = compute()
        with self._lock:
            self._values = {k: v for k, v in self._values.items() if v[0] > now}
            self._values[key] = (now + ttl, value)
        return value

    def clear(self):
        with self._lock:
            self._values.clear()


#: The model, embedding tables and parameters.
cache = TTLCache()


#: Markup the template tags render the same way for many requests (the style picker's
#: options), keyed by everything it is made of.
fragments = TTLCache()


def clear_caches(**kwargs):
    """Forget the cached model, embeddings and markup: after a style was saved or
    deleted, or a setting changed (URLs, storage, policy parameters)."""
    cache.clear()
    fragments.clear()
