from django.apps import AppConfig


class StylestoreConfig(AppConfig):
    name = "stylestore"
    verbose_name = "Stylestore"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Imported here, not at the top: these modules import models, which only exist
        # once the app registry is ready. ``checks`` and ``install_checks`` register
        # the system checks.
        from django.db.models.signals import post_migrate

        from . import checks, install_checks, signals  # noqa: F401
        from .schedules import ensure_schedules

        signals.connect()
        post_migrate.connect(ensure_schedules, sender=self)
