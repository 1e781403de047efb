"""Product masks of source photos: where the product is, stored beside the photo.

A mask is computed once per photo content by a worker (with the embedding, or by the
first render that needs it) and kept as an 8-bit PNG matte under a name derived from
the photo's content hash, so a changed photo never meets its old mask
(``sources.refresh`` forgets it). It is computed again when the rule that finds the
product changed since (``engine.saliency.MASK_VERSION``, stored with it): a shop that
upgrades gets the better masks without asking, for the renders that follow. The photo's own transparency wins over the network
whenever it has some. ``SourceImage.mask_info["method"]`` says how the product was found
(``engine.saliency.ProductMask.method``).
"""
import io
import logging

from PIL import Image

from ..conf import image_limits, stylestore_settings
from ..engine.errors import ImageError
from ..engine.gate import open_image
from ..engine.saliency import MASK_VERSION
from ..models import SourceImage
from . import files

logger = logging.getLogger(__name__)


def mask_name(source: SourceImage) -> str:
    digest = source.content_hash
    return f"{stylestore_settings.MASKS_UPLOAD_TO}/{digest[:2]}/{digest}.png"


def is_current(source: SourceImage) -> bool:
    """Whether the source has a mask of its photo's content by today's rule."""
    info = source.mask_info or {}
    return bool(source.mask) and info.get("hash") == source.content_hash and info.get("version") == MASK_VERSION


def stored_mask(source: SourceImage) -> Image.Image | None:
    """The stored mask of the photo's current content by today's rule, or None (not
    computed yet, by an older rule, or unreadable: it is then computed again)."""
    if not is_current(source):
        return None
    try:
        with source.mask.open("rb") as fh:
            return open_image(fh, **image_limits()).convert("L")
    except (OSError, ImageError) as exc:
        logger.warning("cannot read the product mask of %s: %s", source, exc)
        return None


def store_mask(source: SourceImage, mask: Image.Image, *, method: str, coverage: float, confidence: float):
    """Write the mask and record it on the source, unless the photo changed meanwhile."""
    buffer = io.BytesIO()
    mask.convert("L").save(buffer, "PNG", optimize=True)
    name = files.save_atomically(mask_name(source), buffer.getvalue())
    info = {"hash": source.content_hash, "version": MASK_VERSION, "method": method,
            "coverage": round(coverage, 4), "confidence": round(confidence, 4)}
    SourceImage.objects.filter(pk=source.pk, content_hash=source.content_hash).update(mask=name, mask_info=info)
    source.mask, source.mask_info = name, info
