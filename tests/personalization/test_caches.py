"""The per-process caches (``personalization.caches.TTLCache``): values expire, and
expired ones are dropped without a store costing more as the cache grows."""
import pytest

from stylestore.personalization import caches


@pytest.fixture
def clock(monkeypatch):
    """A monotonic clock the test moves: ``clock[0]`` seconds."""
    now = [1000.0]
    monkeypatch.setattr(caches.time, "monotonic", lambda: now[0])
    return now


def test_a_value_is_computed_again_once_it_expires(clock):
    cache, computed = caches.TTLCache(), []
    for _ in range(2):
        assert cache.get("k", 10, lambda: computed.append(1) or len(computed)) == 1
    clock[0] += 11
    assert cache.get("k", 10, lambda: computed.append(1) or len(computed)) == 2


def test_expired_entries_do_not_pile_up(clock):
    cache = caches.TTLCache()
    # A busy process: a new key every 0.1 s (a product seen for the first time), each kept 60 s.
    for n in range(20_000):
        clock[0] += 0.1
        cache.get(("product", n), 60, lambda: n)
        # Never more than twice the live entries (600) or the sweep's floor.
        assert len(cache._values) <= max(2 * 601, cache.MIN_SWEEP) + 1
    assert cache.get(("product", 19_999), 60, lambda: "again") == 19_999


def test_values_kept_by_refresh_survive_a_sweep(clock):
    cache = caches.TTLCache()
    assert cache.refresh("index", 5, lambda previous: ["read"]) == ["read"]
    for n in range(3 * cache.MIN_SWEEP):
        clock[0] += 1
        cache.get(n, 1, lambda: n)
    # Expired, but still there to be brought up to date rather than read again.
    assert cache.refresh("index", 5, lambda previous: previous + ["updated"]) == ["read", "updated"]


def test_get_many_computes_only_the_missing_keys_in_one_call(clock):
    cache, calls = caches.TTLCache(), []

    def load(keys):
        calls.append(sorted(keys))
        return {key: key * 2 for key in keys if key != 3}

    assert cache.get_many([1, 2, 3], 10, load) == {1: 2, 2: 4, 3: None}
    assert cache.get_many([2, 3, 4], 10, load) == {2: 4, 3: None, 4: 8}
    assert calls == [[1, 2, 3], [4]]
