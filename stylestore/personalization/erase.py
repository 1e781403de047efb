"""Erase my data: everything personalization holds about a visitor or a user account.

What is tied to a person is the ``Visitor`` row (key, user link, policy state) and
its ``StyleEvent`` rows; deleting the visitor cascades to the events, in one
transaction. The per-style hourly counters (``StyleHourlyStats``) are sums over all
visitors with no identity in them, so they stay (like any aggregate statistic);
counts in the returned report are of the deleted rows.
"""
from django.db import transaction

from ..models import StyleEvent, Visitor


def _erase(visitors) -> dict:
    with transaction.atomic():
        _, deleted = visitors.delete()
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
    report = _erase(Visitor.objects.filter(key=key)) if key else {"visitors": 0, "events": 0}
    context.forget()
    return report


def erase_user(user) -> dict:
    """Erase every visitor ever linked to ``user`` (all their devices)."""
    return _erase(Visitor.objects.filter(user=user))
