"""One visitor sees one look per product everywhere: on the listing's card, on the
product's page, through the API, on a refresh."""
import pytest
from django.test import Client
from django.utils import timezone

from stylestore.models import StyleHourlyStats
from stylestore.personalization import population

from .conftest import impressions, page_images, post_events, shown_styles, style_of

pytestmark = pytest.mark.django_db


def browsing_predicts_clicks(styles):
    """Counters of a shop where clicks rise with the history share as ``0.03 (1 + 3 q)``
    (q uniform): the fitted history weight is well above 0, so views move looks."""
    hour = population.hour_start(timezone.now())
    StyleHourlyStats.objects.bulk_create([
        StyleHourlyStats(style=style, hour=hour, impressions=10_000, clicks=750, share_sum=5_000,
                         share_sq_sum=10_000 / 3, click_share_sum=450)
        for style in styles
    ])
    assert population.global_model().history_weight > 1


@pytest.mark.parametrize("browsing_counts", [False, True])
def test_new_visitors_see_the_listing_cards_look_on_the_product_page_and_on_refresh(world, browsing_counts):
    """Products that look like different styles, so each view moves a visitor's
    browsing (and, once browsing counts, would move the policy's choice: the product
    page chooses from the state its own view leaves); each new visitor opens each
    product from the listing, as a browser does (the listing's impressions reported,
    the product page's view and impression too)."""
    products, styles = world(4, 3, looks=[2, 1, 0, 2])
    if browsing_counts:
        browsing_predicts_clicks(styles)
    for visitor in range(6):
        client = Client()
        listing_html = client.get("/").content.decode()
        card = {ref: style_of(attrs["src"]) for ref, attrs in page_images(listing_html).items()}
        assert post_events(client, impressions(listing_html)).status_code == 202
        for product in products:
            ref = f"shop.product:{product.pk}"
            html = client.get(product.get_absolute_url()).content.decode()
            shown = page_images(html)[ref]
            assert style_of(shown["src"]) == card[ref], (visitor, ref)
            post_events(client, [{"kind": "view", "source": ref},
                                 {"kind": "impression", "choice": shown["data-stylestore-choice"]}])
            api = client.get(f"/api/v1/sources/{ref}/personalized/")
            assert api.status_code == 200 and style_of(api.json()["url"]) == card[ref], (visitor, ref)
        assert shown_styles(client) == card, visitor
