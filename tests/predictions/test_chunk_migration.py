"""Batches stored before the column-wise chunks read the same after the migration, and back."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.support.api import SETOSA, VIRGINICA, get

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("predictions", "0003_prediction_cost")]
OUTPUTS = [
    {"label": "setosa", "probabilities": {"setosa": 0.9, "versicolor": 0.075, "virginica": 0.025}},
    {"label": "virginica", "probabilities": {"setosa": 0.0, "versicolor": 0.25, "virginica": 0.75}},
]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return MigrationExecutor(connection).loader.project_state(targets).apps


def latest():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def test_a_json_batch_reads_the_same_after_the_migration_and_after_reversing_it(
    alice, alice_client, iris
):
    version = iris.versions.get(number=2)
    old = migrate(BEFORE)
    try:
        prediction = old.get_model("predictions", "Prediction").objects.create(
            user_id=alice.pk,
            model_id=iris.pk,
            version_id=version.pk,
            requested_version="2",
            status="succeeded",
            is_batch=True,
            row_count=2,
            progress=1.0,
        )
        old.get_model("predictions", "PredictionChunk").objects.create(
            prediction_id=prediction.pk, seq=0, start=0, inputs=[SETOSA, VIRGINICA], outputs=OUTPUTS
        )
        migrate(latest())

        document = get(alice_client, prediction.pk).json()
        assert document["inputs"] == [SETOSA, VIRGINICA]
        assert document["output"] == OUTPUTS

        reverted = migrate(BEFORE)
        chunk = reverted.get_model("predictions", "PredictionChunk").objects.get()
        assert chunk.inputs == [SETOSA, VIRGINICA] and chunk.outputs == OUTPUTS
    finally:
        migrate(latest())
