"""Values computed from the database and kept per process: the population model, the
embedding tables, the images' categories, the markup of the style picker.

Each process keeps its own copy for a short time rather than asking the database on
every page; ``clearcaches`` (connected in ``stylestore.signals`` to saving or deleting
a style and to changed settings) makes an admin's change show at once in the process
that made it, and the others follow within ``EMBEDDINGS_TTL``.
"""
import threading
import time

#: Style embedding tables are rebuilt, and product-photo ones brought up to date, this
#: often (per process).
EMBEDDINGS_TTL = 60


class TTLCache:
    """A few values computed from the database, kept per process for ``ttl`` seconds.

    Concurrent misses may compute a value twice; that is cheaper than a lock held
    across a query. Expired entries are dropped when a value is stored into a cache
    that has doubled since it was last swept, so keys that embed a time (the refit
    bucket) do not pile up, and a store costs the same however many entries there are:
    sweeping on every store made each product page new to the process cost in
    proportion to the products seen lately (their pickers' and viewers' entries).
    Values kept with ``refresh`` stay, to be brought up to date rather than computed
    again.
    """

    #: Fewest entries a sweep is put off to.
    MIN_SWEEP = 256

    def __init__(self):
        self._values = {}
        self._lock = threading.Lock()
        self._sweep_at = self.MIN_SWEEP

    def get(self, key, ttl, compute):
        return self._get(key, ttl, lambda previous: compute(), kept=False)

    def get_many(self, keys, ttl, compute_many):
        """``{key: value}`` for ``keys``; those missing or expired are computed by one
        call of ``compute_many(missing keys)``, which returns a dict (a key it leaves
        out is kept as None): one query for a page's worth of keys, not one each."""
        now = time.monotonic()
        entries = {key: self._values.get(key) for key in keys}
        values = {key: entry[1] for key, entry in entries.items() if entry is not None and entry[0] > now}
        missing = [key for key in entries if key not in values]
        if missing:
            found = compute_many(missing)
            for key in missing:
                values[key] = found.get(key)
            self._store({key: (now + ttl, values[key], False) for key in missing}, now)
        return values

    def refresh(self, key, ttl, update):
        """The value of ``key``; once it is ``ttl`` seconds old, ``update(value)``
        brings it up to date (``update(None)`` computes it the first time and after
        ``clear``): for values too large to compute again every ``ttl``."""
        return self._get(key, ttl, update, kept=True)

    def _get(self, key, ttl, update, kept):
        now = time.monotonic()
        entry = self._values.get(key)
        if entry is not None and entry[0] > now:
            return entry[1]
        value = update(entry[1] if entry is not None else None)
        self._store({key: (now + ttl, value, kept)}, now)
        return value

    def _store(self, entries, now):
        """Add ``{key: (expires at, value, kept)}``, first dropping the expired entries
        if the cache has doubled since its last sweep (amortized: see the class)."""
        with self._lock:
            if len(self._values) >= self._sweep_at:
                for key in [key for key, entry in self._values.items() if entry[0] <= now and not entry[2]]:
                    del self._values[key]
                self._sweep_at = max(2 * len(self._values), self.MIN_SWEEP)
            self._values.update(entries)

    def clear(self):
        with self._lock:
            self._values.clear()
            self._sweep_at = self.MIN_SWEEP


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
