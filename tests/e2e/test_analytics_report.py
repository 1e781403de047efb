"""The analytics page a shop owner reads, in a real browser, on the demo catalogue with a
few weeks of traffic: the headline on purchases (the configured reward) against the
control group, purchases and revenue per style and per category, a date range, and a
table downloaded as CSV."""
import re
from datetime import timedelta

import numpy as np
import pytest
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import expect

from shop.models import Product
from stylestore.models import Style, StyleEvent, StyleHourlyStats, Visitor
from stylestore.personalization import population
from stylestore.variants.sources import sync_sources

from .conftest import log_in

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

#: Per visitor: chance of a click on an impression, of putting what they clicked in the
#: cart, and of buying what is in the cart.
STYLED, ORIGINAL = (0.12, 0.4, 0.5), (0.08, 0.35, 0.45)
#: Enough visitors in the control group for the purchases' interval: 10 with purchases.
CONTROL_SHARE = 0.2


def traffic(visitors=1500, days=20, seed=7):
    """Visitors of the last ``days`` days as the events endpoint logs them: 6 impressions
    of demo products each, in one of three styles or, for the control group, the original
    photo; clicks, add to carts of some of what was clicked, purchases of some of what is in
    the cart, at the product's price;
    the hourly counters to match."""
    rng = np.random.default_rng(seed)
    products = list(Product.objects.order_by("pk"))
    sources = {s.object_id: s for s in sync_sources(products, "image")}
    styles = list(Style.objects.order_by("pk")[:3])
    now = timezone.now()
    people = Visitor.objects.bulk_create([Visitor(key=f"{i:032x}") for i in range(visitors)])
    rows, counters = [], {}
    for i, visitor in enumerate(people):
        control = rng.random() < CONTROL_SHARE
        clicks, carts, buys = ORIGINAL if control else STYLED
        at = now - timedelta(days=float(rng.uniform(0, days)))
        for j in range(6):
            product = products[int(rng.integers(len(products)))]
            style = None if control else styles[int(rng.integers(len(styles)))]
            kwargs = dict(visitor=visitor, style=style, source=sources[str(product.pk)], choice_id=f"{i}-{j}",
                          propensity=1.0 if control else 1 / 3, history_share=0.0, created_at=at,
                          reason="control" if control else "explore")
            rows.append(StyleEvent(kind="impression", available=None if control else [s.pk for s in styles],
                                   **kwargs))
            outcomes = ["impressions"]
            for kind, outcome, chance in (("click", "clicks", clicks), ("add_to_cart", "add_to_carts", carts),
                                          ("purchase", "purchases", buys)):
                if rng.random() >= chance:
                    break
                value = dict(value=product.price, currency="USD") if kind == "purchase" else {}
                rows.append(StyleEvent(kind=kind, **value, **kwargs))
                outcomes.append(outcome)
            if style is not None:
                row = counters.setdefault((style.pk, population.hour_start(at)), {"revenue": 0})
                for outcome in outcomes:
                    row[outcome] = row.get(outcome, 0) + 1
                row["revenue"] += product.price if "purchases" in outcomes else 0
    StyleEvent.objects.bulk_create(rows)
    StyleHourlyStats.objects.bulk_create([StyleHourlyStats(style_id=style, hour=hour, currency="USD", **row)
                                          for (style, hour), row in counters.items()])


def test_the_analytics_page_with_purchases_categories_a_range_and_csv(live_server, new_context, admin_user,
                                                                     artifacts, settings):
    settings.STYLESTORE = {**settings.STYLESTORE, "REWARD": "purchase", "CONTROL_SHARE": CONTROL_SHARE}
    call_command("seed_demo")
    traffic()
    page = new_context(viewport={"width": 1366, "height": 900}).new_page()
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/stylestore/styleevent/analytics/")
    expect(page).to_have_title(re.compile("^Personalization analytics"))

    headline = page.locator(".stylestore-analytics-headline strong")
    expect(headline).to_contain_text(re.compile(r"Styled images: [+-]\d+ % purchases per visitor versus the "
                                                r"original photos \(95 % interval"))
    groups = page.locator(".stylestore-analytics-control tbody tr")
    expect(groups).to_have_count(2)
    categories = page.locator(".stylestore-analytics-categories tbody tr th")
    assert sorted(categories.all_inner_texts()) == ["Ceramics", "Jewellery", "Sculpture", "Textiles"]
    styles = page.locator(".stylestore-analytics-styles tbody tr")
    expect(styles).to_have_count(3)
    assert all(int(row.locator("td").nth(5).inner_text()) > 0 for row in styles.all())  # purchases
    assert all(re.fullmatch(r"[\d,]+\.\d\d\xa0USD", row.locator("td").nth(6).inner_text()) for row in styles.all())
    artifacts.shot(page, "analytics-purchases", docs="admin-analytics-purchases.png", full_page=True)

    csv = page.request.get(page.get_by_role("link", name="Download as CSV").nth(1).get_attribute("href")
                           .replace("?", f"{live_server.url}/admin/stylestore/styleevent/analytics/?", 1))
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text().splitlines()[0].startswith("style,impressions,clicks,ctr,ctr_low,ctr_high,add_to_carts,purchases")

    today = timezone.now().date()
    page.get_by_label("From", exact=True).fill((today - timedelta(days=3)).isoformat())
    page.get_by_label("To", exact=True).fill(today.isoformat())
    page.get_by_role("button", name="Show this range").click()
    expect(page.locator(".stylestore-analytics-page nav p").first).to_contain_text(
        f"from {(today - timedelta(days=3)).isoformat()} to {today.isoformat()}, UTC")
    page.get_by_label("From", exact=True).fill(today.isoformat())
    page.get_by_label("To", exact=True).fill((today - timedelta(days=1)).isoformat())
    page.get_by_role("button", name="Show this range").click()
    expect(page.get_by_role("alert")).to_contain_text("The range must start on or before its end.")
    artifacts.shot(page, "analytics-invalid-range")
