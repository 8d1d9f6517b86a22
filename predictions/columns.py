"""A batch's rows column-wise, as they are stored in PredictionChunk and rendered from it.

Inputs are one float64 matrix per chunk, features in schema order; outputs are the matrix
`Predictor.predict_matrix` returns (the value, or the label's index then one probability per
label). Both are stored as .npy bytes: as JSON objects, a large batch spent most of its upload,
run and download encoding and decoding a dict per row, in Python and in jsonb.

A forecast batch is the exception: its chunks hold the list of requests and the list of answers
as JSON. Requests and answers are nested and of different lengths (a matrix would need padding
and could not hold the dates), and a forecast costs far more to compute than to encode.
"""

import csv
import io

import numpy as np
import orjson

from registry import features
from registry.models import ModelVersion
from registry.runtimes import REGRESSION, output_rows

_NPY = b"\x93NUMPY"  # how every .npy file starts; JSON never does


def to_bytes(matrix: np.ndarray | list[dict]) -> bytes:
    """A matrix as .npy; a forecast batch's list of requests or answers as JSON."""
    if isinstance(matrix, list):
        return orjson.dumps(matrix)
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(matrix, dtype=np.float64), allow_pickle=False)
    return buffer.getvalue()


def from_bytes(data) -> np.ndarray | list[dict]:
    data = bytes(data)
    if not data.startswith(_NPY):
        return orjson.loads(data)
    return np.load(io.BytesIO(data), allow_pickle=False)


def concatenate(parts: list) -> np.ndarray | list[dict]:
    """The stored chunks of a batch as one matrix (or one list of forecast requests)."""
    if parts and isinstance(parts[0], list):
        return [item for part in parts for item in part]
    return np.concatenate(parts)


def _typed_columns(matrix: np.ndarray, schema: list[dict]) -> list[list]:
    """One Python list per feature, in its declared type (integer, boolean or float)."""
    return [
        features.typed_column(matrix[:, index], feature) for index, feature in enumerate(schema)
    ]


def input_rows(matrix: np.ndarray | list[dict], version: ModelVersion) -> list[dict]:
    """The stored inputs as the rows a client sent: {feature: value}, in schema order (forecast
    requests are stored as they are)."""
    if version.is_forecast:
        return matrix
    schema = version.input_schema
    names = [feature["name"] for feature in schema]
    typed = _typed_columns(matrix, schema)
    return [dict(zip(names, values, strict=True)) for values in zip(*typed, strict=True)]


def result_rows(outputs: np.ndarray | list[dict], version: ModelVersion) -> list[dict]:
    if version.is_forecast:
        return outputs  # the answers, stored as they are
    return output_rows(outputs, task=version.model.task, labels=version.labels)


# A forecast batch's CSV results: one line per step of each request (its index in the batch).
FORECAST_HEADER = ("request", "step", "timestamp", "value", "lower", "upper")


def output_header(version: ModelVersion) -> list[str]:
    if version.is_forecast:
        return list(FORECAST_HEADER)
    if version.model.task == REGRESSION:
        return ["value"]
    return ["label", *(f"probability_{label}" for label in version.labels)]


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, CSV Injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value: str) -> str:
    """A text cell (a label, a column name) as `csv.writer` writes it, behind a single quote
    when a spreadsheet would run it as a formula. Numbers are written elsewhere and never
    escaped, and a label that is a number (`-1`) stays one."""
    if value.startswith(_FORMULA_STARTS) and not (value[0] in "+-" and _is_number(value)):
        value = "'" + value
    buffer = io.StringIO()
    # The default line end, so that a value with a line break in it is quoted.
    csv.writer(buffer).writerow([value])
    return buffer.getvalue()[:-2]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def csv_header(version: ModelVersion) -> str:
    names = [*version.feature_names, *output_header(version)]
    return ",".join(text_cell(name) for name in names) + "\r\n"


def float_texts(values: np.ndarray) -> list[str]:
    """`repr` of each float, as `csv.writer` writes it, formatted by orjson's C code, which is
    much faster than calling repr per value. orjson writes the same shortest digits, but where
    repr uses an exponent (below 1e-4, from 1e16) orjson writes its own notation (`0.0000123`,
    `1.2e-8`), so those values are formatted by repr."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    if not len(values):
        return []
    texts = orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].decode().split(",")
    odd = np.flatnonzero(_exponent_in_repr(values))
    for index, text in zip(odd.tolist(), map(repr, values[odd].tolist()), strict=True):
        texts[index] = text
    return texts


def _exponent_in_repr(values: np.ndarray) -> np.ndarray:
    """Where `repr` writes the value with an exponent, which orjson writes otherwise."""
    magnitude = np.abs(values)
    return ((magnitude < 1e-4) & (magnitude != 0)) | (magnitude >= 1e16)


def float_rows(matrix: np.ndarray) -> list[str]:
    """Each row of a float matrix as `csv.writer` writes it (`float_texts` joined by commas),
    the whole matrix formatted by one orjson call: joining a string per value per row cost
    more than formatting them. A row holding a value `repr` writes with an exponent is
    formatted value by value, or the whole matrix column by column when such rows are many."""
    matrix = np.ascontiguousarray(matrix, dtype=np.float64)
    odd = np.flatnonzero(_exponent_in_repr(matrix).any(axis=1))
    if len(odd) > len(matrix) // 100:  # small probabilities, say: column by column instead
        columns = [float_texts(matrix[:, index]) for index in range(matrix.shape[1])]
        return list(map(",".join, zip(*columns, strict=True)))
    rows = orjson.dumps(matrix, option=orjson.OPT_SERIALIZE_NUMPY).decode()[2:-2].split("],[")
    for index in odd.tolist():
        rows[index] = ",".join(float_texts(matrix[index]))
    return rows


def _input_texts(matrix: np.ndarray, schema: list[dict]) -> list[list[str]]:
    """Each feature's values as `csv.writer` writes them: floats by `float_texts`, integers and
    booleans from their typed values."""
    return [
        float_texts(matrix[:, index]) if features.is_float(feature) else list(map(str, values))
        for index, (feature, values) in enumerate(
            zip(schema, _typed_columns(matrix, schema), strict=True)
        )
    ]


def csv_lines(inputs, outputs, version: ModelVersion, *, start: int = 0) -> str:
    """The chunk's rows as CSV text (inputs, then outputs), as `csv.writer` writes them, built
    column by column: numbers as Python writes them, labels quoted when they need it. A forecast
    chunk (whose first request is the batch's `start`) has a line per step instead."""
    if not len(inputs):
        return ""
    if version.is_forecast:
        return _forecast_lines(outputs, start)
    schema = version.input_schema
    if all(map(features.is_float, schema)):
        parts = [float_rows(inputs)]
    else:
        parts = [list(map(",".join, zip(*_input_texts(inputs, schema), strict=True)))]
    if version.model.task == REGRESSION:
        parts.append(float_rows(outputs[:, :1]))
    else:
        labels = np.array([text_cell(label) for label in version.labels], dtype=object)
        parts.append(labels[outputs[:, 0].astype(np.intp)].tolist())
        parts.append(float_rows(outputs[:, 1:]))
    return "\r\n".join(map(",".join, zip(*parts, strict=True))) + "\r\n"


def _forecast_lines(answers: list[dict], start: int) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for request, answer in enumerate(answers, start=start):
        writer.writerows(
            [request, *(item.get(key, "") for key in FORECAST_HEADER[1:])]
            for item in answer["forecast"]
        )
    return buffer.getvalue()
