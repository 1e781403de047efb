"""Oscar's products and their images, in Stylestore's terms."""
from oscar.core.loading import get_model

from ...personalization import events
from ...variants.sources import is_source, source_fields

#: Oscar's field of ``ProductImage`` when ``SOURCE_MODELS`` does not list the model
#: (the tags then show Oscar's images as they are).
DEFAULT_FIELD = "original"


def image_field() -> str:
    """The field of Oscar's ``ProductImage`` that Stylestore renders."""
    fields = source_fields(get_model("catalogue", "ProductImage"))
    return fields[0] if fields else DEFAULT_FIELD


def products_of(items):
    """Products from what a listing holds: products, or search results carrying them."""
    return [getattr(item, "object", item) for item in items if item is not None]


def expect_product_view(sender, product, request, **kwargs):
    """``product_viewed`` receiver: the page is about to choose its looks as if the
    beacon's view were recorded already, so a refresh shows the same look."""
    image, field = product.primary_image(), image_field()
    if is_source(image, field):
        events.expect_view(request, image, field)
