"""The periodic django-q2 schedules Stylestore relies on, created after migrate."""
SWEEP_SCHEDULE = "stylestore-sweep"


def ensure_schedules(**kwargs):
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=SWEEP_SCHEDULE,
        defaults={"func": "stylestore.tasks.sweep", "schedule_type": Schedule.MINUTES, "minutes": 1, "repeats": -1},
    )
