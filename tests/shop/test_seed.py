import pytest
from django.core.management import call_command
from PIL import Image

from shop.models import Category, Product
from stylestore.models import Batch, Style, StylizedImage

pytestmark = pytest.mark.django_db


def test_seed_demo_is_idempotent():
    call_command("seed_demo")
    first = {p.slug: p.image.name for p in Product.objects.all()}
    call_command("seed_demo")
    assert Product.objects.count() == 8
    assert Category.objects.count() == 4
    assert Style.objects.filter(kind=Style.Kind.IMAGE).count() == 8
    assert Style.objects.filter(kind=Style.Kind.PRESET).count() == 3
    # Files are not re-uploaded on the second run.
    assert {p.slug: p.image.name for p in Product.objects.all()} == first
    for product in Product.objects.all():
        with Image.open(product.image.path) as img:
            assert min(img.size) >= 256
    for style in Style.objects.filter(kind=Style.Kind.IMAGE):
        assert style.image and style.image.storage.exists(style.image.name)


def test_seed_demo_render_queues_every_style_for_every_product_of_a_new_catalogue():
    call_command("seed_demo", "--render")
    queued = StylizedImage.objects.all()
    assert queued.count() == 8 * 11 and set(queued.values_list("status", flat=True)) == {"pending"}
    assert {(v.source.object_id, v.style_id) for v in queued} == {
        (str(p.pk), s.pk) for p in Product.objects.all() for s in Style.objects.all()}
    assert Batch.objects.get().origin == Batch.Origin.COMMAND
    # An existing catalogue: nothing queued again, whatever an admin has done since.
    queued.filter(style__kind=Style.Kind.PRESET).delete()
    call_command("seed_demo", "--render")
    assert StylizedImage.objects.count() == 8 * 8 and Batch.objects.count() == 1


def test_seed_demo_restores_a_missing_file():
    call_command("seed_demo")
    product = Product.objects.first()
    product.image.storage.delete(product.image.name)
    call_command("seed_demo")
    product.refresh_from_db()
    assert product.image.storage.exists(product.image.name)


def test_demo_admin_prints_working_credentials(client, capsys, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    call_command("demo_admin")
    call_command("demo_admin")
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Admin login:")]
    assert len(lines) == 2 and lines[0] == lines[1]
    username, password = lines[0].split(": ", 1)[1].split(" / ")
    assert client.login(username=username, password=password)
    assert client.get("/admin/").status_code == 200
