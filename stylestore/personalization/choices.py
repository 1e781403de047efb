"""Choice tokens: what the server chose for one image, signed into its ``choice_id``.

The page's script reports the impression with it when the image is actually seen, and
clicks and add to carts refer to it; ``events`` verifies the signature, so the logged
propensity and style are the ones the server chose, not whatever a client claims.
"""
import base64
import os
import random
from typing import NamedTuple

from . import policy, tokens

#: The pick that means "always show me the original photos".
ORIGINAL = "original"


CHOICE_PURPOSE = "choice"


CHOICE_VERSION = "1"


class ChoiceRecord(NamedTuple):
    """What the server chose for one image, as carried (signed) by its ``choice_id``.
    A named tuple: a page makes one per personalized image."""

    choice_id: str
    source_id: int | None
    #: None: the original photo (the control group's, or drawn as an arm).
    style_id: int | None
    propensity: float
    history_share: float
    reason: str
    sticky: str | None
    #: The looks offered, as ``stored_look`` stores them (style ids, ``ORIGINAL``).
    available: tuple

    @property
    def style_key(self) -> str | None:
        """The policy's key of the look shown: the style's, ``ORIGINAL`` for the original
        photo the policy drew as an arm (offered, and not the control group's), None
        for the control group's original photo."""
        if self.style_id is not None:
            return str(self.style_id)
        return ORIGINAL if ORIGINAL in self.available and self.reason != "control" else None

    def to_choice(self) -> policy.Choice:
        return policy.Choice(self.style_key, self.propensity, self.reason, self.history_share, self.sticky)


def stored_look(key: str):
    """How a look the policy offers is stored (choice tokens, the log's ``available``,
    remembered looks): a style's id as a number, the original photo as ``ORIGINAL``."""
    return ORIGINAL if key == ORIGINAL else int(key)


#: The generator of choice ids: its own, so no other code seeding ``random`` can make
#: ids repeat, and reseeded from the OS in every forked worker.
_choice_ids = random.Random()
os.register_at_fork(after_in_child=_choice_ids.seed)


def new_choice_id() -> str:
    """A fresh id for one rendered choice: 72 random bits, 12 URL-safe characters.

    Not from ``secrets``: the id only has to be unique among one visitor's choices (a
    database constraint counts each choice's events once), and the MAC over the token,
    not the id, is what stops forgery. ``os.urandom`` releases the GIL, and in a
    threaded server every release can leave the request waiting up to a whole switch
    interval to get it back: that wait was the largest single cost personalization
    added to a product page under load.
    """
    return base64.urlsafe_b64encode(_choice_ids.getrandbits(72).to_bytes(9, "big")).decode()


def sign_choice(visitor_key: str, record: ChoiceRecord) -> str:
    source = "" if record.source_id is None else record.source_id
    style = "" if record.style_id is None else record.style_id
    payload = (
        f"{CHOICE_VERSION}|{record.choice_id}|{source}|{style}|{record.propensity!r}|"
        f"{record.history_share!r}|{record.reason}|{record.sticky or ''}|{'.'.join(map(str, record.available))}"
    )
    # Signed in the visitor's context: a token is only valid for the visitor it was made for.
    return tokens.sign(payload, CHOICE_PURPOSE, visitor_key)


def read_choice(visitor_key: str, token: str) -> ChoiceRecord | None:
    """The record a valid token of this visitor carries; None for anything else."""
    payload = tokens.unsign(token, CHOICE_PURPOSE, visitor_key)
    if payload is None:
        return None
    try:
        version, choice_id, source, style, propensity, share, reason, sticky, available = payload.split("|")
        if version != CHOICE_VERSION:
            return None
        return ChoiceRecord(
            choice_id=choice_id,
            source_id=int(source) if source else None,
            style_id=int(style) if style else None,
            propensity=float(propensity),
            history_share=float(share),
            reason=reason,
            sticky=sticky or None,
            available=tuple(map(stored_look, available.split("."))) if available else (),
        )
    except ValueError:
        return None
