"""Moments as the database keeps them, with USE_TZ on and off (``stylestore.moments``)."""
from datetime import date, datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.utils import timezone

from stylestore import moments


@pytest.mark.parametrize("use_tz", [True, False], ids=["aware", "naive datetimes"])
def test_moments_match_the_database_and_go_out_with_their_offset(settings, use_tz):
    settings.USE_TZ, settings.TIME_ZONE = use_tz, "Asia/Kolkata"  # +05:30: no hour lines up by chance
    now = timezone.now()
    built = moments.at(now.timestamp())
    assert timezone.is_aware(built) is use_tz  # as timezone.now() gives them
    assert abs(built - now) < timedelta(seconds=1)
    start = moments.midnight(date(2026, 12, 7))
    assert (start.hour, start.minute, timezone.is_aware(start)) == (0, 0, use_tz)
    sent = datetime.fromisoformat(moments.rfc3339(start))
    assert sent.tzinfo is not None
    # The same instant whichever the setting: midnight UTC, or midnight in Kolkata.
    expected = datetime(2026, 12, 7, tzinfo=dt_timezone.utc) - (timedelta(0) if use_tz else timedelta(hours=5, minutes=30))
    assert sent == expected
