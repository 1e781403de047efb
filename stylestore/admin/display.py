"""Small pieces of HTML the Stylestore admins share: thumbnails, swatches, links, key/value tables."""
import json

from django.contrib.admin.utils import quote
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

SWATCH_TEMPLATE = "stylestore/admin/includes/swatch.html"

#: Words for the keys a render's timings carry (``engine.pipeline``, ``variants.worker``);
#: any other key is shown as it is.
KEY_LABELS = {
    "prepare": _("preparing the inputs"),
    "infer": _("network"),
    "encode": _("encoding the file"),
    "metrics": _("quality metrics"),
    "decode": _("reading the photo"),
    "write": _("writing the file"),
    "batch": _("whole batch"),
    "batch_size": _("images in the batch"),
    "device": _("device"),
}


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
        name = key.removesuffix("_ms")
        label = KEY_LABELS.get(name, name.replace("_", " "))
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
