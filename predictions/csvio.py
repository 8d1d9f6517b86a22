"""CSV in (a batch upload) and out (a batch's results)."""

import codecs
import csv
import warnings
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import orjson

from mlservice import rawsql
from predictions import columns
from predictions.models import Prediction, PredictionChunk
from registry import features, forecasts
from registry.models import ModelVersion
from registry.schemas import within_schema


class CSVError(ValueError):
    pass


def read_matrix(upload, version: ModelVersion, *, max_rows: int) -> np.ndarray | None:
    """The feature matrix of an uploaded CSV (schema order), parsed and checked by numpy, for
    the common file: UTF-8, its header exactly the version's numeric features (in any order),
    every value a plain finite number within its feature's bounds. None for anything else
    (quotes, a value that is not a number, a short line, ...): `read_rows` then reads the file
    row by row and names what is wrong, at a far higher cost per row. The file is read line by
    line from where Django put it, so a large upload is not copied into memory."""
    if version.is_forecast:
        return None  # a forecast request's cells hold lists of values
    stream = getattr(upload, "file", upload)  # the real file object: numpy iterates it in C
    stream.seek(0)
    try:
        header = [name.strip() for name in stream.readline().decode("utf-8-sig").split(",")]
        names = version.feature_names
        if len(set(header)) != len(header) or sorted(header) != sorted(names):
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data": 0 rows, said later
            matrix = np.loadtxt(
                stream,
                delimiter=",",
                comments=None,
                dtype=np.float64,
                ndmin=2,
                max_rows=max_rows + 1,
            )
    except ValueError:  # not UTF-8, not a number, a line with too few or many values
        return None
    finally:
        stream.seek(0)
    if matrix.size == 0:
        matrix = np.empty((0, len(names)))
    if len(matrix) > max_rows:
        raise CSVError(f"The CSV file has more than {max_rows:,} rows.")
    order = {name: i for i, name in enumerate(header)}
    matrix = matrix[:, [order[name] for name in names]]
    return matrix if within_schema(matrix, version.input_schema) else None


def read_rows(upload, version: ModelVersion, *, max_rows: int) -> list[dict]:
    """Rows of an uploaded CSV, keyed by the header, values converted to the schema's types."""
    text = codecs.getreader("utf-8-sig")(upload, errors="strict")
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        raise CSVError("The CSV file is empty; its first row must name the features.") from None
    except UnicodeDecodeError:
        raise CSVError("The CSV file must be UTF-8 text.") from None
    header = [name.strip() for name in header]
    convert = _converter(header, version)
    rows = []
    try:
        for line, record in enumerate(reader, start=2):
            if not record:
                continue
            if len(record) != len(header):
                raise CSVError(
                    f"Line {line} has {len(record)} values; the header has {len(header)}."
                )
            if len(rows) >= max_rows:
                raise CSVError(f"The CSV file has more than {max_rows:,} rows.")
            rows.append(convert(record))
    except UnicodeDecodeError:
        raise CSVError("The CSV file must be UTF-8 text.") from None
    except csv.Error as exc:
        raise CSVError(f"The CSV file is malformed: {exc}.") from None
    return rows


def _converter(header: list[str], version: ModelVersion) -> Callable[[list[str]], dict]:
    """Checks the header; returns what turns a CSV record into an input row. A forecast batch's
    line is one request: `horizon`, then `history` and each regressor as values separated by
    spaces (`registry.forecasts`)."""
    if version.is_forecast:
        spec = version.input_schema
        required, optional = forecasts.csv_columns(spec)
        declared, what = dict.fromkeys(required + optional), "column(s)"
    else:
        declared = {feature["name"]: feature for feature in version.input_schema}
        required, what = list(declared), "feature(s)"
    missing = [name for name in required if name not in header]
    if missing:
        raise CSVError(f"The CSV header lacks the {what}: {', '.join(missing)}.")
    if len(set(header)) != len(header):
        raise CSVError("The CSV header names a column twice.")
    unknown = [name for name in header if name not in declared]
    if unknown and not version.ignore_extra_features:
        raise CSVError(f"The CSV header has unknown column(s): {', '.join(unknown[:20])}.")
    columns = [(i, name) for i, name in enumerate(header) if name in declared]
    if version.is_forecast:
        return lambda record: forecasts.request_from_csv(
            {name: record[i] for i, name in columns}, spec
        )
    return lambda record: {
        name: features.from_text(record[i], declared[name]) for i, name in columns
    }


def _chunk_matrices(prediction: Prediction) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(inputs, outputs) of each chunk in order, one chunk in memory at a time."""
    chunk_ids = prediction.chunks.order_by("seq").values_list("pk", flat=True)
    sql = f"SELECT input_matrix, output_matrix FROM {PredictionChunk._meta.db_table} WHERE id = %s"
    for chunk_id in list(chunk_ids):
        inputs, outputs = rawsql.fetchone(sql, [chunk_id], binary=True)
        yield columns.from_bytes(inputs), columns.from_bytes(outputs)


def stream_csv(prediction: Prediction) -> Iterable[str]:
    """The batch's inputs and outputs as CSV, one chunk of rows per piece."""
    version = prediction.version
    yield columns.csv_header(version)
    start = 0
    for inputs, outputs in _chunk_matrices(prediction):
        yield columns.csv_lines(inputs, outputs, version, start=start)
        start += len(inputs)


def stream_json_outputs(prediction: Prediction) -> Iterable[str]:
    """The batch's outputs as the items of a JSON array (without the brackets), a chunk per
    piece, each piece after the first starting with its comma."""
    first = True
    for _, outputs in _chunk_matrices(prediction):
        body = orjson.dumps(columns.result_rows(outputs, prediction.version))[1:-1].decode()
        if body:
            yield ("" if first else ",") + body
            first = False
