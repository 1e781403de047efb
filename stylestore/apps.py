from django.apps import AppConfig


class StylestoreConfig(AppConfig):
    name = "stylestore"
    verbose_name = "Stylestore"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Imported for their side effects: registering system checks and signal handlers.
        from django.db.models.signals import post_migrate

        from . import checks  # noqa: F401
        from .schedules import ensure_schedules
        from .sources import connect_signals

        connect_signals()
        post_migrate.connect(ensure_schedules, sender=self)
