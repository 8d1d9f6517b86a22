"""Batches are stored column-wise; what users upload and download reads as before."""

import csv
import io
import json

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from predictions import columns, csvio
from predictions.models import Prediction, PredictionChunk, Status
from registry import demo
from registry.models import MLModel, ModelVersion
from tests.support.api import SETOSA, VIRGINICA, get, submit
from tests.support.workers import run_worker

pytestmark = pytest.mark.django_db(transaction=True)

IRIS_FEATURES = list(SETOSA)


def upload_csv(client, text: str):
    upload = SimpleUploadedFile("rows.csv", text.encode(), "text/csv")
    return client.post(
        "/api/v1/predictions/", {"model": "iris", "file": upload}, format="multipart"
    )


def download(client, prediction_id, fmt):
    response = client.get(f"/api/v1/predictions/{prediction_id}/result/?format={fmt}")
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode()


def iris_csv(rows, header, *, quote=False) -> str:
    text = io.StringIO()
    writer = csv.writer(text, quoting=csv.QUOTE_ALL if quote else csv.QUOTE_MINIMAL)
    writer.writerow(header)
    writer.writerows([[row[name] for name in header] for row in rows])
    return text.getvalue()


class TestCsvRoundTrip:
    def test_the_csv_download_is_what_csv_writer_writes_from_the_json_outputs(
        self, alice_client, iris
    ):
        rows = demo.dataset("iris")[0]
        header = list(reversed(IRIS_FEATURES))  # columns in any order
        prediction_id = upload_csv(alice_client, iris_csv(rows, header)).json()["id"]
        run_worker()

        outputs = json.loads(download(alice_client, prediction_id, "json"))["outputs"]
        expected = io.StringIO()
        writer = csv.writer(expected)
        labels = ["setosa", "versicolor", "virginica"]
        writer.writerow([*IRIS_FEATURES, "label", *(f"probability_{lb}" for lb in labels)])
        for row, output in zip(rows, outputs, strict=True):
            writer.writerow(
                [
                    *(float(row[name]) for name in IRIS_FEATURES),
                    output["label"],
                    *(output["probabilities"][lb] for lb in labels),
                ]
            )
        assert download(alice_client, prediction_id, "csv") == expected.getvalue()

    def test_a_quoted_csv_read_row_by_row_stores_the_same_rows_as_a_plain_one(
        self, alice_client, iris
    ):
        rows = demo.dataset("iris")[0][:40]
        version = iris.versions.get(number=2)
        for text, numpy_reads_it in (
            (iris_csv(rows, IRIS_FEATURES), True),
            (iris_csv(rows, IRIS_FEATURES, quote=True), False),
        ):
            upload = io.BytesIO(text.encode())
            read = csvio.read_matrix(upload, version, max_rows=100)
            assert (read is not None) == numpy_reads_it
        plain = upload_csv(alice_client, iris_csv(rows, IRIS_FEATURES)).json()
        quoted = upload_csv(alice_client, iris_csv(rows, IRIS_FEATURES, quote=True)).json()
        run_worker()

        plain, quoted = (
            get(alice_client, plain["id"]).json(),
            get(alice_client, quoted["id"]).json(),
        )
        assert plain["status"] == quoted["status"] == Status.SUCCEEDED
        assert (
            plain["inputs"]
            == quoted["inputs"]
            == [{name: float(row[name]) for name in IRIS_FEATURES} for row in rows]
        )
        assert plain["output"] == quoted["output"]

    def test_windows_line_ends_a_byte_order_mark_and_an_upload_on_disk_read_the_same(
        self, alice_client, iris, settings
    ):
        settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0  # Django keeps the upload in a temporary file
        rows = [SETOSA, VIRGINICA]
        text = "\ufeff" + iris_csv(rows, IRIS_FEATURES).replace("\r\n", "\n").replace("\n", "\r\n")
        upload = io.BytesIO(text.encode())
        matrix = csvio.read_matrix(upload, iris.versions.get(number=2), max_rows=10)
        assert matrix.tolist() == [list(row.values()) for row in rows]
        assert upload.tell() == 0  # left for the fingerprint to read from the start

        response = upload_csv(alice_client, text)
        assert response.status_code == 202
        assert get(alice_client, response.json()["id"]).json()["inputs"] == rows

    def test_a_line_with_a_missing_value_is_named(self, alice_client, iris):
        text = "sepal_length,sepal_width,petal_length,petal_width\n1,2,3,4\n1,2,3\n"
        response = upload_csv(alice_client, text)
        assert response.status_code == 400
        assert "Line 3 has 3 values" in response.json()["error"]["message"]
        assert not Prediction.objects.exists()

    def test_a_value_out_of_bounds_is_named_by_row_and_feature(self, alice_client, iris):
        text = "sepal_length,sepal_width,petal_length,petal_width\n1,2,3,4\n1,2,3,-4\n"
        response = upload_csv(alice_client, text)
        assert response.status_code == 400
        assert list(response.json()["error"]["fields"]) == ["inputs[1].petal_width"]

    def test_a_header_without_rows_is_refused(self, alice_client, iris):
        response = upload_csv(alice_client, "sepal_length,sepal_width,petal_length,petal_width\n")
        assert response.status_code == 400
        assert "at least one row" in response.json()["error"]["message"]

    def test_a_file_over_the_row_limit_is_refused_whole(self, alice_client, iris, settings):
        settings.PREDICTION_CSV_MAX_ROWS = 2
        text = iris_csv([SETOSA, VIRGINICA, SETOSA], IRIS_FEATURES)
        response = upload_csv(alice_client, text)
        assert response.status_code == 400
        assert "more than 2 rows" in response.json()["error"]["message"]
        assert not Prediction.objects.exists() and not PredictionChunk.objects.exists()


class TestRendering:
    def version(self, task, schema, labels=None) -> ModelVersion:
        return ModelVersion(model=MLModel(task=task), input_schema=schema, labels=labels)

    def test_integer_and_boolean_features_read_back_in_their_types(self):
        version = self.version(
            "regression",
            [
                {"name": "n", "type": "integer"},
                {"name": "on", "type": "boolean"},
                {"name": "x", "type": "number"},
            ],
        )
        matrix = np.array([[3, 1, 0.5], [-2, 0, 7]], dtype=np.float64)
        outputs = np.array([[1.25], [2.0]])
        assert columns.input_rows(matrix, version) == [
            {"n": 3, "on": True, "x": 0.5},
            {"n": -2, "on": False, "x": 7.0},
        ]
        assert (
            columns.csv_lines(matrix, outputs, version) == "3,True,0.5,1.25\r\n-2,False,7.0,2.0\r\n"
        )

    def test_labels_that_need_quoting_are_quoted_as_csv_writer_does(self):
        labels = ['a, "b"', "plain"]
        version = self.version("classification", [{"name": "x", "type": "number"}], labels)
        outputs = np.array([[0, 0.75, 0.25], [1, 0.1, 0.9]])
        expected = io.StringIO()
        csv.writer(expected).writerows([[1.5, labels[0], 0.75, 0.25], [2.5, "plain", 0.1, 0.9]])
        assert columns.csv_lines(np.array([[1.5], [2.5]]), outputs, version) == expected.getvalue()
        assert columns.csv_header(version) == 'x,label,"probability_a, ""b""",probability_plain\r\n'

    def test_every_float_is_written_as_python_writes_it(self):
        rng = np.random.default_rng(5)
        magnitudes = 10.0 ** rng.uniform(-300, 300, 20_000)
        values = np.concatenate(
            [
                magnitudes * rng.choice([-1, 1], 20_000),
                rng.random(20_000),
                rng.random(20_000).astype(np.float32),  # what ONNX models return
                np.round(rng.uniform(-1e6, 1e6, 2_000)),
                [0.0, -0.0, 1e-4, 9.999e-5, 1e16, 9.999e15, 5e-324, 1.7976931348623157e308],
            ]
        )
        assert columns.float_texts(values) == [repr(v) for v in values.tolist()]
        assert columns.float_texts(np.array([])) == []


class TestJsonBatches:
    def test_rows_of_plain_numbers_are_stored_as_sent(self, alice_client, iris):
        rows = [SETOSA, VIRGINICA, {**SETOSA, "sepal_length": 5}]
        response = submit(alice_client, {"model": "iris", "inputs": rows})
        assert response.status_code == 202
        assert get(alice_client, response.json()["id"]).json()["inputs"] == rows

    def test_an_unknown_feature_in_one_row_is_named(self, alice_client, iris):
        rows = [SETOSA, {**SETOSA, "colour": 3}, SETOSA]
        response = submit(alice_client, {"model": "iris", "inputs": rows})
        assert response.status_code == 400
        assert list(response.json()["error"]["fields"]) == ["inputs[1].colour"]
        assert not Prediction.objects.exists()

    def test_unknown_features_are_dropped_when_the_version_ignores_them(self, alice_client, iris):
        iris.versions.filter(number=2).update(ignore_extra_features=True)
        rows = [{**SETOSA, "colour": 3}, VIRGINICA]
        response = submit(alice_client, {"model": "iris", "inputs": rows})
        assert response.status_code == 202
        assert get(alice_client, response.json()["id"]).json()["inputs"] == [SETOSA, VIRGINICA]

    @pytest.mark.parametrize("body", ['"input": ', '"inputs": [{"sepal_length": 5.1}, '])
    def test_a_number_beyond_a_float_is_a_400_naming_the_field(self, alice_client, iris, body):
        huge = "9" * 400
        row = f'{{"sepal_length": {huge}, "sepal_width": 3.5, "petal_length": 1.4, '
        row += '"petal_width": 0.2}'
        text = '{"model": "iris", ' + body + row + ("]}" if "inputs" in body else "}")
        response = alice_client.post("/api/v1/predictions/", text, content_type="application/json")
        assert response.status_code == 400
        fields = response.json()["error"]["fields"]
        field = "inputs[1].sepal_length" if "inputs" in body else "input.sepal_length"
        assert "64-bit float" in fields[field][0]
        assert not Prediction.objects.exists()

    @pytest.mark.parametrize("inputs", ["rows", {"sepal_length": 5.1}, 3])
    def test_inputs_that_are_not_a_list_are_refused(self, alice_client, iris, inputs):
        response = submit(alice_client, {"model": "iris", "inputs": inputs})
        assert response.status_code == 400
        assert "inputs" in response.json()["error"]["fields"]
