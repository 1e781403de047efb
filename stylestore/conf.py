"""The ``STYLESTORE`` settings object.

Modelled on DRF's ``api_settings``: a shop sets only what it changes in one
``STYLESTORE`` dict; everything else falls back to the documented defaults below, and
``override_settings`` in tests takes effect immediately (the cache is reset on the
``setting_changed`` signal).

Usage::

    from stylestore.conf import stylestore_settings
    stylestore_settings.MAX_SIDE
"""
DEFAULTS = {
    # Which models hold source images: {"app_label.model": ["image_field", ...]}.
    # Saving one of these re-hashes its image so stale variants are regenerated.
    "SOURCE_MODELS": {},
    # Variants are only shown to customers once approved, unless this is True.
    "AUTO_APPROVE": False,
    # Output sizes are snapped to these longer-side buckets to bound the variant space.
    "SIZES": [256, 512, 768, 1024],
    "DEFAULT_SIZE": 768,
    "DEFAULT_FORMAT": "webp",
    "QUALITY": 85,
    # "auto" uses CUDA (fp16) when present, the CPU otherwise; or "cpu", "cuda", "cuda:1".
    "DEVICE": "auto",
    # Where variant files are written: a key of Django's STORAGES.
    "STORAGE": "default",
    "UPLOAD_TO": "stylestore/variants",
    # Image gate: refuse anything bigger before decoding it.
    "MAX_PIXELS": 40_000_000,
    "MAX_UPLOAD_BYTES": 25 * 1024 * 1024,
    # Jobs: executions per job (a worker that dies mid-job counts as one), the lease a
    # running job holds before it is considered abandoned, and the retry backoff base.
    "MAX_ATTEMPTS": 3,
    "LEASE_SECONDS": 600,
    "RETRY_BACKOFF_SECONDS": 30,
    # Jobs of one style are rendered together, this many images per forward pass.
    "BATCH_SIZE": 8,
    # django-q2 cluster (queue) name that stylization tasks go to; None = the default
    # cluster. Point GPU workers at a dedicated cluster name to keep web work off them.
    "TASK_CLUSTER": None,
    # Personalization
    "CONSENT_REQUIRED": False,
    "CONSENT_COOKIE": "stylestore_consent",
    "VISITOR_COOKIE": "stylestore_vid",
    "VISITOR_COOKIE_AGE": 365 * 24 * 3600,
    "EVENT_RETENTION_DAYS": 90,
    "EXPLORATION_EPSILON": 0.05,
}


class StylestoreSettings:
    """Attribute access to ``settings.STYLESTORE`` with defaults and validation."""

    def __init__(self, defaults=None):
        self.defaults = defaults or DEFAULTS
        self._cached = set()

    @property
    def user_settings(self):
        if not hasattr(self, "_user_settings"):
            from django.conf import settings

            self._user_settings = getattr(settings, "STYLESTORE", {})
        return self._user_settings

    def __getattr__(self, attr):
        if attr not in self.defaults:
            raise AttributeError(f"Invalid STYLESTORE setting: {attr!r}")
        value = self.user_settings.get(attr, self.defaults[attr])
        self._cached.add(attr)
        setattr(self, attr, value)
        return value

    def reload(self):
        for attr in self._cached:
            delattr(self, attr)
        self._cached.clear()
        if hasattr(self, "_user_settings"):
            delattr(self, "_user_settings")


stylestore_settings = StylestoreSettings(DEFAULTS)


def reload_settings(*, setting, **kwargs):
    """Forget the cached values when ``STYLESTORE`` changes (``override_settings``);
    connected in ``stylestore.signals``."""
    if setting == "STYLESTORE":
        stylestore_settings.reload()
