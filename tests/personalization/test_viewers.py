"""The look a product's viewers see in it: their reactions are counted per image
(``ViewerDailyStats``) and a view of the image counts for the styles they click."""
import pytest
from django.utils import timezone

from stylestore.models import SourceImage, ViewerDailyStats, Visitor
from stylestore.personalization import caches, events

from .conftest import impressions, post_events, view_product

pytestmark = pytest.mark.django_db


def source_of(product):
    return SourceImage.objects.get(object_id=str(product.pk), field_name="image")


def viewer_counts():
    """``{(source id, style id): (impressions, clicks)}`` summed over the days."""
    found = {}
    for row in ViewerDailyStats.objects.all():
        seen = found.get((row.source_id, row.style_id), (0, 0))
        found[(row.source_id, row.style_id)] = (seen[0] + row.impressions, seen[1] + row.clicks)
    return found


def test_reactions_are_credited_to_the_products_viewed_before_them(client, world):
    products, styles = world(3, 3)
    view_product(client, products[0])
    view_product(client, products[1])
    html = client.get("/").content.decode()
    shown = impressions(html)
    clicked = impressions(html, kind="click")[:1]
    assert post_events(client, shown + clicked).status_code == 202

    counts = viewer_counts()
    viewed = {source_of(products[0]).pk, source_of(products[1]).pk}
    assert {source for source, _style in counts} == viewed  # not the product never viewed
    for source in viewed:
        assert sum(n for (s, _style), (n, _c) in counts.items() if s == source) == len(shown)
        assert sum(c for (s, _style), (_n, c) in counts.items() if s == source) == 1
    assert {row.day for row in ViewerDailyStats.objects.all()} == {timezone.now().date()}


def test_a_customer_s_own_picks_are_not_credited(client, world):
    products, styles = world(2, 3)
    view_product(client, products[0])
    post_events(client, [{"kind": "pick", "style": styles[2].slug}])
    html = client.get("/").content.decode()
    post_events(client, impressions(html) + impressions(html, kind="click"))
    assert not ViewerDailyStats.objects.exists()


def test_only_the_latest_views_are_credited(client, world):
    products, styles = world(events.MAX_RECENT_VIEWS + 2, 1)
    for product in products:
        view_product(client, product)
    post_events(client, impressions(client.get("/").content.decode())[:1])
    credited = {source for source, _style in viewer_counts()}
    assert credited == {source_of(product).pk for product in products[-events.MAX_RECENT_VIEWS:]}


def test_views_older_than_a_visit_are_not_credited():
    now = 1_000_000
    recent = {"7": now - events.VIEW_REPEAT_SECONDS - 1, "8": now - events.VIEW_REPEAT_SECONDS, "9": now}
    assert events.credited_views(recent, now) == ["8", "9"]
    # Views in the same second (one batch's) keep the order they were viewed in.
    same_second = {str(n): now for n in range(events.MAX_RECENT_VIEWS + 2, 0, -1)}
    assert events.credited_views(same_second, now) == list(same_second)[-events.MAX_RECENT_VIEWS:]


def history(style):
    """The visitor's browsing mass on ``style``."""
    row = Visitor.objects.get().state["s"].get(str(style.pk))
    return row[0] if row else 0.0


def seed_viewers(product, styles, clicks, column="clicks"):
    """The product's viewers: 2,000 impressions of each style and ``clicks[i]`` of
    ``column`` on style ``i``."""
    ViewerDailyStats.objects.bulk_create([
        ViewerDailyStats(source=source_of(product), style=style, day=timezone.now().date(), impressions=2000,
                         **{column: n})
        for style, n in zip(styles, clicks)
    ])


def test_a_view_counts_for_the_look_its_viewers_click(client, world):
    # The photo resembles style 0; its viewers click style 2 five times as often.
    products, styles = world(1, 3)
    seed_viewers(products[0], styles, [60, 60, 300])
    view_product(client, products[0])
    assert history(styles[2]) > 2 * history(styles[0])


def test_without_viewers_a_view_counts_for_what_the_photo_resembles(client, world):
    products, styles = world(2, 3)
    seed_viewers(products[1], styles, [60, 60, 300])  # another product's viewers teach nothing here
    view_product(client, products[0])
    assert history(styles[0]) > 2 * max(history(styles[1]), history(styles[2]))


def test_the_viewers_outcome_is_the_shop_s_reward(client, world, settings):
    # A shop that optimises add to carts: its products' looks follow add to carts, not clicks.
    settings.STYLESTORE = {**settings.STYLESTORE, "REWARD": "add_to_cart"}
    products, styles = world(1, 3)
    seed_viewers(products[0], styles, [60, 60, 300])
    view_product(client, products[0])
    assert history(styles[0]) > 2 * max(history(styles[1]), history(styles[2]))
    ViewerDailyStats.objects.all().delete()
    seed_viewers(products[0], styles, [60, 60, 300], column="add_to_carts")
    caches.clear_caches()
    Visitor.objects.all().delete()
    client.cookies.clear()
    view_product(client, products[0])
    assert history(styles[2]) > 2 * history(styles[0])
