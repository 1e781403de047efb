"""Style previews for the admin: asked for by the web, rendered by a worker, shown when ready.

A web process never renders: that would load PyTorch (RSS ~100 MB -> ~700 MB per
process) and hold a request for seconds. The preview page asks for a preview and polls;
a worker renders it (``stylestore.tasks.render_preview``) to a small file named after
what defines its pixels (the style's fingerprint and defaults, the photo's hash, the
size), keyed like variant files so an unreleased style's preview cannot be found
either. The same style and photo give the same file, so a preview is rendered once
and served from storage after that, and editing the style gives a new one.

Whether a preview is on its way or has failed is kept in the default cache, which web
and worker processes share (as the API's throttles do). An entry expires: a lost task
or a dead worker only delays a preview until a page that is still waiting asks again.
"""
import json
from dataclasses import dataclass

from django.core.cache import cache

from ..models import SourceImage, Style
from ..storage import variant_storage
from . import files, queue

#: Longer side of a preview, in pixels.
PREVIEW_SIDE = 256
#: How long a request counts as on its way before a waiting page sends another: longer
#: than a busy queue takes to reach it (a worker renders a repeated request only once).
PENDING_SECONDS = 600
#: How long a failure is shown before the page tries again by itself.
FAILED_SECONDS = 600
PENDING = "pending"


@dataclass(frozen=True)
class Preview:
    status: str  # "ready", "rendering" or "failed"
    url: str = ""
    error: str = ""


def render_options(style: Style) -> dict:
    """The engine's options for a preview (``RenderOptions`` keywords): the style's
    defaults, small and fast. Its file name is made from them, so whatever changes the
    pixels changes the name."""
    engine = Style.Engine.PRESET if style.kind == Style.Kind.PRESET else Style.Engine.ARBITRARY
    return {"engine": str(engine), "strength": style.default_strength, "max_side": PREVIEW_SIDE,
            "preserve_color": style.preserve_color, "format": "webp", "quality": 80}


def preview_name(style: Style, source: SourceImage) -> str:
    options = json.dumps(render_options(style), sort_keys=True)
    return files.keyed_name(f"preview/{style.fingerprint}/{source.content_hash}/{options}", "webp")


def _cache_key(name):
    return f"stylestore:preview:{name}"


def get_or_request(style: Style, source: SourceImage) -> Preview:
    """The preview of ``style`` on ``source``; asks a worker for it unless one is on its way."""
    name = preview_name(style, source)
    storage = variant_storage()
    if storage.exists(name):
        return Preview("ready", url=storage.url(name))
    state = cache.get(_cache_key(name))
    if state is not None and state != PENDING:
        return Preview("failed", error=state)
    if state is None and cache.add(_cache_key(name), PENDING, PENDING_SECONDS):
        queue.send("render_preview", style.pk, source.pk, task_name=f"preview-{style.pk}-{source.pk}")
    return Preview("rendering")


def forget_failure(style: Style, source: SourceImage):
    """Let the next :func:`get_or_request` ask again ("Try again")."""
    key = _cache_key(preview_name(style, source))
    if cache.get(key) not in (None, PENDING):
        cache.delete(key)


def record_failure(name: str, error: str):
    """Called by the worker: the page shows ``error`` instead of waiting."""
    cache.set(_cache_key(name), error or "unknown error", FAILED_SECONDS)
