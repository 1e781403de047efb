"""The hostile corpus through the admin, ModelForms, model validation and direct saves.

Refused files must give a form error with a clear message and leave neither a row nor
a file behind; accepted ones must be stored as the gate's clean re-encoding.
"""
import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.forms import modelform_factory
from django.utils.html import escape

from shop.models import Product
from stylestore.engine import errors
from stylestore.fields import GatedImageFormField
from stylestore.models import Style
from tests.fixtures import hostile_images as corpus

from .conftest import assert_clean_copy, stored_files

pytestmark = pytest.mark.django_db

PRODUCT_ADD = "/admin/shop/product/add/"
STYLE_ADD = "/admin/stylestore/style/add/"

#: The form error code for each refusal (an empty upload is refused by Django's own
#: FileField check before the gate is asked).
CODES = {
    errors.ImageTooLarge: "image_too_large",
    errors.ImageTooSmall: "image_too_small",
    errors.CorruptImage: "image_corrupt",
    errors.UnsupportedFormat: "image_unsupported",
}


def expected_code(case):
    return "empty" if not case.data else CODES[case.error]


def product_form(category, case):
    return {
        "name": "Vase", "slug": "vase", "category": str(category.pk), "price": "10.00", "description": "",
        "image_alt": "", "attribution": "", "image": SimpleUploadedFile(case.filename, case.data), "_save": "Save",
    }


@pytest.mark.parametrize("case", corpus.REJECTED, ids=lambda c: c.name)
def test_admin_refuses_hostile_product_image(admin_client, category, media_root, case):
    response = admin_client.post(PRODUCT_ADD, product_form(category, case))
    assert response.status_code == 200
    form = response.context["adminform"].form
    (error,) = form.errors.as_data()["image"]
    assert error.code == expected_code(case)
    message = error.messages[0]
    assert escape(message) in response.content.decode()
    assert Product.objects.count() == 0
    assert stored_files(media_root, "products") == []


@pytest.mark.parametrize("case", corpus.ACCEPTED, ids=lambda c: c.name)
def test_admin_stores_the_clean_copy(admin_client, category, media_root, case):
    response = admin_client.post(PRODUCT_ADD, product_form(category, case))
    assert response.status_code == 302, response.context["adminform"].form.errors
    product = Product.objects.get()
    (path,) = stored_files(media_root, "products")
    assert product.image.name == f"products/{path.name}"
    assert_clean_copy(product.image.name, path.read_bytes(), case)


@pytest.mark.parametrize("case", corpus.REJECTED, ids=lambda c: c.name)
def test_admin_refuses_hostile_style_image(admin_client, media_root, case):
    data = {"name": "Wave", "slug": "wave", "kind": Style.Kind.IMAGE, "engine": "", "default_strength": "1",
            "preserve_color": "on", "active": "on", "image": SimpleUploadedFile(case.filename, case.data),
            "_save": "Save"}
    response = admin_client.post(STYLE_ADD, data)
    assert response.status_code == 200
    # The gate's error comes first; Style.clean then also notes that the style has no image.
    first = response.context["adminform"].form.errors.as_data()["image"][0]
    assert first.code == expected_code(case)
    assert Style.objects.count() == 0
    assert stored_files(media_root, "stylestore") == []


def test_model_forms_use_the_gate():
    for model in (Product, Style):
        form_class = modelform_factory(model, fields=["image"])
        field = form_class.base_fields["image"]
        assert isinstance(field, GatedImageFormField)
        assert "image/jpeg" in field.widget.attrs["accept"]


@pytest.mark.parametrize("case", [c for c in corpus.REJECTED if c.data], ids=lambda c: c.name)
def test_full_clean_refuses_an_assigned_upload(category, case):
    """Model validation (any form, or code calling full_clean) runs the same gate."""
    product = Product(name="Vase", slug="vase", category=category, price="1.00")
    product.image = SimpleUploadedFile(case.filename, case.data)
    with pytest.raises(ValidationError) as refused:
        product.full_clean()
    assert refused.value.error_dict["image"][0].code == CODES[case.error]


@pytest.mark.parametrize("case", corpus.REJECTED, ids=lambda c: c.name)
def test_saving_a_file_directly_stores_nothing(category, media_root, case):
    """Code that bypasses forms (imports, scripts) meets the gate when it stores the file."""
    product = Product(name="Vase", slug="vase", category=category, price="1.00")
    with pytest.raises(ValidationError):
        product.image.save(case.filename, ContentFile(case.data), save=True)
    assert Product.objects.count() == 0
    assert stored_files(media_root, "products") == []


def test_saving_a_file_directly_stores_the_clean_copy(category, media_root):
    case = corpus.BY_NAME["jpeg_with_exif_gps"]
    product = Product(name="Vase", slug="vase", category=category, price="1.00")
    product.image.save(case.filename, ContentFile(case.data), save=True)
    assert product.image.name == "products/photo.jpg"  # .jpeg normalised to the stored format's extension
    assert_clean_copy(product.image.name, product.image.read(), case)
