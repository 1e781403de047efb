"""A shop's URLconf that includes neither of Stylestore's URL modules."""
urlpatterns = []
