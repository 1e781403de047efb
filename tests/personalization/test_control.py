"""The control group: a share of visitors sees the original photos everywhere, and
their impressions and clicks are logged with the probability of being in it."""
import pytest
from django.test import Client

from stylestore.models import StyleEvent, StyleHourlyStats
from stylestore.personalization import policy

from .conftest import impressions, page_images, post_events, style_of

pytestmark = pytest.mark.django_db


def test_control_visitors_see_originals_everywhere_and_are_logged(world, settings):
    settings.STYLESTORE = {**settings.STYLESTORE, "CONTROL_SHARE": 0.5}
    products, _ = world(3, 3)
    arms = {"control": 0, "styled": 0}
    for _ in range(30):
        client = Client()
        listing = client.get("/").content.decode()
        looks = {style_of(attrs["src"]) for attrs in page_images(listing).values()}
        product = products[0]
        page = page_images(client.get(product.get_absolute_url()).content.decode())
        api = client.get(f"/api/v1/sources/shop.product:{product.pk}/personalized/").json()
        if looks == {"original"}:
            arms["control"] += 1
            assert style_of(page[f"shop.product:{product.pk}"]["src"]) == "original"
            assert (api["style"], api["reason"], api["probability"]) == (None, "control", 0.5)
        else:
            arms["styled"] += 1
            assert "original" not in looks and api["style"] is not None
        batch = impressions(listing)
        assert post_events(client, batch + [{"kind": "click", "choice": batch[0]["choice"]}]).status_code == 202
    assert arms["control"] and arms["styled"]  # 30 visitors: each arm empty with chance 2^-30

    control = StyleEvent.objects.filter(reason="control")
    assert control.filter(kind="impression").count() == 3 * arms["control"]
    assert control.filter(kind="click").count() == arms["control"]
    assert set(control.values_list("style", "propensity").distinct()) == {(None, 0.5)}
    styled = StyleEvent.objects.filter(kind="impression").exclude(reason="control")
    assert styled.count() == 3 * arms["styled"] and all(p <= 0.5 for p in styled.values_list("propensity", flat=True))
    # The originals count for no style.
    assert sum(StyleHourlyStats.objects.values_list("impressions", flat=True)) == 3 * arms["styled"]


def test_control_probabilities_are_exact():
    params = policy.PolicyParams(epsilon=0.1, control_share=0.2)
    model = policy.fit_global({"a": policy.StyleStats(1000, 50), "b": policy.StyleStats(1000, 30)}, params)
    state = policy.VisitorState()
    probabilities = policy.action_probabilities(state, ["a", "b"], model, params)
    assert probabilities[None] == 0.2 and sum(probabilities.values()) == pytest.approx(1.0)
    shown = [policy.choose(state, ["a", "b"], model, params, visitor=f"v{i}", epoch=0) for i in range(4000)]
    assert sum(c.style is None for c in shown) / 4000 == pytest.approx(0.2, abs=0.02)
    for choice in shown:
        assert choice.propensity == pytest.approx(probabilities[choice.style])
    # Without a state (no consent) nothing is logged, so there is no control group.
    assert policy.choose(None, ["a", "b"], model, params, visitor="request", epoch=0).style is not None
