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

Counters live in Django's default cache, which must be shared between processes
(Redis, Memcached) for the limits to hold across workers.
"""
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle

from ..personalization.identity import get_visitor

# A product grid asks for the variants of each product it shows, so one page view
# can be a few dozen requests: the anonymous default leaves room for fast browsing.
DEFAULT_RATES = {
    "stylestore_anon": "300/minute",
    "stylestore_user": "3000/minute",
    # The events beacon and personalized reads, per visitor key.
    "stylestore_visitor": "120/minute",
}


class SettingsRateMixin:
    """Read the rate from the settings on every request, falling back to ``DEFAULT_RATES``.

    DRF copies ``DEFAULT_THROTTLE_RATES`` into a class attribute at import time, so
    changed settings (``override_settings`` in tests included) would otherwise be
    ignored.
    """

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope, DEFAULT_RATES[self.scope])


class StylestoreAnonRateThrottle(SettingsRateMixin, AnonRateThrottle):
    scope = "stylestore_anon"


class StylestoreUserRateThrottle(SettingsRateMixin, UserRateThrottle):
    scope = "stylestore_user"


class VisitorRateThrottle(SettingsRateMixin, SimpleRateThrottle):
    """Requests per visitor key (as presented, valid or not yet stored); requests
    without one are left to the per-IP limit."""

    scope = "stylestore_visitor"

    def get_cache_key(self, request, view):
        key = get_visitor(request._request).presented_key
        return None if key is None else self.cache_format % {"scope": self.scope, "ident": key}
