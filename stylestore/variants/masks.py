"""Product masks of source photos: where the product is, stored beside the photo.

A mask is computed once per photo content by a worker (with the embedding, or by the
first render that needs it) and kept as an 8-bit PNG matte under a name derived from
the photo's content hash, so a changed photo never meets its old mask
(``sources.refresh`` forgets it). The photo's own transparency wins over the network
whenever it has some. ``SourceImage.mask_info["method"]`` says how the product was found
(``engine.saliency.ProductMask.method``).
"""
import io
import logging

from PIL import Image

from ..conf import image_limits, stylestore_settings
from ..engine.errors import ImageError
from ..engine.gate import open_image
from ..models import SourceImage
from . import files

logger = logging.getLogger(__name__)


def mask_name(source: SourceImage) -> str:
    digest = source.content_hash
    return f"{stylestore_settings.MASKS_UPLOAD_TO}/{digest[:2]}/{digest}.png"


def stored_mask(source: SourceImage) -> Image.Image | None:
    """The stored mask of the photo's current content, or None (not computed yet, or
    unreadable: it is then computed again)."""
    info = source.mask_info or {}
    if not source.mask or info.get("hash") != source.content_hash:
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
    info = {"hash": source.content_hash, "method": method, "coverage": round(coverage, 4),
            "confidence": round(confidence, 4)}
    SourceImage.objects.filter(pk=source.pk, content_hash=source.content_hash).update(mask=name, mask_info=info)
    source.mask, source.mask_info = name, info
