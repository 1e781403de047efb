"""Template tags that show each customer the look that suits them, in any shop.

``{% load stylestore %}``, then:

``{% stylestore_prefetch products "image" %}``
    Load the visible variants of every product's ``image`` in one query. Put it before
    a loop of ``styled_image``: the loop then adds no query per product.

``{% styled_image product "image" size=512 alt=product.image_alt as img %}``
    The variant this visitor sees (or the original photo): ``img.url``, ``img.width``,
    ``img.height``, ``img.srcset``, ``img.style`` (``id``, ``slug``, ``name``,
    ``description``; None for the original), ``img.alt`` (saying which style is
    shown), ``img.choice_id`` and ``img.propensity`` (for the impression beacon),
    ``img.reason``, ``img.reference``. None when the object has no image at all.
    Never renders anything: it only chooses among variants that are ready.

``{% stylestore_img img sizes="(min-width: 60em) 25vw, 50vw" loading="lazy" css_class="..." %}``
    The ``<img>`` element for such an ``img``, with the attributes the beacon script
    and the style picker look for (``data-stylestore-ref``, ``data-stylestore-choice``).

``{% style_picker product "image" %}``
    A form of buttons, one per available look plus the original photo. It posts to
    ``stylestore_personalization:pick`` (works without JavaScript); the script swaps
    the image in place instead. Renders nothing without consent (a pick could not be
    remembered).

``{% more_in_this_style product "image" limit=4 as similar %}``
    Products whose photos are closest in style to the visitor's preferred look; their
    images are prefetched, so showing them adds one query, not one each.

``{% stylestore_beacon %}``
    The small script reporting impressions, clicks, add to carts and picks. Mark an
    add-to-cart button with ``data-stylestore-cart="{{ img.choice_id }}"``.

All of them need the request in the template context
(``django.template.context_processors.request``).
"""
from django import template
from django.core.exceptions import ImproperlyConfigured
from django.templatetags.static import static
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from ..personalization import service
from ..personalization.identity import get_visitor

register = template.Library()


def _visitor(context):
    request = context.get("request")
    if request is None:
        raise ImproperlyConfigured(
            "Stylestore's template tags need the request: add "
            "'django.template.context_processors.request' to the template context processors."
        )
    return get_visitor(request)


@register.simple_tag(takes_context=True)
def stylestore_prefetch(context, objects, field_name="image"):
    service.load_images(_visitor(context), objects, field_name)
    return ""


@register.simple_tag(takes_context=True)
def styled_image(context, obj, field_name="image", size=None, alt=None):
    if obj is None:
        return None
    return service.styled_image(_visitor(context), obj, field_name, size=size and int(size), alt=alt)


@register.simple_tag
def stylestore_img(img, sizes="100vw", loading="lazy", css_class=""):
    # Built in Python, not an inclusion template: it runs once per image of a listing,
    # where a template render per image would cost more than choosing the image.
    if img is None:
        return ""
    attrs = [("src", img.url)]
    if img.srcset:
        attrs += [("srcset", img.srcset), ("sizes", sizes)]
    if img.width and img.height:
        attrs += [("width", img.width), ("height", img.height)]
    attrs += [("alt", img.alt), ("loading", loading), ("decoding", "async")]
    if css_class:
        attrs.append(("class", css_class))
    attrs.append(("data-stylestore-ref", img.reference))
    if img.choice_id:
        attrs.append(("data-stylestore-choice", img.choice_id))
    return format_html("<img{}>", format_html_join("", ' {}="{}"', attrs))


@register.inclusion_tag("stylestore/tags/style_picker.html", takes_context=True)
def style_picker(context, obj, field_name="image", size=None, alt=None):
    visitor = _visitor(context)
    if obj is None or not visitor.consent:
        return {"options": []}
    options = []
    has_pick = False
    for image, selected in service.style_options(visitor, obj, field_name, size=size and int(size), alt=alt):
        has_pick = has_pick or selected
        thumbnail = image.candidates[0][0] if image.candidates else image.url
        options.append(
            {
                "value": image.style.slug if image.style else service.ORIGINAL,
                "label": image.style.name if image.style else "",
                "description": image.style.description if image.style else "",
                "image": image,
                "thumbnail": thumbnail,
                "selected": selected,
            }
        )
    request = context["request"]
    return {
        # One look only (the original): nothing to choose between.
        "options": options if len(options) > 1 else [],
        "has_pick": has_pick,
        "action": reverse("stylestore_personalization:pick"),
        "next": request.get_full_path(),
        "reference": options[0]["image"].reference if options else "",
        "field": field_name,
        "csrf_token": context.get("csrf_token"),
    }


@register.simple_tag(takes_context=True)
def more_in_this_style(context, obj, field_name="image", limit=4):
    if obj is None:
        return []
    return [o for o, _ in service.more_in_this_style(_visitor(context), obj, field_name, limit=int(limit))]


@register.inclusion_tag("stylestore/tags/beacon.html", takes_context=True)
def stylestore_beacon(context):
    visitor = _visitor(context)
    if not visitor.consent:
        return {"enabled": False}
    return {
        "enabled": True,
        "script": static("stylestore/stylestore.js"),
        "endpoint": reverse("stylestore_api:visitor-events", kwargs={"version": "v1"}),
    }
