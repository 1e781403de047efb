"""Previews for the admin: asked for by the web, rendered by a worker, shown when ready.

A web process never renders: that would load PyTorch (RSS ~100 MB -> ~700 MB per
process) and hold a request for seconds. A page asks for a preview and polls; a worker
renders it (``stylestore.tasks.render_preview`` / ``render_swatches``) to a small file
named after what defines its pixels, keyed like variant files so an unreleased style's
preview cannot be found either. The same look and photo give the same file, so a
preview is rendered once and served from storage after that, and editing the style
gives a new one. Two kinds:

- a **style preview**: a style on a sample product, with the style's defaults (the
  style's preview page) or with the Apply page's settings (strength, colour, region,
  engine) on one of the selected products;
- a **swatch**: a preset, or a blend of presets, on one reference photo shipped with
  the app (``SWATCH_PHOTO``: a Panathenaic prize amphora, c. 530 BCE, The Metropolitan
  Museum of Art 248902, public domain), so a preset is recognised by sight. Its pure
  look: full strength, the style's palette, the whole picture.

Whether a preview is on its way or has failed is kept in the default cache, which web
and worker processes share (as the API's throttles do). An entry expires: a lost task
or a dead worker only delays a preview until a page that is still waiting asks again.
"""
import functools
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from django.core.cache import cache
from django.core.exceptions import ValidationError

from ..engine.preset_names import NUM_PRESETS
from ..models import ENGINE_VERSION, SourceImage, Style
from ..models.styles import validate_preset_weights
from ..storage import variant_storage
from . import files, queue
from .requests import RenderRequest

#: Longer side of a style preview, in pixels.
PREVIEW_SIDE = 256
#: Side of a swatch (the reference photo is a square of this size).
SWATCH_SIDE = 192
SWATCH_PHOTO = Path(__file__).resolve().parent.parent / "static" / "stylestore" / "admin" / "swatch-photo.jpg"
#: How long a request counts as on its way before a waiting page sends another: longer
#: than a busy queue takes to reach it (a worker renders a repeated request only once).
PENDING_SECONDS = 600
#: How long a failure is shown before the page tries again by itself.
FAILED_SECONDS = 600
PENDING = "pending"
#: The Apply page's settings a preview follows; size and format only change resolution and encoding.
PREVIEW_SETTINGS = ("strength", "preserve_color", "engine", "region")


@dataclass(frozen=True)
class Preview:
    status: str  # "ready", "rendering" or "failed"
    url: str = ""
    error: str = ""


def render_options(style: Style, settings: dict | None = None) -> dict:
    """The engine's options for a style preview (``RenderOptions`` keywords): the
    style's defaults, or ``settings`` (``PREVIEW_SETTINGS`` of a ``RenderRequest``)
    where given; small and fast. Its file name is made from them and the engine's
    version, so whatever changes the pixels changes the name.

    The slow engine is previewed by the fast one: its own preview would take minutes
    (``estimates``), longer than anyone waits on a page, which says so."""
    params = RenderRequest(**(settings or {})).resolve(style)
    engine = params["engine"] if params["engine"] != Style.Engine.OPTIMIZE else Style.Engine.ARBITRARY
    return {"engine": str(engine), "strength": params["strength"], "max_side": PREVIEW_SIDE,
            "preserve_color": params["preserve_color"], "region": params["region"], "format": "webp", "quality": 80}


def preview_name(style: Style, source: SourceImage, settings: dict | None = None) -> str:
    options = json.dumps(render_options(style, settings), sort_keys=True)
    return files.keyed_name(f"preview/{ENGINE_VERSION}/{style.fingerprint}/{source.content_hash}/{options}", "webp")


def settings_of(render_request: RenderRequest) -> dict:
    """What of a ``RenderRequest`` a preview follows, as the task's JSON argument."""
    return {key: value for key, value in asdict(render_request).items()
            if key in PREVIEW_SETTINGS and value is not None}


def get_or_request(style: Style, source: SourceImage, settings: dict | None = None) -> Preview:
    """The preview of ``style`` on ``source``; asks a worker for it unless one is on its way."""
    name = preview_name(style, source, settings)
    preview = _stored_or_failed(name)
    if preview is None:
        if cache.add(_cache_key(name), PENDING, PENDING_SECONDS):
            queue.send("render_preview", style.pk, source.pk, settings or {},
                       task_name=f"preview-{style.pk}-{source.pk}")
        preview = Preview("rendering")
    return preview


def forget_failure(style: Style, source: SourceImage, settings: dict | None = None):
    """Let the next :func:`get_or_request` ask again ("Try again")."""
    key = _cache_key(preview_name(style, source, settings))
    if cache.get(key) not in (None, PENDING):
        cache.delete(key)


def preset_blend(index: int) -> dict:
    """The weights of one preset alone."""
    if not 0 <= index < NUM_PRESETS:
        raise ValueError(f"preset index must be from 0 to {NUM_PRESETS - 1}")
    return {str(index): 1.0}


def swatch_options() -> dict:
    """The engine's options for a swatch (``RenderOptions`` keywords)."""
    return {"engine": str(Style.Engine.PRESET), "strength": 1.0, "max_side": SWATCH_SIDE, "preserve_color": False,
            "region": "all", "format": "webp", "quality": 80}


@functools.cache
def swatch_photo_hash() -> str:
    return hashlib.sha256(SWATCH_PHOTO.read_bytes()).hexdigest()


def swatch_name(weights: dict) -> str:
    """Raises ``ValidationError`` for weights that are no preset blend."""
    look = json.dumps(validate_preset_weights(weights), sort_keys=True)
    options = json.dumps(swatch_options(), sort_keys=True)
    return files.keyed_name(f"swatch/{ENGINE_VERSION}/{look}/{swatch_photo_hash()}/{options}", "webp")


def swatches(blends: list[dict]) -> list[Preview]:
    """The swatch of each preset blend (``{index: weight}``), in order; those missing
    are asked of a worker in one task, unless already on their way. Raises
    ``ValidationError`` for weights that are no preset blend."""
    found, missing = [], []
    for weights in blends:
        name = swatch_name(weights)
        preview = _stored_or_failed(name)
        if preview is None:
            if cache.add(_cache_key(name), PENDING, PENDING_SECONDS):
                missing.append(validate_preset_weights(weights))
            preview = Preview("rendering")
        found.append(preview)
    if missing:
        queue.send("render_swatches", missing, task_name=f"swatches-{len(missing)}")
    return found


def style_swatch(style: Style) -> Preview | None:
    """A preset style's swatch (its blend on the reference photo); None for image styles."""
    if style.kind != Style.Kind.PRESET:
        return None
    try:
        return swatches([style.preset_weights])[0]
    except ValidationError:  # a row saved without the form's validation: nothing to show
        return None


def every_swatch() -> list[dict]:
    """The blends a page may show: each built-in preset alone and each preset style's blend."""
    blends = [preset_blend(index) for index in range(NUM_PRESETS)]
    for weights in Style.objects.filter(kind=Style.Kind.PRESET).values_list("preset_weights", flat=True):
        try:
            blend = validate_preset_weights(weights)
        except ValidationError:  # a row saved without the form's validation: nothing to show
            continue
        if blend not in blends:
            blends.append(blend)
    return blends


def record_failure(name: str, error: str):
    """Called by the worker: the page shows ``error`` instead of waiting."""
    cache.set(_cache_key(name), error or "unknown error", FAILED_SECONDS)


def _stored_or_failed(name: str) -> Preview | None:
    """The ready or failed preview stored under ``name``; None while there is neither."""
    storage = variant_storage()
    if storage.exists(name):
        return Preview("ready", url=storage.url(name))
    state = cache.get(_cache_key(name))
    if state is not None and state != PENDING:
        return Preview("failed", error=state)
    return None


def _cache_key(name):
    return f"stylestore:preview:{name}"
