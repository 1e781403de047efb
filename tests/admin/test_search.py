"""Finding variants and source images by the product behind them (its name, as the
product's own admin searches it, or its reference); filters that list only what
applies: source models in the content-type filter, the policy's reasons in the events'."""
import pytest
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from shop.models import Product
from stylestore.admin.sources import SourceModelFilter
from stylestore.models import SourceImage, StyleEvent, Visitor
from stylestore.variants import requests

pytestmark = pytest.mark.django_db

VARIANTS = reverse("admin:stylestore_stylizedimage_changelist")
SOURCES = reverse("admin:stylestore_sourceimage_changelist")
EVENTS = reverse("admin:stylestore_styleevent_changelist")


@pytest.fixture
def staff(client, db):
    client.force_login(User.objects.create_superuser("boss", password="unused"))
    return client


@pytest.fixture
def variants(products, styles):
    """Every product in both styles: 6 variants."""
    return requests.request_for_objects(products, "image", list(styles.values()), requests.RenderRequest(max_side=256))


def listed(response):
    return list(response.context["cl"].result_list)


def test_variants_are_found_by_product_name_and_reference(staff, products, variants):
    vase = products[0]
    found = listed(staff.get(VARIANTS, {"q": "vase"}))
    assert len(found) == 2 and {v.source.object_id for v in found} == {str(vase.pk)}
    found = listed(staff.get(VARIANTS, {"q": f"shop.product:{vase.pk}"}))
    assert {v.source.object_id for v in found} == {str(vase.pk)}
    assert len(listed(staff.get(VARIANTS, {"q": "Ink"}))) == 3  # the style's name, as before
    assert listed(staff.get(VARIANTS, {"q": "no such thing"})) == []
    assert listed(staff.get(VARIANTS, {"q": "shop.product:999999"})) == []


def test_the_search_keeps_the_list_filters(staff, products, variants, styles):
    found = listed(staff.get(VARIANTS, {"q": "vase", "style__id__exact": styles["wave"].pk}))
    assert [(v.source.object_id, v.style_id) for v in found] == [(str(products[0].pk), styles["wave"].pk)]


def test_a_renamed_product_is_found_by_its_new_name(staff, products, variants):
    products[1].name = "Serape"
    products[1].save()
    found = listed(staff.get(VARIANTS, {"q": "Serape"}))
    assert len(found) == 2 and {v.source.object_id for v in found} == {str(products[1].pk)}
    assert listed(staff.get(VARIANTS, {"q": "Bowl"})) == []


def test_source_images_by_name_and_only_source_models_in_the_type_filter(staff, products, variants):
    found = listed(staff.get(SOURCES, {"q": "Rug"}))
    assert [s.object_id for s in found] == [str(products[2].pk)]
    # (With one source model, as here, Django does not show a filter of one choice at all.)
    field = SourceImage._meta.get_field("content_type")
    choices = SourceModelFilter.field_choices(None, field, None, None)
    assert choices == [(ContentType.objects.get_for_model(Product).pk, str(ContentType.objects.get_for_model(Product)))]


def test_the_events_reason_filter_lists_reasons_not_style_ids(staff, styles, products):
    visitor = Visitor.objects.create()
    source = SourceImage.objects.first() or requests.sync_sources(products[:1], "image")[0]
    StyleEvent.objects.create(visitor=visitor, kind="pick", source=source, style=styles["ink"],
                              reason=str(styles["ink"].pk))
    StyleEvent.objects.create(visitor=visitor, kind="impression", source=source, style=styles["ink"],
                              reason="explore", propensity=0.2)
    response = staff.get(EVENTS)
    reason_filter = next(spec for spec in response.context["cl"].filter_specs
                         if getattr(spec, "parameter_name", None) == "reason")
    values = [value for value, _label in reason_filter.lookup_choices]
    assert str(styles["ink"].pk) not in values and "explore" in values and "history" in values
    assert [e.reason for e in listed(staff.get(EVENTS, {"reason": "explore"}))] == ["explore"]
