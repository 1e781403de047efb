"""Stylestore's data model, one module per concept (all under the ``stylestore`` app
label, so the package layout is free of migrations):

- ``styles``: ``Style``, a look a shop admin can apply;
- ``sources``: ``SourceImage``, one image field of one object, with its content hash;
- ``variants``: ``StylizedImage``, one variant (source x style x parameters) and its job;
- ``batches``: ``Batch``, what one "Apply style" queued;
- ``personalization``: ``Visitor``, ``StyleEvent`` (and ``PersonalizationAnalytics``, its
  proxy for the analytics page's admin entry), ``StyleHourlyStats``, ``ViewerDailyStats``,
  ``ErasedVisitor``.
"""
from .batches import Batch
from .personalization import (
    ErasedVisitor,
    PersonalizationAnalytics,
    StyleEvent,
    StyleHourlyStats,
    ViewerDailyStats,
    Visitor,
)
from .sources import SourceImage
from .styles import Region, Style, validate_preset_weights
from .variants import ENGINE_VERSION, RenderParams, StylizedImage, group_by_render, params_hash

__all__ = [
    "Batch",
    "ENGINE_VERSION",
    "ErasedVisitor",
    "PersonalizationAnalytics",
    "Region",
    "RenderParams",
    "SourceImage",
    "Style",
    "StyleEvent",
    "StyleHourlyStats",
    "StylizedImage",
    "ViewerDailyStats",
    "Visitor",
    "group_by_render",
    "params_hash",
    "validate_preset_weights",
]
