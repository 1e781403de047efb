from django.apps import AppConfig


class StylestoreConfig(AppConfig):
    name = "stylestore"
    verbose_name = "Stylestore"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Imported for their side effects: registering system checks and signal handlers.
        from . import checks  # noqa: F401
