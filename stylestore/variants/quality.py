"""The automatic quality gate: whether a rendered variant may be shown to customers.

A variant is only publishable if the customer still sees the real product. The worker
measures every render (``stylestore.engine.metrics.measure``: the product's colour
difference with lightness, its structure, how visible the style is) and this module
compares those figures with ``STYLESTORE["QUALITY_GATE"]``. A variant that fails is
*held* (``StylizedImage.Review.HELD``): never shown, even with ``AUTO_APPROVE``, until
someone looks at it and approves it on purpose; the reasons are stored with its metrics.
"""
from django.utils.translation import gettext as _

from ..conf import stylestore_settings


def verdict(metrics: dict, *, preserve_color: bool, region: str) -> dict:
    """``{"passed": bool, "reasons": [str]}`` for one variant's metrics.

    The colour ceiling applies only when colours were to be preserved: a creative
    render that was asked to change the product is not held for doing so. The style's
    visibility floor applies only where the style is to show around the product (region
    ``all`` or ``background``): styling the product alone with its colours kept is meant
    to be faint.
    """
    limits = stylestore_settings.QUALITY_GATE
    reasons = []
    delta_e = metrics.get("product_delta_e")
    ceiling = limits.get("PRODUCT_DELTA_E")
    if preserve_color and ceiling is not None and delta_e is not None and delta_e > ceiling:
        reasons.append(_("product colour changed (ΔE %(found).1f, at most %(limit).1f)")
                       % {"found": delta_e, "limit": ceiling})
    structure = metrics.get("structure")
    floor = limits.get("STRUCTURE")
    if floor is not None and structure is not None and structure < floor:
        reasons.append(_("product shape lost (structure %(found).2f, at least %(limit).2f)")
                       % {"found": structure, "limit": floor})
    visibility = metrics.get("style_visibility")
    least = limits.get("STYLE_VISIBILITY")
    if region != "product" and least is not None and visibility is not None and visibility < least:
        reasons.append(_("the style barely shows (%(found).2f, at least %(limit).2f): the product fills the photo, "
                         "leaving the style no room around it") % {"found": visibility, "limit": least})
    return {"passed": not reasons, "reasons": reasons}


def colour_in_words(delta_e) -> str:
    """What a shop admin reads for a product's colour difference."""
    if delta_e is None:
        return _("not measured")
    if delta_e <= stylestore_settings.QUALITY_GATE.get("PRODUCT_DELTA_E", 3.0):
        return _("true (ΔE %.1f)") % delta_e
    return _("changed (ΔE %.1f)") % delta_e


def style_in_words(visibility) -> str:
    """How strongly the style shows, in words (``visibility``: 0 none .. 1 full)."""
    if visibility is None:
        return _("not measured")
    if visibility >= 0.5:
        return _("strong")
    if visibility >= 0.2:
        return _("moderate")
    return _("faint")
