"""Stylestore's REST API for headless storefronts (Django REST framework).

- Public, read-only: styles, and the visible variants of a source object addressed by
  a stable reference (``/api/v1/sources/shop.product:42/variants/``).
- Staff: create and edit styles, queue stylization jobs, follow, retry and review them.

Mounting, URL layout and the error handlers: ``stylestore.api.urls``. Settings:
throttle rates and ``NUM_PROXIES`` in ``REST_FRAMEWORK`` (``stylestore.api.throttles``);
everything else is set on the views (``stylestore.api.views``). Requires
``rest_framework``, ``rest_framework.authtoken``, ``drf_spectacular`` and
``drf_spectacular_sidecar`` in ``INSTALLED_APPS``.
"""
