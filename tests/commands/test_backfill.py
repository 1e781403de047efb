"""``manage.py stylestore_backfill``: a catalogue that predates Stylestore gets its
hashes, sizes and embeddings; a second run does nothing twice; bad input is refused."""
import io

import pytest
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command
from django.db.models.signals import post_save
from django_q.brokers import get_broker

from shop.models import Category, Product
from stylestore.engine import saliency
from stylestore.models import SourceImage
from stylestore.personalization import caches
from stylestore.variants import handlers
from tests.conftest import make_image_bytes
from tests.personalization.conftest import make_styles, make_variant  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


@pytest.fixture
def old_catalogue(db):
    """Three products with photos and one without, saved while Stylestore was not
    listening (as before its install): no source rows."""
    post_save.disconnect(handlers.source_saved, sender=Product, dispatch_uid="stylestore-save-shop.product")
    try:
        category = Category.objects.create(name="Ceramics", slug="ceramics")
        products = []
        for i, size in enumerate([(64, 48), (96, 64), (128, 96)]):
            product = Product(name=f"Vase {i}", slug=f"vase-{i}", category=category, price="10.00")
            product.image.save(f"vase-{i}.jpg", ContentFile(make_image_bytes(size, color=(40 * i, 90, 160))),
                               save=False)
            product.save()
            products.append(product)
        Product.objects.create(name="No photo", slug="no-photo", category=category, price="1.00")
    finally:
        post_save.connect(handlers.source_saved, sender=Product, dispatch_uid="stylestore-save-shop.product")
    assert not SourceImage.objects.exists()
    return products


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("stylestore_backfill", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_hashes_sizes_and_queues_embeddings_once(old_catalogue):
    before = get_broker().queue_size()
    out, err = run()
    sources = {s.object_id: s for s in SourceImage.objects.all()}
    assert set(sources) == {str(p.pk) for p in old_catalogue}  # the product without a photo has none
    assert [(sources[str(p.pk)].width, sources[str(p.pk)].height) for p in old_catalogue] == [
        (64, 48), (96, 64), (128, 96)]
    assert all(len(s.content_hash) == 64 for s in sources.values())
    assert ("Hashed 3 photos (0 unreadable); 3 need an embedding or a product mask (3 without a mask by "
            "today's rule).") in out
    assert "3/3 done (3 hashed, 0 unreadable)" in err
    # One task for the three photos, one for the preset swatches the admin lacks (any broker).
    assert get_broker().queue_size() == before + 2
    updated = {s.pk: s.updated_at for s in sources.values()}
    out, _ = run()
    assert "Hashed 0 photos" in out  # resumed: nothing read twice
    assert {s.pk: s.updated_at for s in SourceImage.objects.all()} == updated


def test_resumes_after_an_interruption_and_reports_unreadable_files(old_catalogue):
    run("--batch-size", "1")
    SourceImage.objects.filter(object_id=str(old_catalogue[2].pk)).delete()  # as if stopped before the last
    old_catalogue[1].image.storage.delete(old_catalogue[1].image.name)
    out, err = run()
    assert "Hashed 1 photos (0 unreadable)" in out
    out, _ = run("--rehash", "--model", "shop.Product")
    assert "Hashed 2 photos (1 unreadable)" in out
    assert SourceImage.objects.get(object_id=str(old_catalogue[1].pk)).content_hash == ""


def test_sync_computes_the_embeddings_here_and_more_in_this_style_follows(old_catalogue, client, make_styles,
                                                                         make_variant):
    more = f"/api/v1/sources/shop.product:{old_catalogue[0].pk}/more-in-this-style/"
    assert client.get(more).json()["results"] == []  # before: nothing to rank with
    out, err = run("--sync")
    assert "Embedded 3 photos (0 failed)." in out and "3/3 done (3 embedded, 0 failed)" in err
    vectors = list(SourceImage.objects.values_list("embedding", flat=True))
    assert len(vectors) == 3 and all(len(v) == len(vectors[0]) > 8 for v in vectors)
    out, _ = run("--sync")
    assert "0 need an embedding or a product mask" in out
    # After an upgrade that finds products better: only the masks are computed again.
    masked = {s.pk: (s.mask.name, s.mask_info, s.embedding) for s in SourceImage.objects.all()}
    storage = SourceImage.mask.field.storage
    for pk, (name, info, _) in masked.items():
        SourceImage.objects.filter(pk=pk).update(mask_info={**info, "version": saliency.MASK_VERSION - 1})
        storage.delete(name)
    out, _ = run("--sync")
    assert "3 need an embedding or a product mask (3 without a mask by today's rule)" in out
    for source in SourceImage.objects.all():
        name, info, embedding = masked[source.pk]
        assert source.mask_info == info and source.embedding == embedding and storage.exists(name)
    (style,) = make_styles(1)
    for product in old_catalogue:  # "More in this style" lists products shown in a style
        make_variant(product, style)
    caches.clear_caches()  # as the per-process tables expire
    results = client.get(more).json()["results"]
    assert {r["source"] for r in results} == {f"shop.product:{p.pk}" for p in old_catalogue[1:]}


@pytest.mark.parametrize("args, message", [
    (["--model", "auth.user"], "Not in STYLESTORE['SOURCE_MODELS']: auth.user"),
    (["--model", "nope.model"], "unknown model 'nope.model'"),
    (["--batch-size", "0"], "--batch-size must be at least 1"),
])
def test_bad_input_is_refused(db, args, message):
    with pytest.raises(CommandError, match=message.replace("[", r"\[").replace("]", r"\]")):
        run(*args)
