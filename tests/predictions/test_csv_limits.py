"""A CSV upload is accepted or refused in about the time it takes to read it once, whatever its
shape: long lines, blank lines, rows wider or narrower than the header, large quoted files."""

import io
import time

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from predictions import csvio
from predictions.models import Prediction
from registry import demo
from registry.models import MLModel, ModelVersion
from tests.support.api import SETOSA, VIRGINICA

pytestmark = pytest.mark.django_db

HEADER = ",".join(SETOSA) + "\n"
IRIS_ROWS = demo.dataset("iris")[0]


def upload_csv(client, data: bytes | str, model: str = "iris"):
    data = data.encode() if isinstance(data, str) else data
    upload = SimpleUploadedFile("rows.csv", data, "text/csv")
    before = Prediction.objects.count()
    response = client.post(
        "/api/v1/predictions/", {"model": model, "file": upload}, format="multipart"
    )
    if response.status_code >= 400:
        assert Prediction.objects.count() == before  # a refused file stores nothing
    return response


def refusal(response) -> str:
    assert response.status_code == 400, response.content[:300]
    error = response.json()["error"]
    assert error["fields"]["file"] == [error["message"]]
    return error["message"]


def best_of_three(read) -> float:
    times = []
    for _ in range(3):
        start = time.process_time()
        read()
        times.append(time.process_time() - start)
    return min(times)


def quoted(rows) -> str:
    return "".join(",".join(f'"{row[name]}"' for name in SETOSA) + "\n" for row in rows)


class TestLongLines:
    def test_a_line_longer_than_the_limit_is_refused_at_once_with_its_number(
        self, alice_client, iris
    ):
        data = HEADER + "5.1,3.5,1.4,0.2\n" + "x" * (16 * 1024 * 1024) + "\n"
        start = time.monotonic()
        message = refusal(upload_csv(alice_client, data))
        assert time.monotonic() - start < 2  # reading it row by row took over 20 s
        assert message == "Line 3 is longer than 131,072 bytes."

    def test_the_limit_is_a_setting_and_a_line_at_the_limit_is_read(
        self, alice_client, iris, settings
    ):
        settings.PREDICTION_CSV_MAX_LINE_BYTES = 600  # iris's 4 features alone allow 512
        line = "5.1,3.5,1.4,0.2" + " " * (600 - 15)  # spaces around a number are ignored
        assert upload_csv(alice_client, HEADER + line + "\r\n").status_code == 202
        message = refusal(upload_csv(alice_client, HEADER + line + " \r\n"))
        assert message == "Line 2 is longer than 600 bytes."

    def test_a_header_too_long_for_the_limit_is_refused_before_it_is_split(
        self, alice_client, iris
    ):
        message = refusal(upload_csv(alice_client, "a," * (1024 * 1024)))
        assert message == "Line 1 is longer than 131,072 bytes."

    def test_a_version_with_many_features_may_have_longer_lines(self, settings):
        settings.PREDICTION_CSV_MAX_LINE_BYTES = 1000
        wide = ModelVersion(input_schema=[{"name": "f"}] * 100)
        assert csvio.max_line_bytes(wide) == 100 * csvio.LINE_BYTES_PER_FEATURE

    def test_reading_row_by_row_costs_time_in_proportion_to_the_line(self, iris, settings):
        """With the limit lifted, a line twice as long takes about twice as long (codecs'
        line reading took four times as long)."""
        settings.PREDICTION_CSV_MAX_LINE_BYTES = 64 * 1024 * 1024
        version = iris.versions.get(number=2)

        def read(megabytes):
            data = (HEADER + "x" * megabytes * 1024 * 1024 + "\n").encode()
            with pytest.raises(csvio.CSVError, match="field larger than field limit"):
                csvio.read_rows(io.BytesIO(data), version, max_rows=10)

        short, long = best_of_three(lambda: read(2)), best_of_three(lambda: read(16))
        assert long < 1.5
        assert long < 16 * max(short, 0.01)  # quadratic would be 64 times

    def test_more_blank_lines_than_the_row_limit_are_refused_before_they_are_skipped(
        self, alice_client, iris, settings
    ):
        settings.PREDICTION_CSV_MAX_ROWS = 10
        text = HEADER + "5.1,3.5,1.4,0.2\n" + "\r\n" * 11
        assert refusal(upload_csv(alice_client, text)) == (
            "The CSV file has more than 10 blank lines."
        )
        assert upload_csv(alice_client, HEADER + "5.1,3.5,1.4,0.2\n" + "\n" * 10).status_code == 202


class TestRowWidths:
    def test_a_row_with_more_values_than_the_header_is_refused_naming_its_line(
        self, alice_client, iris
    ):
        wide = ",".join(["1.5"] * 2000)
        message = refusal(upload_csv(alice_client, HEADER + "5.1,3.5,1.4,0.2\n" + wide + "\n"))
        assert message == "Line 3 has 2,000 values; the header has 4."

    def test_every_row_wider_than_the_header_is_refused_too(self, alice_client, iris):
        """numpy sizes its matrix from the first row: these files used to be read as if the
        header had 2,000 names, keeping the first 4 values of each row."""
        wide = ",".join(["1.5"] * 2000) + "\n"
        assert refusal(upload_csv(alice_client, HEADER + wide * 3)) == (
            "Line 2 has 2,000 values; the header has 4."
        )

    def test_rows_with_fewer_values_than_the_header_are_refused_naming_the_line(
        self, alice_client, iris
    ):
        assert refusal(upload_csv(alice_client, HEADER + "5.1,3.5\n" * 3)) == (
            "Line 2 has 2 values; the header has 4."
        )

    def test_neither_reader_keeps_part_of_a_wide_row(self, iris):
        version = iris.versions.get(number=2)
        data = (HEADER + ",".join(["1.5"] * 8) + "\n").encode()
        assert csvio.read_matrix(io.BytesIO(data), version, max_rows=10) is None
        with pytest.raises(csvio.CSVError, match="Line 2 has 8 values; the header has 4."):
            csvio.read_rows(io.BytesIO(data), version, max_rows=10)


class TestLargeFiles:
    """Files past what is read row by row (ROW_BY_ROW_MAX_VALUES, lowered here) are read
    column by column: the same matrix, and the first problem named."""

    @pytest.fixture(autouse=True)
    def _small_budget(self, monkeypatch):
        monkeypatch.setattr(csvio, "ROW_BY_ROW_MAX_VALUES", 40)
        monkeypatch.setattr(csvio, "CHUNK_VALUES", 64)

    def test_a_large_quoted_file_reads_as_the_plain_file_does(self, iris):
        version = iris.versions.get(number=2)
        plain = csvio.read_matrix(
            io.BytesIO(("\ufeff" + HEADER + quoted(IRIS_ROWS).replace('"', "")).encode()),
            version,
            max_rows=1000,
        )
        read = csvio.read_matrix(
            io.BytesIO(("\ufeff" + HEADER + "\n" + quoted(IRIS_ROWS)).encode()),
            version,
            max_rows=1000,
        )
        assert read.shape == (150, 4)
        assert np.array_equal(read, plain)

    def test_a_large_file_with_a_bad_value_is_refused_naming_the_line_and_feature(
        self, alice_client, iris
    ):
        rows = [*IRIS_ROWS[:120], {**SETOSA, "petal_width": 60}, *IRIS_ROWS[:20]]
        message = refusal(upload_csv(alice_client, HEADER + quoted(rows)))
        assert message == "Row 121 of the CSV file, petal_width: Must be at most 50."

    def test_a_large_file_with_a_word_for_a_number_is_refused_naming_it(self, alice_client, iris):
        rows = [*IRIS_ROWS[:60], {**VIRGINICA, "sepal_length": "long"}]
        message = refusal(upload_csv(alice_client, HEADER + quoted(rows)))
        assert message == "Line 62, sepal_length: Must be a number."

    def test_a_word_after_blank_lines_is_named_by_its_line_in_the_file(self, alice_client, iris):
        rows = "5.1,3.5,1.4,0.2\r\n" * 30 + "\r\n\r\n" + "5.1,3.5,1.4,0.2\r\n" * 30
        text = HEADER.replace("\n", "\r\n") + rows + "6.7,3.0,5.2,wide\r\n"
        message = refusal(upload_csv(alice_client, text))
        assert message == "Line 64, petal_width: Must be a number."

    def test_a_word_after_a_value_written_over_two_lines_is_named_by_its_line(
        self, alice_client, iris
    ):
        rows = [*IRIS_ROWS[:20], {**SETOSA, "sepal_width": "3.5\n"}, *IRIS_ROWS[:20]]
        text = HEADER + quoted(rows) + '"6.7","3.0","5.2","wide"\n'
        message = refusal(upload_csv(alice_client, text))
        assert message == "Line 44, petal_width: Must be a number."

    def test_the_line_with_a_word_is_named_by_its_first_problem(self, alice_client, iris):
        rows = [*IRIS_ROWS[:60], {**VIRGINICA, "sepal_length": 60, "petal_width": "wide"}]
        message = refusal(upload_csv(alice_client, HEADER + quoted(rows)))
        assert message == "Line 62, sepal_length: Must be at most 50."

    def test_a_word_that_is_not_ascii_is_named(self, alice_client, iris):
        rows = [*IRIS_ROWS[:60], {**VIRGINICA, "petal_length": "\u00e9norme \u2260 it's"}]
        message = refusal(upload_csv(alice_client, HEADER + quoted(rows).replace('"', "")))
        assert message == "Line 62, petal_length: Must be a number."

    def test_booleans_and_ignored_columns_of_a_large_file_are_read_by_column(self):
        schema = [{"name": "x", "type": "number"}, {"name": "flag", "type": "boolean"}]
        rows = [(float(i), ("yes", "No", " true", "0")[i % 4]) for i in range(40)]
        text = "note,flag,x\n" + "".join(f'"a, b",{flag},{x}\n' for x, flag in rows)
        version = ModelVersion(
            model=MLModel(task="regression"), input_schema=schema, ignore_extra_features=True
        )
        matrix = csvio.read_matrix(io.BytesIO(text.encode()), version, max_rows=100)
        assert matrix.tolist() == [[x, 1.0 if x % 2 == 0 else 0.0] for x, _ in rows]


class TestLargeFileTime:
    """A large file with a word where a number belongs is refused at about the cost of reading
    it once: the line numpy stopped at is named without reading the file again."""

    SCHEMA = [{"name": f"f{i}", "type": "number", "maximum": 10} for i in range(100)]

    @pytest.mark.parametrize("value", ["1.5", '"1.5"'], ids=["plain", "quoted"])
    def test_a_word_on_the_last_line_costs_about_one_read(self, value):
        version = ModelVersion(model=MLModel(task="regression"), input_schema=self.SCHEMA)
        header = ",".join(feature["name"] for feature in self.SCHEMA) + "\n"
        line = ",".join([value] * 100) + "\n"
        good = (header + line * 20_000).encode()
        bad = (header + line * 19_999 + line.replace("1.5", "x", 1)).encode()
        assert csvio.ROW_BY_ROW_MAX_VALUES < 100 * 20_000  # read by numpy, not row by row

        def read(data):
            return csvio.read_matrix(io.BytesIO(data), version, max_rows=100_000)

        accepted = best_of_three(lambda: read(good))
        with pytest.raises(csvio.CSVError) as refused:
            read(bad)
        assert str(refused.value) == "Line 20001, f0: Must be a number."
        refusing = best_of_three(lambda: pytest.raises(csvio.CSVError, read, bad))
        assert refusing < 2.5 * accepted, (refusing, accepted)
