"""API test fixtures: a catalogue with generated photos, styles, ready variants, and
users for every row of the permissions matrix."""
import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.base import ContentFile
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from shop.models import Category, Product
from stylestore.models import Style
from stylestore.variants.sources import sync_sources
from tests.conftest import make_image_bytes
from tests.variants import ready_variant

STAFF_PERMISSIONS = ("apply_style", "add_style", "change_style", "view_style", "change_stylizedimage")


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def make_user(db):
    def make(username, *codenames, is_staff=True, is_superuser=False):
        user = User.objects.create_user(username, is_staff=is_staff, is_superuser=is_superuser)
        user.user_permissions.add(*Permission.objects.filter(content_type__app_label="stylestore",
                                                             codename__in=codenames))
        return user

    return make


@pytest.fixture
def users(make_user):
    """The permissions matrix: who may do what is decided by staff status and permissions."""
    return {
        "customer": make_user("customer", *STAFF_PERMISSIONS, is_staff=False),
        "staff": make_user("staff"),
        "editor": make_user("editor", *STAFF_PERMISSIONS),
        "superuser": make_user("root", is_superuser=True),
    }


def token_client(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@pytest.fixture
def client_as(users):
    """An API client for a row of the matrix: ``"anonymous"`` or a key of ``users``."""
    return lambda who: APIClient() if who == "anonymous" else token_client(users[who])


@pytest.fixture
def editor(users):
    return token_client(users["editor"])


@pytest.fixture
def category(db):
    return Category.objects.create(name="Ceramics", slug="ceramics")


@pytest.fixture
def make_product(category):
    def make(slug, *, color=(200, 80, 40), with_image=True):
        product = Product(name=slug.title(), slug=slug, category=category, price="10.00")
        if with_image:
            product.image.save(f"{slug}.jpg", ContentFile(make_image_bytes((96, 64), color=color)), save=False)
        product.save()
        return product

    return make


@pytest.fixture
def product(make_product):
    return make_product("vase")


@pytest.fixture
def styles(db):
    ink = Style.objects.create(name="Ink", slug="ink", kind=Style.Kind.PRESET, preset_weights={"3": 1})
    wave = Style(name="Wave", slug="wave", kind=Style.Kind.IMAGE, description="Hokusai", attribution="Public domain")
    wave.image.save("wave.jpg", ContentFile(make_image_bytes((64, 64), color=(20, 60, 160))), save=True)
    retired = Style.objects.create(name="Retired", slug="retired", kind=Style.Kind.PRESET, preset_weights={"1": 1},
                                   active=False)
    return {"ink": ink, "wave": wave, "retired": retired}


@pytest.fixture
def source(product):
    return sync_sources([product], "image")[0]


@pytest.fixture
def make_variant():
    """``tests.variants.ready_variant``: a variant row with a real file, ready and approved unless told otherwise."""
    return ready_variant

