"""A shop's URLconf with an API of its own beside Stylestore's, described by DRF's
default schema class: the shop's, not Stylestore's, business."""
from django.urls import include, path
from rest_framework.response import Response
from rest_framework.views import APIView


class ShopOrdersView(APIView):
    def get(self, request):
        return Response([])


urlpatterns = [
    path("api/", include("stylestore.api.urls")),
    path("shop-api/orders/", ShopOrdersView.as_view()),
]
