from django.apps import AppConfig


class StylestoreOscarConfig(AppConfig):
    name = "stylestore.contrib.oscar"
    label = "stylestore_oscar"
    verbose_name = "Stylestore for django-oscar"

    def ready(self):
        # Oscar's own signal, so connected by this app rather than stylestore.signals.
        from oscar.apps.catalogue.signals import product_viewed

        from . import checks  # noqa: F401 - registers the dashboard's checks
        from .images import expect_product_view

        product_viewed.connect(expect_product_view, dispatch_uid="stylestore-oscar-product-viewed")
