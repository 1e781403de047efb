"""Storefront URLs of personalization that are not API endpoints. Mount them with::

    path("stylestore/", include("stylestore.personalization.urls")),
"""
from django.urls import path

from . import views

app_name = "stylestore_personalization"

urlpatterns = [
    path("pick/", views.pick, name="pick"),
]
