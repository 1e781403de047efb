"""Admin test fixtures: a small catalogue with generated photos, styles, and staff users
with exactly the permissions a test names."""
import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.base import ContentFile

from shop.models import Category, Product
from stylestore.models import Style
from tests.conftest import make_image_bytes


def make_product(name, category, *, color=(200, 80, 40), with_image=True):
    product = Product(name=name, slug=name.lower().replace(" ", "-"), category=category, price="10.00")
    if with_image:
        product.image.save(f"{product.slug}.jpg", ContentFile(make_image_bytes((96, 64), color=color)), save=False)
    product.save()
    return product


@pytest.fixture
def categories(db):
    return {slug: Category.objects.create(name=slug.title(), slug=slug) for slug in ("ceramics", "textiles")}


@pytest.fixture
def products(categories):
    """Two ceramics and one textile, each photo a different colour (so a different hash)."""
    return [
        make_product("Vase", categories["ceramics"], color=(200, 80, 40)),
        make_product("Bowl", categories["ceramics"], color=(40, 160, 90)),
        make_product("Rug", categories["textiles"], color=(30, 60, 200)),
    ]


@pytest.fixture
def styles(db):
    ink = Style.objects.create(name="Ink", slug="ink", kind=Style.Kind.PRESET, preset_weights={"3": 1})
    wave = Style(name="Wave", slug="wave", kind=Style.Kind.IMAGE)
    wave.image.save("wave.jpg", ContentFile(make_image_bytes((64, 64), color=(20, 60, 160))), save=True)
    Style.objects.create(name="Retired", slug="retired", kind=Style.Kind.PRESET, preset_weights={"1": 1}, active=False)
    return {"ink": ink, "wave": wave}


@pytest.fixture
def make_staff(db):
    def make(*codenames, username="editor"):
        user = User.objects.create_user(username, password="unused", is_staff=True)
        user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
        return user

    return make


@pytest.fixture
def editor_client(client, make_staff):
    """Staff allowed to see products and categories and to apply styles."""
    client.force_login(make_staff("view_product", "change_product", "view_category", "apply_style"))
    return client
