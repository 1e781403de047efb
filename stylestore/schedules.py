"""The periodic django-q2 schedules Stylestore relies on, created after migrate."""
SWEEP_SCHEDULE = "stylestore-sweep"
PURGE_SCHEDULE = "stylestore-personalization-purge"


def ensure_schedules(**kwargs):
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=SWEEP_SCHEDULE,
        defaults={"func": "stylestore.tasks.sweep", "schedule_type": Schedule.MINUTES, "minutes": 1, "repeats": -1},
    )
    # Bounded event retention: events, hourly counters and idle visitors past
    # STYLESTORE["EVENT_RETENTION_DAYS"] are deleted once a day.
    Schedule.objects.update_or_create(
        name=PURGE_SCHEDULE,
        defaults={
            "func": "stylestore.personalization.events.purge_expired",
            "schedule_type": Schedule.DAILY,
            "repeats": -1,
        },
    )
