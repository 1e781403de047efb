import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction

from shop.models import Category, Product
from stylestore.models import SourceImage, Style, StylizedImage, params_hash, validate_preset_weights

pytestmark = pytest.mark.django_db


@pytest.fixture
def product(image_bytes):
    category = Category.objects.create(name="Ceramics", slug="ceramics")
    p = Product(name="Vase", slug="vase", category=category, price="10.00")
    p.image.save("vase.jpg", ContentFile(image_bytes()), save=True)
    return p


@pytest.fixture
def style():
    return Style.objects.create(name="Ink", slug="ink", kind=Style.Kind.PRESET, preset_weights={"3": 1})


def make_variant(source, style, **overrides):
    fields = dict(
        source=source, style=style, source_hash="a" * 64, style_fingerprint=style.fingerprint,
        params_hash=params_hash(strength=1, preserve_color=True, max_side=512, output_format="webp",
                                engine="preset", region="all", style_fingerprint="ink"),
        strength=1, preserve_color=True, max_side=512, output_format="webp", engine="preset",
    )
    fields.update(overrides)
    return StylizedImage.objects.create(**fields)


@pytest.fixture
def source(product):
    return SourceImage.objects.create(
        content_type=ContentType.objects.get_for_model(Product), object_id=str(product.pk),
        field_name="image", content_hash="a" * 64,
    )


def test_style_slug_is_unique(style):
    with pytest.raises(IntegrityError):
        Style.objects.create(name="Ink 2", slug="ink", kind=Style.Kind.PRESET, preset_weights={"1": 1})


def test_style_strength_range_enforced_by_database():
    with pytest.raises(IntegrityError):
        Style.objects.create(name="Bad", slug="bad", default_strength=1.5)


def test_image_style_needs_an_image():
    with pytest.raises(ValidationError) as err:
        Style(name="Painting", slug="painting", kind=Style.Kind.IMAGE).full_clean()
    assert "image" in err.value.message_dict


def test_preset_weights_are_validated_and_normalised():
    assert validate_preset_weights({"12": 1, "3": 3}) == {"3": 0.75, "12": 0.25}
    for bad in ({}, {"26": 1}, {"-1": 1}, {"x": 1}, {"2": 0}, {"2": "nan"}, [1, 2]):
        with pytest.raises(ValidationError):
            validate_preset_weights(bad)


def test_source_is_unique_per_object_and_field(source):
    with transaction.atomic(), pytest.raises(IntegrityError):
        SourceImage.objects.create(content_type=source.content_type, object_id=source.object_id,
                                   field_name="image", content_hash="b" * 64)
    assert source.reference == f"shop.product:{source.object_id}"
    assert source.source.name == "Vase"


def test_variant_unique_key(source, style):
    make_variant(source, style)
    with transaction.atomic(), pytest.raises(IntegrityError):
        make_variant(source, style)
    # A new source hash (the photo changed) is a different variant.
    make_variant(source, style, source_hash="b" * 64)
    assert StylizedImage.objects.count() == 2


def test_ready_variant_must_have_a_file(source, style):
    with transaction.atomic(), pytest.raises(IntegrityError):
        make_variant(source, style, status=StylizedImage.Status.READY)


def test_variant_strength_range_enforced(source, style):
    with transaction.atomic(), pytest.raises(IntegrityError):
        make_variant(source, style, strength=-0.1)


def test_params_hash_changes_with_every_parameter():
    base = dict(strength=1, preserve_color=True, max_side=512, output_format="webp", engine="preset", region="all",
                style_fingerprint="x")
    seen = {params_hash(**base)}
    for key, value in [("strength", 0.5), ("preserve_color", False), ("max_side", 768),
                       ("output_format", "png"), ("engine", "arbitrary"), ("region", "background"),
                       ("style_fingerprint", "y")]:
        seen.add(params_hash(**{**base, key: value}))
    assert len(seen) == 8


def test_visible_variants_need_ready_current_and_approved(source, style, settings):
    settings.STYLESTORE = {**settings.STYLESTORE, "AUTO_APPROVE": False}
    v = make_variant(source, style, status=StylizedImage.Status.READY, file="x.webp")
    assert not StylizedImage.objects.visible().exists()
    v.review = StylizedImage.Review.APPROVED
    v.save()
    assert list(StylizedImage.objects.visible()) == [v]
    source.content_hash = "c" * 64  # the photo changed: the variant is stale
    source.save()
    assert not StylizedImage.objects.visible().exists()
