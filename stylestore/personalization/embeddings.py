"""Embeddings: the styles' and the product photos' style vectors, as tables the policy
ranks with (computed by the workers, read here and kept per process)."""
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import numpy as np
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from ..models import SourceImage, Style
from . import policy
from .caches import EMBEDDINGS_TTL, cache


def _valid_vector(vector):
    """A non-empty list of finite numbers, not all zero. Checked with numpy: checking
    each number in Python was most of reading 10,000 photos' embeddings."""
    if not isinstance(vector, list) or not vector:
        return False
    try:
        array = np.asarray(vector)
    except ValueError:  # lists of different lengths inside
        return False
    return array.ndim == 1 and array.dtype.kind in "iuf" and bool(np.isfinite(array).all()) and bool(array.any())


def _table(vectors: dict):
    """An EmbeddingTable of the vectors sharing the most common length (a corrupt or
    old-format row must not take the whole table down)."""
    lengths = {}
    for vector in vectors.values():
        lengths[len(vector)] = lengths.get(len(vector), 0) + 1
    if not lengths:
        return policy.EmbeddingTable({})
    size = max(lengths, key=lambda n: (lengths[n], n))  # a tie: the longer, whatever the rows' order
    return policy.EmbeddingTable({k: v for k, v in vectors.items() if len(v) == size})


def style_vectors() -> dict:
    """``{style key: style vector}`` of the active styles that have one (image styles,
    once a worker computed it; presets have none and rank by global CTR only)."""

    def load():
        rows = Style.objects.filter(active=True, style_vector__isnull=False).values_list("pk", "style_vector")
        return {str(pk): vector for pk, vector in rows if _valid_vector(vector)}

    return cache.get("style_vectors", EMBEDDINGS_TTL, load)


def style_table() -> policy.EmbeddingTable:
    return cache.get("style_table", EMBEDDINGS_TTL, lambda: _table(style_vectors()))


def view_preference(source_id, embedding, temperature) -> dict:
    """How a view of this photo spreads over the styles (``policy.view_preference``),
    or {} while it has no usable embedding (the worker has not computed it yet).

    Kept per process for ``EMBEDDINGS_TTL`` by source: it is the same for every
    visitor, and computing it was most of what a product's first view added to its
    page."""
    memo = cache.get(("view_preferences", temperature), EMBEDDINGS_TTL, dict)
    preference = memo.get(source_id)
    if preference is None:
        table = style_table()
        preference = {}
        if embedding and len(table) and len(embedding) == table.matrix.shape[1]:
            try:
                preference = policy.view_preference(table, embedding, temperature)
            except ValueError:  # a zero or non-finite embedding
                pass
        memo[source_id] = preference
    return preference


#: An index brought up to date reads again the rows changed this long before its last
#: update: a transaction that committed late, or a writer whose clock is behind.
CHANGES_OVERLAP = timedelta(minutes=5)


@dataclass(frozen=True)
class PhotoIndex:
    """One image field's photos: ``sources`` maps object id to ``SourceImage`` id,
    ``table`` holds the embeddings (keyed by object id) of those that have one."""

    sources: dict
    table: policy.EmbeddingTable
    rows: dict  # object id -> row of table.matrix
    read_at: datetime
    # object id -> ``updated_at`` of the photos changed within CHANGES_OVERLAP of
    # ``read_at``: the next update reads them again, and skips those unchanged.
    recent: dict


def _index(sources, table, read_at, recent):
    return PhotoIndex(sources, table, {key: row for row, key in enumerate(table.keys)}, read_at, recent)


def _read_index(photos, read_at) -> PhotoIndex:
    sources, vectors, recent = {}, {}, {}
    for object_id, pk, vector, updated_at in photos.values_list("object_id", "pk", "embedding", "updated_at"):
        sources[object_id] = pk
        if _valid_vector(vector):
            vectors[object_id] = vector
        if updated_at >= read_at - CHANGES_OVERLAP:
            recent[object_id] = updated_at
    return _index(sources, _table(vectors), read_at, recent)


def _updated_index(index, photos, read_at) -> PhotoIndex:
    """``index`` with the photos changed since it was read: the cost follows the
    changes, not the catalogue (reading every photo again took 2.5 s at 10,000).
    Deleted photos are not seen as changes: when the count says some went, everything
    is read again."""
    lately = photos.filter(updated_at__gte=index.read_at - CHANGES_OVERLAP)
    recent, changed = {}, []
    for object_id, pk, vector, updated_at in lately.values_list("object_id", "pk", "embedding", "updated_at"):
        recent[object_id] = updated_at
        if index.recent.get(object_id) != updated_at:
            changed.append((object_id, pk, vector))
    sources = {**index.sources, **{object_id: pk for object_id, pk, _ in changed}}
    if len(sources) != photos.count():
        return _read_index(photos, read_at)
    if not changed:
        return replace(index, read_at=read_at, recent=recent)
    table = index.table
    size = table.matrix.shape[1] if len(table) else None
    fresh = {object_id: vector for object_id, _, vector in changed
             if _valid_vector(vector) and (size is None or len(vector) == size)}
    if size is None:  # no embedding before these
        return _index(sources, _table(fresh), read_at, recent)
    gone = {object_id for object_id, _, _ in changed}
    kept = [key for key in table.keys if key not in gone]
    rows = {**dict(zip(kept, table.matrix[[index.rows[key] for key in kept]])), **fresh}
    return _index(sources, policy.EmbeddingTable(rows), read_at, recent)


def photo_index(content_type_id: int, field_name: str) -> PhotoIndex:
    """Read once per process, then brought up to date every ``EMBEDDINGS_TTL``."""
    photos = SourceImage.objects.filter(content_type_id=content_type_id, field_name=field_name)

    def update(index):
        read_at = timezone.now()
        return _read_index(photos, read_at) if index is None else _updated_index(index, photos, read_at)

    return cache.refresh(("photos", content_type_id, field_name), EMBEDDINGS_TTL, update)


def photo_table(content_type_id: int, field_name: str) -> policy.EmbeddingTable:
    """The product photos' embeddings of one image field, keyed by object id."""
    return photo_index(content_type_id, field_name).table


def photo_source(obj, field_name):
    """``(SourceImage id, style embedding or None)`` of ``obj.<field_name>``, or None
    if Stylestore does not know the image. From the per-process index (a product's page
    view costs no query for it); a photo newer than the index is looked up."""
    content_type_id = ContentType.objects.get_for_model(obj).pk
    index = photo_index(content_type_id, field_name)
    object_id = str(obj.pk)
    pk = index.sources.get(object_id)
    if pk is None:
        return (
            SourceImage.objects.filter(content_type_id=content_type_id, object_id=object_id, field_name=field_name)
            .values_list("pk", "embedding")
            .first()
        )
    row = index.rows.get(object_id)
    return pk, (index.table.matrix[row].tolist() if row is not None else None)
