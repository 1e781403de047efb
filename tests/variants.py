"""A rendered variant row for tests of the pages and the API, which only read what is
ready and link to its file: one helper for every surface's fixtures and the Oscar
scenarios."""
from django.core.files.base import ContentFile

from stylestore.models import StylizedImage, params_hash
from stylestore.storage import variant_storage


def ready_variant(source, style, *, size=512, width=None, output_format="webp", strength=1.0,
                  status=StylizedImage.Status.READY, review=StylizedImage.Review.APPROVED, metrics=None):
    """A variant of ``source`` in ``style``, ready and approved unless told otherwise;
    a ready one gets a file of a few bytes. Its name is readable, not the worker's keyed
    one (``variants.files.variant_name``): tests read the style's pk from
    ``stylestore/<source hash[:8]>/<style pk>/`` in a page's image URLs."""
    params = dict(strength=strength, preserve_color=True, max_side=size, output_format=output_format,
                  engine=style.effective_engine, region="all")
    digest = params_hash(**params, style_fingerprint=style.fingerprint)
    name = ""
    if status == StylizedImage.Status.READY:
        name = variant_storage().save(f"stylestore/{source.content_hash[:8]}/{style.pk}/{digest}.{output_format}",
                                      ContentFile(b"variant"))
    return StylizedImage.objects.create(
        source=source, style=style, source_hash=source.content_hash, params_hash=digest,
        style_fingerprint=style.fingerprint, status=status, review=review, file=name,
        width=width or size, height=(width or size) * 2 // 3, file_size=7, metrics=metrics or {}, **params)
