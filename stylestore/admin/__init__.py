"""Stylestore in the Django admin.

- ``StylizeAdminMixin`` gives any shop's ModelAdmin (of a model with an image field, or
  of a model that leads to such objects, e.g. categories -> products) the action
  "Apply style…" and a live "Styles: 3/8 ready" column.
- ``StyleAdmin``: styles with thumbnails, preset-blend editing and a preview
  on a sample product (rendered by a worker).
- ``StylizedImageAdmin``: the variants, with a before/after slider, job details,
  retry, and review (approve / reject).
- ``BatchAdmin``: what each "Apply style" queued, its progress, cancel; and
  ``notices.BatchNoticeMiddleware``, the notice on the next page when one finishes.
"""
# Importing the modules registers their admins; the personalization admins (visitors,
# events, analytics) register with them.
from ..personalization import admin as personalization_admin  # noqa: F401
from . import batches, sources, styles, variants  # noqa: F401
from .mixin import StylizeAdminMixin
from .sources import SourceImageAdmin
from .styles import StyleAdmin
from .variants import StylizedImageAdmin

__all__ = ["StylizeAdminMixin", "StyleAdmin", "StylizedImageAdmin", "SourceImageAdmin"]
