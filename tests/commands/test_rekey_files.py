"""``stylestore_rekey_files``: files written under the old content-addressed names (an
upgraded shop's) move to keyed names, so they cannot be found from public data either."""
from io import StringIO

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command

from shop.models import Category, Product
from stylestore.conf import stylestore_settings
from stylestore.models import Style, StylizedImage
from stylestore.storage import variant_storage
from stylestore.variants import files, requests
from stylestore.variants.sources import sync_sources
from tests.conftest import make_image_bytes
from tests.s3 import fetch

pytestmark = pytest.mark.django_db


def old_name(row):
    """The content-addressed name variant files had before keyed names."""
    h = row.source_hash
    return f"{stylestore_settings.UPLOAD_TO}/{h[:2]}/{h}/{row.style_id}/{row.params_hash}.{row.output_format}"


@pytest.fixture
def upgraded_rows(settings):
    """Two products with the same photo (so one old file shared by two rows), one unreviewed variant each."""
    settings.STYLESTORE = {**settings.STYLESTORE, "AUTO_APPROVE": False}
    category = Category.objects.create(name="Ceramics", slug="ceramics")
    products = []
    for slug in ("vase", "vase-twin"):
        product = Product(name=slug, slug=slug, category=category, price="1.00")
        product.image.save(f"{slug}.jpg", ContentFile(make_image_bytes((64, 64))), save=True)
        products.append(product)
    style = Style.objects.create(name="Ink", slug="ink", kind=Style.Kind.PRESET, preset_weights={"3": 1})
    ids = requests.request_variants(sync_sources(products, "image"), [style], requests.RenderRequest(max_side=256),
                                    enqueue=False).created
    rows = list(StylizedImage.objects.filter(pk__in=ids).order_by("pk"))
    for row in rows:
        row.file.name = files.save_atomically(old_name(row), make_image_bytes((64, 64), fmt="WEBP"))
        row.status = StylizedImage.Status.READY
        row.save()
    assert rows[0].file.name == rows[1].file.name
    return rows


def test_old_names_move_to_keyed_names(client, upgraded_rows):
    old = upgraded_rows[0].file.name
    assert fetch(client, variant_storage().url(old))[0] == 200  # found from public data, before
    out = StringIO()
    call_command("stylestore_rekey_files", stdout=out)
    assert out.getvalue().strip() == "Moved 2 variant files to keyed names."
    rows = list(StylizedImage.objects.order_by("pk"))
    assert {row.file.name for row in rows} == {files.variant_name(rows[0])}
    assert fetch(client, variant_storage().url(old))[0] in (403, 404)
    assert not variant_storage().exists(old)
    assert variant_storage().open(rows[0].file.name).read() == make_image_bytes((64, 64), fmt="WEBP")

    out = StringIO()
    call_command("stylestore_rekey_files", stdout=out)
    assert out.getvalue().strip() == "Moved 0 variant files to keyed names."


def test_a_missing_file_is_reported_and_left_alone(upgraded_rows):
    variant_storage().delete(upgraded_rows[0].file.name)
    out, err = StringIO(), StringIO()
    call_command("stylestore_rekey_files", stdout=out, stderr=err)
    assert out.getvalue().strip() == "Moved 0 variant files to keyed names. 2 missing."
    assert "is missing; left as it is" in err.getvalue()
    assert set(StylizedImage.objects.values_list("file", flat=True)) == {upgraded_rows[0].file.name}
