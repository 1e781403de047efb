"""The look each image was shown in to a visitor, so it is shown in that look again.

The policy's choice for an image depends on the visitor's state, which every view,
impression and click moves, and on the population model, refitted every minute: chosen
afresh on every page, a product could open in another look than its listing card, or
change on a refresh. So the visitor's row keeps, per image (``SourceImage`` id), the
look it was last shown in, written where impressions are recorded (``events``) and read
with the state (``identity``): remembering costs a page no query and a listing no write.

An entry is ``[style id, propensity, [available style ids], unix time]``: the draw
that chose the look, as its impression logged it, so each later impression of it is
logged with that draw's probability and styles (``policy.Remembered``). Looks the
customer picked are not remembered (the pick shows them anyway), nor the control group's
original photos. The ``MAX_LOOKS`` most recently shown are kept.
"""
import math

from .policy import Remembered

#: Images whose look a visitor keeps: a few listing pages' worth (about 3.5 KB of JSON).
MAX_LOOKS = 64
#: Impressions of these were not the shop's draw: nothing to remember.
NOT_DRAWN = frozenset({"pick", "control"})


def remembered(looks, source_id) -> Remembered | None:
    """The look ``source_id`` was last shown in, or None (never shown, or an entry this
    version cannot read: it is a cache, never worth an error page)."""
    entry = (looks or {}).get(str(source_id))
    try:
        style, propensity, available, _ = entry
        propensity = float(propensity)
        if not 0 < propensity <= 1 or not math.isfinite(propensity):
            return None
        return Remembered(str(int(style)), propensity, tuple(str(int(s)) for s in available))
    except (TypeError, ValueError):
        return None


def remember(looks: dict, source_id, record, at: int) -> None:
    """Note in ``looks`` (a visitor's, changed in place) that image ``source_id`` was
    seen at unix time ``at`` in the look of ``record`` (its ``choices.ChoiceRecord``);
    the oldest beyond ``MAX_LOOKS`` are forgotten."""
    if record.style_id is None or source_id is None or record.reason in NOT_DRAWN:
        return
    looks[str(source_id)] = [record.style_id, record.propensity, list(record.available), at]
    if len(looks) > MAX_LOOKS:
        for source in sorted(looks, key=lambda key: _shown_at(looks[key]))[:len(looks) - MAX_LOOKS]:
            del looks[source]


def _shown_at(entry) -> float:
    try:
        return float(entry[3])
    except (TypeError, ValueError, IndexError, KeyError):
        return -math.inf  # unreadable: forgotten first
