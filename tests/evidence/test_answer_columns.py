"""Another version's answer is totalled in SQL (`truth.metric_columns_sql`): its columns must be
those a feedback row would store for it (`truth.metric_columns`)."""

import json

import pytest
from django.db import connection

from evidence import truth
from registry.models import MLModel, ModelVersion

pytestmark = pytest.mark.django_db

CASES = [
    ("classification", "b", {"label": "a", "probabilities": {"a": 0.7, "b": 0.3}}),
    ("classification", "a", {"label": "a"}),  # no probabilities: no log loss
    ("regression", 2.5, {"value": 4.0}),
    ("forecast", [2.0, 0.0, -4.0], {"forecast": [{"value": 3.0}, {"value": 1.0}, {"value": -5.0}]}),
]


def in_sql(task: str, value, output: dict) -> dict:
    columns = truth.metric_columns_sql(task, "other_output")
    select = ", ".join(f"{expression} AS {name}" for name, expression in columns.items())
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {select} FROM (SELECT %s::jsonb AS other_output, %s::jsonb AS truth, "
            "%s::text AS truth_label, %s::float8 AS truth_value) AS row",
            [
                json.dumps(output),
                json.dumps(value),
                value if task == "classification" else None,
                value if task == "regression" else None,
            ],
        )
        return dict(zip(columns, cursor.fetchone(), strict=True))


@pytest.mark.parametrize(("task", "value", "output"), CASES)
def test_another_answers_columns_in_sql_are_those_feedback_would_store(task, value, output):
    version = ModelVersion(model=MLModel(task=task), labels=["a", "b"])
    stored = truth.metric_columns(value, version, output)
    expected = {name: stored[name] for name in in_sql(task, value, output)}
    assert in_sql(task, value, output) == pytest.approx(expected)
