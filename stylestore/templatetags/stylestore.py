"""Template tags that show each customer the look that suits them, in any shop.

``{% load stylestore %}``, then:

``{% stylestore_prefetch products "image" %}``
    Load the visible variants of every product's ``image`` in one query. Put it before
    a loop of ``styled_image``: the loop then adds no query per product. Owners (the
    objects a ``SOURCE_MODELS`` ``group`` points at, e.g. Oscar's products) stand for
    their images.

``{% styled_image product "image" size=512 alt=product.image_alt as img %}``
    The variant this visitor sees (or the original photo): ``img.url``, ``img.width``,
    ``img.height``, ``img.srcset``, ``img.style`` (``id``, ``slug``, ``name``,
    ``description``; None for the original), ``img.alt`` (saying which style is
    shown), ``img.choice_id`` and ``img.propensity`` (for the impression beacon),
    ``img.reason``, ``img.reference``. None when the object has no image at all.
    Never renders anything: it only chooses among variants that are ready. What is not
    a photo Stylestore tracks (``None``, Oscar's missing-image placeholder dict, an
    object of a model not in ``SOURCE_MODELS``) comes as it is: its own image, or None.

``{% stylestore_img img sizes="(min-width: 60em) 25vw, 50vw" loading="lazy" css_class="..." %}``
    The ``<img>`` element for such an ``img``, with the attributes the beacon script
    and the style picker look for (``data-stylestore-ref``, ``data-stylestore-choice``,
    and for an image of a gallery ``data-stylestore-product``).

``{% stylestore_picture img sizes="..." loading="eager" fetchpriority="high" %}``
    The same image as a ``<picture>``: a styled look stored as WebP goes in a
    ``<source type="image/webp">`` and the ``<img>`` falls back to the original photo
    (usually JPEG) where WebP is not supported. ``personalized=False`` leaves out the
    attributes the script acts on (for a gallery of looks, which must not be swapped or
    counted as impressions).

``{% style_looks product "image" size=512 alt=product.image_alt exclude=img as looks %}``
    Every styled look of the image that is ready (no original photo), as images like
    ``img``; ``exclude`` leaves out the look of that image (the one already shown).

``{% style_picker product "image" %}``
    A form of buttons, one per available look plus the original photo, with the link to
    its stylesheet (``stylestore/picker.css``; colours from ``--stylestore-*`` custom
    properties). The script sends the pick and swaps the image in place, then shows
    the page's other images the pick applies to (the product's gallery; under a
    shop-wide pick every image) as a fresh render of the page shows them, and replaces
    the page's parts marked ``data-stylestore-refresh="<name>"`` (say, "More in this
    style", which follows the pick) with their fresh render; without
    JavaScript the form opens ``stylestore_personalization:pick``, which confirms the
    pick with a CSRF-protected form. It says what a pick applies to: this product only
    or the whole shop (``STYLESTORE["PICK_SCOPE"]``). Renders nothing without consent
    (a pick could not be remembered).

``{% more_in_this_style product "image" limit=4 as similar %}``
    Products this visitor sees in the style ``product`` is shown in (else their
    preferred style), closest in style first: each has an approved, ready variant of
    it, never the original photo; none when ``product`` shows its original photo. Their
    images are prefetched, so showing them adds one query, not one each.

``{% stylestore_beacon view=product field_name="image" %}``
    The small script reporting impressions, clicks, add to carts and picks. Mark an
    add-to-cart button with ``data-stylestore-cart="{{ img.choice_id }}"``. With
    ``view``, it also reports that this visitor viewed that object's image (a product
    page), in the same request as the page's impressions: the page itself then writes
    nothing, and a page that was only prefetched, or fetched by a client that runs no
    script, is not counted as a view. Call ``events.expect_view`` in the page's view
    first, so its looks are chosen as if the view were recorded (once seen, an image
    keeps its look anyway: ``personalization.looks``). A shop rendering pages without
    the script records views
    server-side with ``events.record_view`` instead. A click on a link around a
    personalized image also names its choice in a cookie that lives a minute
    (``looks.CLICKED_COOKIE``): the page it opens shows that look, even when it is
    requested before the click's events arrive.

All of them need the request in the template context
(``django.template.context_processors.request``).
"""
import functools
import html
import math
import mimetypes
import posixpath
from urllib.parse import urlsplit

from django import template
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.templatetags.static import static
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from ..conf import stylestore_settings
from ..personalization import caches, choices, looks, page
from ..personalization.identity import get_visitor
from ..variants.sources import is_source

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
    page.load_images(_visitor(context), objects, field_name)
    return ""


@register.simple_tag(takes_context=True)
def styled_image(context, obj, field_name="image", size=None, alt=None):
    return page.styled_image(_visitor(context), obj, field_name, size=size and int(size), alt=alt)


def _attributes(pairs):
    """`` name="value"`` for each pair, escaped as ``format_html`` would (safe strings
    kept as they are).

    Not ``format_html_join``: these tags run for every image of a page and every option
    of the picker, and Django's lazy-aware escaping wrapper, called once per attribute,
    cost more than the rest of the tag."""
    return "".join(
        f' {name}="{value.__html__() if hasattr(value, "__html__") else html.escape(str(value))}"'
        for name, value in pairs
    )


def _img(img, src, srcset, sizes, loading, css_class, fetchpriority, personalized):
    attrs = [("src", src)]
    if srcset:
        attrs += [("srcset", srcset), ("sizes", sizes)]
    if img.width and img.height:
        attrs += [("width", img.width), ("height", img.height)]
    attrs += [("alt", img.alt), ("loading", loading), ("decoding", "async")]
    if fetchpriority:
        attrs.append(("fetchpriority", fetchpriority))
    if css_class:
        attrs.append(("class", css_class))
    if personalized and img.reference:
        attrs.append(("data-stylestore-ref", img.reference))
        if img.product and img.product != img.reference:  # an image of a gallery
            attrs.append(("data-stylestore-product", img.product))
        if img.choice_id:
            attrs.append(("data-stylestore-choice", img.choice_id))
    return mark_safe(f"<img{_attributes(attrs)}>")


def _mime_type(url):
    return _mime_type_of_extension(posixpath.splitext(urlsplit(url).path)[1].lower())


@functools.cache
def _mime_type_of_extension(extension):
    # Cached: the picker asks for every option of every page, and image files come in
    # a handful of extensions.
    return mimetypes.guess_type(f"image{extension}")[0] or ""


def source_type(img):
    """The MIME type of ``img``'s look when a ``<picture>`` should offer it in a
    ``<source>`` with the original photo as the fallback; "" when no fallback is
    needed (the original photo itself, or a variant in the original's format)."""
    if img is None or img.style is None or not img.original_url:
        return ""
    shown = _mime_type(img.url)
    return shown if shown and shown != _mime_type(img.original_url) else ""


@register.simple_tag
def stylestore_img(img, sizes="100vw", loading="lazy", css_class="", fetchpriority=""):
    # Built in Python, not an inclusion template: it runs once per image of a listing,
    # where a template render per image would cost more than choosing the image.
    if img is None:
        return ""
    return _img(img, img.url, img.srcset, sizes, loading, css_class, fetchpriority, True)


@register.simple_tag
def stylestore_picture(img, sizes="100vw", loading="lazy", css_class="", fetchpriority="", personalized=True):
    if img is None:
        return ""
    kind = source_type(img)
    if not kind:
        shown = _img(img, img.url, img.srcset, sizes, loading, css_class, fetchpriority, personalized)
        return mark_safe(f"<picture>{shown}</picture>")
    source = [("type", kind), ("srcset", img.srcset), ("sizes", sizes)] if img.srcset else [("type", kind), ("srcset", img.url)]
    fallback = _img(img, img.original_url, "", sizes, loading, css_class, fetchpriority, personalized)
    return mark_safe(f"<picture><source{_attributes(source)}>{fallback}</picture>")


@register.simple_tag(takes_context=True)
def style_looks(context, obj, field_name="image", size=None, alt=None, exclude=None):
    skip = exclude.style.id if exclude is not None and exclude.style is not None else None
    return [
        image
        for image, _selected in page.style_options(_visitor(context), obj, field_name, size=size and int(size), alt=alt)
        if image.style is not None and image.style.id != skip
    ]


def _picker_option(image, selected):
    attrs = [
        ("name", "style"),
        ("value", image.style.slug if image.style else choices.ORIGINAL),
        ("aria-pressed", "true" if selected else "false"),
        ("data-src", image.url),
        ("data-srcset", image.srcset),
        ("data-alt", image.alt),
    ]
    if kind := source_type(image):
        # Where the page shows a <picture>, the script fills its <source> with this type.
        attrs += [("data-type", kind), ("data-fallback", image.original_url)]
    if image.width and image.height:
        attrs += [("data-width", image.width), ("data-height", image.height)]
    if image.style and image.style.description:
        attrs.append(("title", image.style.description))
    thumbnail = image.candidates[0][0] if image.candidates else image.url
    label = image.style.name if image.style else _("Original photo")
    return (
        f'<li><button type="submit"{_attributes(attrs)}><img{_attributes([("src", thumbnail)])} alt="" width="48" '
        f'height="48" loading="lazy" decoding="async"><span>{html.escape(label)}</span></button></li>'
    )


#: How long a process reuses a product's rendered picker. Short: a storage that
#: signs its URLs (S3) must never have an option served much after it was signed.
PICKER_MARKUP_SECONDS = 60


def _picker_markup(visitor, entry, size, alt):
    """The picker's form around its hidden fields, as ``(opening, rest)``, or None with
    fewer than two looks. Cached per process under everything the markup is made of
    (the looks' files and URLs, the original photo, size, alt text, the visitor's pick,
    the pick's scope, the language, the form's action): rendering it was most of what
    personalization added to a product page."""
    action = _fixed_url("stylestore_personalization:pick")
    key = (
        "picker", action, entry.original_url, entry.original_size, size, alt, page.picked_look(visitor, entry),
        stylestore_settings.PICK_SCOPE, get_language(),
        tuple((info, tuple((r.url, r.width, r.height, r.max_side) for r in renditions))
              for info, renditions in entry.variants.values()),
    )

    def render():
        options = page.style_options(visitor, entry.obj, entry.field_name, size=size, alt=alt)
        if len(options) < 2:
            return None
        buttons = [_picker_option(image, selected) for image, selected in options]
        if any(selected for _image, selected in options):
            buttons.append(
                '<li><button type="submit" name="style" value="" data-stylestore-reset>'
                f'{html.escape(_("Let the shop choose"))}</button></li>'
            )
        # GET, and no CSRF token: without JavaScript this only opens a page confirming
        # the pick, whose own form posts it (see personalization.views.pick).
        # The picker's stylesheet comes with it (a <link> is allowed in the body), so
        # it is styled in any shop; a shop restyles it through its custom properties.
        return (
            f'<link rel="stylesheet"{_attributes([("href", _static_url("stylestore/picker.css"))])}>'
            f'<form class="stylestore-picker" method="get"'
            f'{_attributes([("action", action), ("data-stylestore-scope", stylestore_settings.PICK_SCOPE)])} '
            'data-stylestore-picker>',
            f'<fieldset><legend>{html.escape(_("Choose a look"))}</legend>'
            f'<p class="stylestore-picker-scope">{html.escape(page.pick_scope_note())}</p>'
            f'<ul class="stylestore-picker-options">{"".join(buttons)}</ul></fieldset>'
            '<p class="stylestore-picker-status" role="status" aria-live="polite"></p></form>',
        )

    return caches.fragments.get(key, PICKER_MARKUP_SECONDS, render)


@register.simple_tag(takes_context=True)
def style_picker(context, obj, field_name="image", size=None, alt=None):
    """A form choosing this product's look: one button per look (the original photo
    and every visible variant), and "Let the shop choose" once the visitor has picked.
    Without consent, or with a single look, nothing.

    Built in Python, not an inclusion template, and cached but for its hidden fields:
    it renders on every personalized product page.
    """
    visitor = _visitor(context)
    if not visitor.consent or not _fixed_url("stylestore_personalization:pick"):
        return ""
    entry = page.page_image(visitor, obj, field_name)
    if entry is None:
        return ""
    markup = _picker_markup(visitor, entry, size and int(size), alt)
    if markup is None:
        return ""
    fields = [
        [("name", "next"), ("value", context["request"].get_full_path())],
        # The product is for the storefront script (what a per-product pick refreshes),
        # not submitted.
        [("name", "source"), ("value", entry.reference), ("data-stylestore-product", entry.product)],
        [("name", "field"), ("value", field_name)],
    ]
    hidden = "".join(f'<input type="hidden"{_attributes(attrs)}>' for attrs in fields)
    return mark_safe(f"{markup[0]}{hidden}{markup[1]}")


@register.simple_tag(takes_context=True)
def more_in_this_style(context, obj, field_name="image", limit=4):
    return [o for o, _ in page.more_in_this_style(_visitor(context), obj, field_name, limit=int(limit))]


def _fixed_url(name, **kwargs):
    """``reverse(name)`` kept per process (keyed by the URL configuration and script
    prefix it depends on): the beacon and the picker each need one on every
    personalized page, and reversing cost as much as rendering the tag. "" when the
    shop did not include those URLs (template-only use; the checks W046 and W047 say
    what that leaves out)."""
    key = ("url", name, tuple(sorted(kwargs.items())), get_urlconf() or settings.ROOT_URLCONF, get_script_prefix())
    return caches.fragments.get(key, math.inf, lambda: _reverse_or_empty(name, kwargs))


def _reverse_or_empty(name, kwargs):
    try:
        return reverse(name, kwargs=kwargs or None)
    except NoReverseMatch:
        return ""


def _static_url(path):
    """``static(path)`` kept per process, for the same reason: a manifest storage looks
    the hashed name up on every call. Keyed by the script prefix a relative
    ``STATIC_URL`` is joined to; a changed setting clears it with the other fragments."""
    return caches.fragments.get(("static", path, get_script_prefix()), math.inf, lambda: static(path))


@register.simple_tag(takes_context=True)
def stylestore_beacon(context, view=None, field_name="image"):
    endpoint = _fixed_url("stylestore_api:visitor-events", version="v1")
    if not endpoint or not _visitor(context).consent:
        return ""
    attrs = [("src", _static_url("stylestore/stylestore.js")), ("data-stylestore-endpoint", endpoint)]
    if is_source(view, field_name):
        opts = view._meta
        attrs += [("data-stylestore-view", f"{opts.app_label}.{opts.model_name}:{view.pk}"),
                  ("data-stylestore-view-field", field_name)]
    attrs.append(("data-stylestore-clicked", looks.CLICKED_COOKIE))
    return mark_safe(f"<script{_attributes(attrs)} defer></script>")
