"""Migrations that move data: what a shop upgrading from an earlier release keeps."""
import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from stylestore.models import Batch

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
