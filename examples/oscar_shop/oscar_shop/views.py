"""The shop's home page: the newest public products as Oscar's product cards.

Oscar's own browse page searches through Haystack, whose simple backend lists nothing
without a query; a shop with Solr or Elasticsearch gets the same cards there."""
from django.views.generic import ListView
from oscar.core.loading import get_model

Product = get_model("catalogue", "Product")


class HomeView(ListView):
    template_name = "oscar_shop/home.html"
    context_object_name = "products"
    paginate_by = 24

    def get_queryset(self):
        return Product.objects.browsable().base_queryset().order_by("-date_created", "-pk")
