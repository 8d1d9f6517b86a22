"""A batch's rows column-wise, as they are stored in PredictionChunk and rendered from it.

Inputs are one float64 matrix per chunk, features in schema order; outputs are the matrix
`Predictor.predict_matrix` returns (the value, or the label's index then one probability per
label). Both are stored as .npy bytes: a 100,000-row batch as JSON objects spent most of its
upload, run and download encoding and decoding 200,000 dicts, in Python and in jsonb.
"""

import csv
import io

import numpy as np

from registry.models import ModelVersion
from registry.runtimes import REGRESSION, output_rows


def to_bytes(matrix: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(matrix, dtype=np.float64), allow_pickle=False)
    return buffer.getvalue()


def from_bytes(data) -> np.ndarray:
    return np.load(io.BytesIO(bytes(data)), allow_pickle=False)


def _typed_columns(matrix: np.ndarray, schema: list[dict]) -> list[list]:
    """One Python list per feature, in its declared type (integer, boolean or float)."""
    columns = []
    for index, feature in enumerate(schema):
        column = matrix[:, index]
        kind = feature["type"]
        if kind == "integer":
            columns.append(column.astype(np.int64).tolist())
        elif kind == "boolean":
            columns.append((column != 0).tolist())
        else:
            columns.append(column.tolist())
    return columns


def input_rows(matrix: np.ndarray, version: ModelVersion) -> list[dict]:
    """The stored inputs as the rows a client sent: {feature: value}, in schema order."""
    schema = version.input_schema
    names = [feature["name"] for feature in schema]
    typed = _typed_columns(matrix, schema)
    return [dict(zip(names, values, strict=True)) for values in zip(*typed, strict=True)]


def result_rows(outputs: np.ndarray, version: ModelVersion) -> list[dict]:
    return output_rows(outputs, task=version.model.task, labels=version.labels)


def output_header(version: ModelVersion) -> list[str]:
    if version.model.task == REGRESSION:
        return ["value"]
    return ["label", *(f"probability_{label}" for label in version.labels)]


def _csv_field(value: str) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow([value])
    return buffer.getvalue()


def csv_header(version: ModelVersion) -> str:
    return _csv_field_row([*version.feature_names, *output_header(version)])


def _csv_field_row(values: list[str]) -> str:
    return ",".join(_csv_field(value) for value in values) + "\r\n"


def csv_lines(inputs: np.ndarray, outputs: np.ndarray, version: ModelVersion) -> str:
    """The chunk's rows as CSV text (inputs, then outputs), as `csv.writer` writes them, built
    column by column: numbers in Python's shortest round-tripping form, labels quoted when
    they need it."""
    if not len(inputs):
        return ""
    columns = [list(map(str, column)) for column in _typed_columns(inputs, version.input_schema)]
    if version.model.task == REGRESSION:
        columns.append(list(map(repr, outputs[:, 0].tolist())))
    else:
        labels = np.array([_csv_field(label) for label in version.labels], dtype=object)
        columns.append(labels[outputs[:, 0].astype(np.intp)].tolist())
        columns.extend(list(map(repr, column)) for column in outputs[:, 1:].T.tolist())
    return "\r\n".join(map(",".join, zip(*columns, strict=True))) + "\r\n"
