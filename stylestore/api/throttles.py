"""Request rate limits for the API.

Two scopes of their own, so a shop can tune the storefront API apart from any other
DRF endpoints it runs::

    REST_FRAMEWORK = {
        "DEFAULT_THROTTLE_RATES": {
            "stylestore_anon": "300/minute",   # per client IP, anonymous requests
            "stylestore_user": "3000/minute",  # per user, token or session
            "stylestore_visitor": "120/minute",  # per visitor key (events, personalized reads)
        },
        # How many proxies sit in front of Django. The anonymous limit is keyed on
        # the client address; with NUM_PROXIES set it is read from X-Forwarded-For,
        # otherwise every visitor behind a load balancer shares one counter.
        "NUM_PROXIES": 1,
    }

A rate of ``None`` switches a scope off. A scope missing from the settings uses the
defaults below, rather than DRF's ``ImproperlyConfigured``: a shop that never heard of
throttling still gets sensible limits.

A storefront that renders server side should authenticate with a token (any active
user; no permission is needed to read), or all its visitors count as one anonymous
client against ``stylestore_anon``.

Counters live in Django's default cache, which must be shared between processes (a
file cache on one machine, Redis or Memcached on several) for the limits to hold
across workers. They are atomic (``stylestore.ratelimit``): unlike DRF's own
throttles, the limits hold under concurrent requests (within 10% with 32 concurrent
clients, on the file cache and on Redis: tests/api/test_throttles.py).
"""
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle

from .. import ratelimit
from ..personalization.identity import get_visitor

# A product grid asks for the variants of each product it shows, so one page view
# can be a few dozen requests: the anonymous default leaves room for fast browsing.
DEFAULT_RATES = {
    "stylestore_anon": "300/minute",
    "stylestore_user": "3000/minute",
    # The events beacon and personalized reads, per visitor key.
    "stylestore_visitor": "120/minute",
}


class StylestoreRateMixin:
    """Every Stylestore throttle: the rate read from the settings on every request
    (falling back to ``DEFAULT_RATES``), counted atomically.

    DRF copies ``DEFAULT_THROTTLE_RATES`` into a class attribute at import time, so
    changed settings (``override_settings`` in tests included) would otherwise be
    ignored.
    """

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope, DEFAULT_RATES[self.scope])

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.outcome = ratelimit.take(caches[DEFAULT_CACHE_ALIAS], self.key, self.num_requests, self.duration)
        return self.outcome.allowed

    def wait(self):
        return self.outcome.wait


class StylestoreAnonRateThrottle(StylestoreRateMixin, AnonRateThrottle):
    scope = "stylestore_anon"


class StylestoreUserRateThrottle(StylestoreRateMixin, UserRateThrottle):
    scope = "stylestore_user"


class VisitorRateThrottle(StylestoreRateMixin, SimpleRateThrottle):
    """Requests per visitor key (as presented, valid or not yet stored); requests
    without one are left to the per-IP limit."""

    scope = "stylestore_visitor"

    def get_cache_key(self, request, view):
        key = get_visitor(request._request).presented_key
        return None if key is None else self.cache_format % {"scope": self.scope, "ident": key}
