"""The output formats a variant can be written in: the one table of them.

It lives in the engine, the lowest layer, so the encoder, the model's choices, the
forms, the API and the commands all read the same rows.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class OutputFormat:
    name: str  #: what settings, the API and the database say ("webp")
    label: str  #: what people read ("WebP")
    extension: str  #: of the files written, without the dot
    media_type: str
    pil_format: str  #: Pillow's encoder name


#: In order of preference: the first is the default where nothing else is said.
OUTPUT_FORMATS = {
    f.name: f
    for f in (
        OutputFormat("webp", "WebP", "webp", "image/webp", "WEBP"),
        OutputFormat("jpeg", "JPEG", "jpg", "image/jpeg", "JPEG"),
        OutputFormat("png", "PNG", "png", "image/png", "PNG"),
    )
}
#: The names alone, for choices and validation.
FORMATS = tuple(OUTPUT_FORMATS)
#: ``(name, label)`` pairs, for Django and DRF choices.
CHOICES = [(f.name, f.label) for f in OUTPUT_FORMATS.values()]
