"""Moments as the project's database keeps them, whichever ``USE_TZ`` it chose.

With ``USE_TZ = True`` (Django's default) datetimes are aware, in UTC; with ``False``
they are naive, in ``TIME_ZONE`` (what ``timezone.now()`` gives). A moment built from
a timestamp or a date has to match, or the database refuses it (SQLite) or compares it
wrongly; a moment sent out has to carry its offset either way, or a client cannot tell
which it is.
"""
from datetime import date, datetime, time
from datetime import timezone as dt_timezone

from django.conf import settings
from django.utils import timezone


def _kept_zone():
    """The ``tzinfo`` of the moments the database keeps: UTC, or none (naive)."""
    return dt_timezone.utc if settings.USE_TZ else None


def at(seconds: float) -> datetime:
    """``seconds`` after the epoch."""
    return datetime.fromtimestamp(seconds, tz=_kept_zone())


def midnight(day: date) -> datetime:
    """The start of ``day``: UTC's with ``USE_TZ``, else ``TIME_ZONE``'s."""
    return datetime.combine(day, time(), tzinfo=_kept_zone())


def rfc3339(moment: datetime) -> str:
    """ISO 8601 with the UTC offset (a naive moment is in ``TIME_ZONE``)."""
    return (timezone.make_aware(moment) if timezone.is_naive(moment) else moment).isoformat()


def zone() -> str:
    """The name of the zone whose days the counters and the analytics keep: "UTC", or
    ``TIME_ZONE`` without ``USE_TZ``."""
    return "UTC" if settings.USE_TZ else settings.TIME_ZONE
