"""The automatic quality gate, through the real worker path (in process, real engine):
a variant that fails is held for review, never shown, and shown once approved."""
import io

import pytest
from django.core.files.base import ContentFile

from shop.models import Category, Product
from stylestore import tasks
from stylestore.models import Style, StylizedImage
from stylestore.variants import requests
from stylestore.variants.sources import sync_sources
from tests.engine.samples import DEEP_RED, studio, woven

pytestmark = pytest.mark.django_db

Review = StylizedImage.Review


@pytest.fixture
def dark_product(db):
    shot, _ = studio("ellipse", DEEP_RED, (200, 170), seed=21)
    category = Category.objects.create(slug="blankets", name="Blankets")
    product = Product(name="Serape", slug="serape", category=category, price="10.00")
    data = io.BytesIO()
    shot.save(data, "JPEG", quality=95)
    product.image.save("serape.jpg", ContentFile(data.getvalue()), save=True)
    return sync_sources([product], "image")[0]


@pytest.fixture
def textile(db):
    """A product photographed edge to edge: no backdrop for the style to go to."""
    category = Category.objects.create(slug="rugs", name="Rugs")
    product = Product(name="Kilim", slug="kilim", category=category, price="10.00")
    data = io.BytesIO()
    woven("zigzag", seed=1).save(data, "PNG")
    product.image.save("kilim.png", ContentFile(data.getvalue()), save=True)
    return sync_sources([product], "image")[0]


@pytest.fixture
def ink(db):
    return Style.objects.create(name="Ink", slug="ink", kind=Style.Kind.PRESET, preset_weights={"3": 1})


def render(source, style, **request):
    ids = requests.request_variants([source], [style], requests.RenderRequest(max_side=256, **request)).created
    tasks.render_variants(ids)
    return StylizedImage.objects.get(pk=ids[0])


def test_a_variant_within_the_limits_passes_and_is_shown(dark_product, ink, settings):
    settings.STYLESTORE = {**settings.STYLESTORE, "AUTO_APPROVE": True}
    variant = render(dark_product, ink)
    assert variant.status == StylizedImage.Status.READY
    assert variant.metrics["gate"] == {"passed": True, "reasons": []}
    assert variant.metrics["product_delta_e"] <= 3.0  # the defaults keep the dark product true
    assert variant.review == Review.UNREVIEWED
    assert StylizedImage.objects.visible().filter(pk=variant.pk).exists()


def test_a_variant_that_changes_the_product_is_held_even_with_auto_approve(dark_product, ink, settings):
    settings.STYLESTORE = {**settings.STYLESTORE, "AUTO_APPROVE": True,
                           "QUALITY_GATE": {"PRODUCT_DELTA_E": 0.5, "STRUCTURE": None}}
    variant = render(dark_product, ink)
    assert variant.status == StylizedImage.Status.READY and variant.file
    assert variant.review == Review.HELD
    assert variant.metrics["gate"]["passed"] is False
    assert "product colour changed" in variant.metrics["gate"]["reasons"][0]
    assert not StylizedImage.objects.visible().filter(pk=variant.pk).exists()
    # Approved on purpose, it is shown.
    StylizedImage.objects.filter(pk=variant.pk).update(review=Review.APPROVED)
    assert StylizedImage.objects.visible().filter(pk=variant.pk).exists()


def test_a_creative_render_is_not_held_for_colour_but_is_for_lost_shape(dark_product, ink, settings):
    settings.STYLESTORE = {**settings.STYLESTORE, "QUALITY_GATE": {"PRODUCT_DELTA_E": 0.5, "STRUCTURE": 0.999}}
    variant = render(dark_product, ink, preserve_color=False)
    assert variant.metrics["product_delta_e"] > 5  # asked to change the product, it did
    reasons = variant.metrics["gate"]["reasons"]
    assert variant.review == Review.HELD and len(reasons) == 1 and "shape" in reasons[0]


def test_a_product_that_fills_its_photo_is_held_where_the_style_would_barely_show(textile, ink, settings):
    """With the defaults (colours kept, the whole picture) a textile edge to edge keeps
    its photo: a look no customer could tell from the original is held, saying why; a
    style asked for on the product alone is meant to be faint, and passes."""
    settings.STYLESTORE = {**settings.STYLESTORE, "AUTO_APPROVE": True, "QUALITY_GATE": {"STYLE_VISIBILITY": 0.05}}
    faint = render(textile, ink)
    assert faint.status == StylizedImage.Status.READY and faint.file
    assert faint.metrics["style_visibility"] < 0.05 and faint.metrics["product_delta_e"] <= 3.0
    assert faint.review == Review.HELD
    assert faint.metrics["gate"]["passed"] is False
    (reason,) = faint.metrics["gate"]["reasons"]
    assert "the style barely shows" in reason and "fills the photo" in reason
    assert not StylizedImage.objects.visible().filter(pk=faint.pk).exists()

    on_the_product = render(textile, ink, region="product")
    assert on_the_product.metrics["gate"] == {"passed": True, "reasons": []}
    assert StylizedImage.objects.visible().filter(pk=on_the_product.pk).exists()

    settings.STYLESTORE = {**settings.STYLESTORE, "QUALITY_GATE": {"STYLE_VISIBILITY": None}}
    assert render(textile, ink, region="background").review == Review.UNREVIEWED  # the check switched off
