"""The look each image was shown in to a visitor, so it is shown in that look again.

The policy's choice for an image depends on the visitor's state, which every view,
impression and click moves, and on the population model, refitted every minute: chosen
afresh on every page, a product could open in another look than its listing card, or
change on a refresh. So the visitor's row keeps, per image (``SourceImage`` id), the
look it was last shown in, written where impressions are recorded (``events``) and read
with the state (``identity``): remembering costs a page no query and a listing no write.

An entry is ``[style id, propensity, [available style ids], unix time]`` (the original
photo, where the policy drew it as an arm, as ``"original"``: ``choices.stored_look``): the draw
that chose the look, as its impression logged it, so each later impression of it is
logged with that draw's probability and styles (``policy.Remembered``). Looks the
customer picked are not remembered (the pick shows them anyway), nor the control group's
original photos. The ``MAX_LOOKS`` most recently shown are kept, each for
``REMEMBER_SECONDS`` after it was last seen.

With ``STYLESTORE["PICK_SCOPE"] = "product"`` a pick applies to one product's images
only (every image of its gallery), so it is kept here too, as a *pinned* entry
``["pick", style key or "original", unix time]`` under the product's key
(``variants.sources.product_key``, e.g. ``"catalogue.product:7"``) that wins over the
policy for that product alone (``pinned``); pins are forgotten after every remembered
look. (Pins made before they were kept per product are under their image's id, and
still honoured for that image.)

A card clicked on a listing names its choice in a short-lived cookie
(``CLICKED_COOKIE``, set by the storefront script as the browser leaves): the product
page may be requested before the card's impression is recorded, and it then shows the
card's look, known from that signed choice (``clicked``), not a new draw.
"""
import math

from .choices import ChoiceRecord, stored_look
from .policy import Remembered

#: Images whose look a visitor keeps: a few listing pages' worth (about 3.5 KB of JSON).
MAX_LOOKS = 64
#: How long after it was last seen a look is shown again: one look per product while
#: the customer shops (a month covers coming back to a product before buying it).
#: Kept for ever, a returning customer's products stayed in the looks of their first
#: visit, whatever the shop has learnt since about what sells. Picks do not expire.
REMEMBER_SECONDS = 30 * 24 * 3600
#: Impressions of these were not the shop's draw: nothing to remember.
NOT_DRAWN = frozenset({"pick", "control"})
#: The first item of a pinned entry (a per-product pick).
PINNED = "pick"
#: The cookie naming the choice of the card last clicked (``stylestore.js`` sets it).
CLICKED_COOKIE = "stylestore_clicked"


def _is_pinned(entry) -> bool:
    return isinstance(entry, list) and len(entry) == 3 and entry[0] == PINNED


def pinned(looks, product, source_id=None) -> str | None:
    """The look the customer picked for ``product`` alone (a style key or
    ``choices.ORIGINAL``), or None; ``source_id``: one of its images, whose own pin
    (kept per image before pins were kept per product) counts too."""
    looks = looks or {}
    for key in (product, source_id):
        entry = looks.get(str(key)) if key is not None else None
        if _is_pinned(entry) and entry[1]:
            return str(entry[1])
    return None


def pin(looks: dict, product, look: str | None, at: int, source_id=None) -> None:
    """Pin ``look`` (a style key or ``choices.ORIGINAL``) on ``product`` in ``looks``
    (changed in place); None unpins it, and its images go back to the shop's choice.
    The per-image pin of ``source_id`` (kept before pins were per product) goes."""
    if source_id is not None and _is_pinned(looks.get(str(source_id))):
        del looks[str(source_id)]
    if look is None:
        if _is_pinned(looks.get(product)):
            del looks[product]
        return
    looks[product] = [PINNED, look, at]
    _forget_beyond_limit(looks)


def unpin_all(looks: dict) -> None:
    """Drop every pinned look (a shop-wide pick, or clearing every pick)."""
    for source in [key for key, entry in looks.items() if _is_pinned(entry)]:
        del looks[source]


def clicked(record: ChoiceRecord | None, source_id) -> Remembered | None:
    """The look of the clicked card ``record`` (``CLICKED_COOKIE``'s verified choice)
    when it is one of image ``source_id`` the shop drew; None otherwise."""
    if record is None or record.source_id is None or record.source_id != source_id:
        return None
    if record.style_key is None or record.reason in NOT_DRAWN or not 0 < record.propensity <= 1:
        return None
    return Remembered(record.style_key, record.propensity, tuple(map(str, record.available)))


def remembered(looks, source_id, now: float) -> Remembered | None:
    """The look ``source_id`` was last shown in, or None (never shown, not seen for
    ``REMEMBER_SECONDS`` before unix time ``now``, or an entry this version cannot read:
    it is a cache, never worth an error page)."""
    entry = (looks or {}).get(str(source_id))
    if _is_pinned(entry):
        return None
    try:
        style, propensity, available, seen = entry
        if not now - float(seen) < REMEMBER_SECONDS:
            return None
        propensity = float(propensity)
        if not 0 < propensity <= 1 or not math.isfinite(propensity):
            return None
        return Remembered(str(stored_look(style)), propensity, tuple(str(stored_look(s)) for s in available))
    except (TypeError, ValueError):
        return None


def remember(looks: dict, source_id, record, at: int) -> None:
    """Note in ``looks`` (a visitor's, changed in place) that image ``source_id`` was
    seen at unix time ``at`` in the look of ``record`` (its ``choices.ChoiceRecord``);
    the oldest beyond ``MAX_LOOKS`` are forgotten. A pin wins over what is remembered
    (``pinned`` is asked first), so a late impression of a look drawn before the pick
    changes nothing while the pin holds."""
    if record.style_key is None or source_id is None or record.reason in NOT_DRAWN:
        return
    if _is_pinned(looks.get(str(source_id))):
        return  # an image pinned on its own (before pins were per product) keeps its pick
    looks[str(source_id)] = [stored_look(record.style_key), record.propensity, list(record.available), at]
    _forget_beyond_limit(looks)


def _forget_beyond_limit(looks: dict) -> None:
    """Forget the entries beyond ``MAX_LOOKS``: remembered looks before pins (a pick
    is the customer's word), the least recent first."""
    if len(looks) > MAX_LOOKS:
        for source in sorted(looks, key=lambda key: _kept_order(looks[key]))[:len(looks) - MAX_LOOKS]:
            del looks[source]


def _kept_order(entry) -> tuple:
    if _is_pinned(entry):
        return (True, _time(entry, 2))
    return (False, _time(entry, 3))


def _time(entry, index) -> float:
    try:
        return float(entry[index])
    except (TypeError, ValueError, IndexError, KeyError):
        return -math.inf  # unreadable: forgotten first
