"""Migrations that move data: what a shop upgrading from an earlier release keeps."""
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from stylestore.models import Batch, StyleHourlyStats

BEFORE, AFTER = ("stylestore", "0016_event_counted"), ("stylestore", "0017_batch_description_parts")


def migrate(*targets):
    executor = MigrationExecutor(connection)
    executor.migrate(list(targets) or executor.loader.graph.leaf_nodes())
    return executor.loader.project_state(list(targets)).apps if targets else None


@pytest.mark.django_db(transaction=True)
def test_batches_queued_before_the_description_was_kept_in_parts_keep_their_words():
    old = migrate(BEFORE)
    old.get_model("stylestore", "Batch").objects.create(origin="admin", description="Ink sur 2 produits")
    try:
        migrate(AFTER)
        batch = Batch.objects.get()
        assert (batch.description, batch.style_names, batch.object_count) == ("Ink sur 2 produits",) * 2 + (None,)
        # And back: rolled back, the batch has its words again.
        assert migrate(BEFORE).get_model("stylestore", "Batch").objects.get().description == "Ink sur 2 produits"
    finally:
        migrate()  # every app's latest, for the tests that follow


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("currencies, tagged", [(["EUR", "EUR"], "EUR"), (["EUR", "USD"], "")])
def test_revenue_counted_before_it_was_per_currency_gets_its_currency_where_it_can_be_told(currencies, tagged):
    old = migrate(("stylestore", "0017_batch_description_parts"))
    visitor = old.get_model("stylestore", "Visitor").objects.create(key="a" * 32)
    for currency in currencies:
        old.get_model("stylestore", "StyleEvent").objects.create(visitor=visitor, kind="purchase", value=10,
                                                                 currency=currency)
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    counters = old.get_model("stylestore", "StyleHourlyStats").objects
    counters.create(hour=hour, impressions=40, purchases=2, revenue=20)
    counters.create(hour=hour, category="Lamps", impressions=30)
    try:
        migrate(("stylestore", "0018_hourly_stats_revenue_currency"))
        rows = StyleHourlyStats.objects.order_by("category")
        assert [(r.category, r.impressions, r.revenue, r.currency) for r in rows] == [
            ("", 40, Decimal(20), tagged), ("Lamps", 30, Decimal(0), "")]
    finally:
        migrate()
