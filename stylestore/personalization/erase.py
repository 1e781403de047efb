"""Erase my data: everything personalization holds about a visitor or a user account.

What is tied to a person is the ``Visitor`` row (key, user link, policy state) and
its ``StyleEvent`` rows; deleting the visitor cascades to the events, in one
transaction. The per-style hourly counters (``StyleHourlyStats``) and the per-image
viewer counters (``ViewerDailyStats``) are sums over all visitors with no identity in
them, so they stay (like any aggregate statistic);
counts in the returned report are of the deleted rows.

An erased visitor's key is revoked (``ErasedVisitor``, hashed): its token is still
validly signed until it expires, and must neither recreate the visitor nor make its
old choice ids count again.
"""
import hashlib

from django.db import transaction

from ..models import ErasedVisitor, StyleEvent, Visitor


def key_hash(key: str) -> str:
    # A random 128-bit key: a plain hash cannot be reversed, and identifies nothing else.
    return hashlib.sha256(key.encode()).hexdigest()


def is_revoked(key: str) -> bool:
    return ErasedVisitor.objects.filter(key_hash=key_hash(key)).exists()


def _erase(visitors, keys=None) -> dict:
    with transaction.atomic():
        keys = list(visitors.values_list("key", flat=True)) if keys is None else keys
        _, deleted = visitors.delete()
        ErasedVisitor.objects.bulk_create([ErasedVisitor(key_hash=key_hash(k)) for k in keys],
                                          ignore_conflicts=True)
    return {
        "visitors": deleted.get(Visitor._meta.label, 0),
        "events": deleted.get(StyleEvent._meta.label, 0),
    }


def erase_visitor(context) -> dict:
    """Erase the request's visitor (``identity.VisitorContext``) and drop its cookie.

    Works with or without consent (the presented key is enough: withdrawing consent
    must not lock anyone out of erasure). The rest of the request stores nothing more.
    """
    key = context.presented_key or context.known_key
    # Revoked even without a row: a token whose visitor stored nothing yet is erased too.
    report = _erase(Visitor.objects.filter(key=key), [key]) if key else {"visitors": 0, "events": 0}
    context.forget()
    return report


def erase_user(user) -> dict:
    """Erase every visitor ever linked to ``user`` (all their devices)."""
    return _erase(Visitor.objects.filter(user=user))
