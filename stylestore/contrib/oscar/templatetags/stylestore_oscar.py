"""Template tags for Oscar's templates: ``{% load stylestore stylestore_oscar %}``.

``{% oscar_prefetch products %}``
    Load the looks of every product's images at once (products or search results):
    the cards then add no query each. Repeating it is free.

``{% oscar_styled_image product size=512 as img %}``
    The look this visitor sees for the product's primary image, as ``styled_image``
    gives it; Oscar's placeholder for a product without an image.

``{% oscar_primary_image product as image %}``
    The product's primary image (or placeholder), for the other Stylestore tags.
"""
from django import template

from ....personalization import page
from ....templatetags.stylestore import _visitor
from ..images import image_field, products_of

register = template.Library()


@register.simple_tag(takes_context=True)
def oscar_prefetch(context, products):
    # Products own their images (SOURCE_MODELS' group): loading them loads their images.
    page.load_images(_visitor(context), products_of(products), image_field())
    return ""


@register.simple_tag
def oscar_primary_image(product):
    return product.primary_image() if product is not None else None


@register.simple_tag(takes_context=True)
def oscar_styled_image(context, product, size=None, alt=None):
    image = product.primary_image() if product is not None else None
    alt = alt or (product.get_title() if product is not None else None)
    return page.styled_image(_visitor(context), image, image_field(), size=size and int(size), alt=alt)


@register.simple_tag
def oscar_image_field():
    return image_field()
