"""Small pieces of HTML the Stylestore admins share: thumbnails, swatches, links, key/value tables."""
import json

from django.contrib.admin.utils import quote
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join

SWATCH_TEMPLATE = "stylestore/admin/includes/swatch.html"


def thumbnail(field_file, *, alt="", size=48):
    """An ``<img>`` for a stored image, or a dash if there is none."""
    if not field_file:
        return "–"
    return format_html(
        '<img src="{}" alt="{}" class="stylestore-thumb" width="{}" height="{}" loading="lazy">',
        field_file.url, alt, size, size,
    )


def admin_change_url(admin_site, obj):
    """The admin change page of any object, or None if its model is not in this admin site."""
    opts = obj._meta
    try:
        return reverse(f"{admin_site.name}:{opts.app_label}_{opts.model_name}_change", args=[quote(obj.pk)])
    except NoReverseMatch:
        return None


def key_value_table(mapping):
    """Metrics and timings as a small table; ``*_ms`` keys read as milliseconds."""
    if not mapping:
        return "–"

    def row(key, value):
        label = key.removesuffix("_ms").replace("_", " ")
        if isinstance(value, float):
            value = f"{value:.1f} ms" if key.endswith("_ms") else f"{value:.4g}"
        elif key.endswith("_ms"):
            value = f"{value} ms"
        return label, value

    rows = format_html_join("", '<tr><th scope="row">{}</th><td>{}</td></tr>', (row(k, v) for k, v in sorted(mapping.items())))
    return format_html('<table class="stylestore-kv">{}</table>', rows)


def swatch(preview, weights, url, *, size=48, alt=""):
    """A preset blend's swatch (``previews.swatches``): its image once a worker has
    rendered it, else a placeholder that ``swatches.js`` polls (``url`` answers for
    ``weights``) and swaps for the image."""
    return render_to_string(SWATCH_TEMPLATE, {"preview": preview, "weights_json": json.dumps(weights, sort_keys=True),
                                              "url": url, "size": size, "alt": alt})
