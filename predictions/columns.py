"""A batch's rows column-wise, as they are stored in PredictionChunk and rendered from it.

Inputs are one float64 matrix per chunk, features in schema order; outputs are the matrix
`Predictor.predict_matrix` returns (the value, or the label's index then one probability per
label). Both are stored as .npy bytes: as JSON objects, a large batch spent most of its upload,
run and download encoding and decoding a dict per row, in Python and in jsonb.
"""

import csv
import io

import numpy as np
import orjson

from registry import features
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
    return [
        features.typed_column(matrix[:, index], feature) for index, feature in enumerate(schema)
    ]


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
    magnitude = np.abs(values)
    odd = np.flatnonzero(((magnitude < 1e-4) & (magnitude != 0)) | (magnitude >= 1e16))
    for index, text in zip(odd.tolist(), map(repr, values[odd].tolist()), strict=True):
        texts[index] = text
    return texts


def _input_texts(matrix: np.ndarray, schema: list[dict]) -> list[list[str]]:
    """Each feature's values as `csv.writer` writes them: floats by `float_texts`, integers and
    booleans from their typed values."""
    return [
        float_texts(matrix[:, index]) if features.is_float(feature) else list(map(str, values))
        for index, (feature, values) in enumerate(
            zip(schema, _typed_columns(matrix, schema), strict=True)
        )
    ]


def csv_lines(inputs: np.ndarray, outputs: np.ndarray, version: ModelVersion) -> str:
    """The chunk's rows as CSV text (inputs, then outputs), as `csv.writer` writes them, built
    column by column: numbers as Python writes them, labels quoted when they need it."""
    if not len(inputs):
        return ""
    columns = _input_texts(inputs, version.input_schema)
    if version.model.task == REGRESSION:
        columns.append(float_texts(outputs[:, 0]))
    else:
        labels = np.array([text_cell(label) for label in version.labels], dtype=object)
        columns.append(labels[outputs[:, 0].astype(np.intp)].tolist())
        columns.extend(float_texts(outputs[:, i]) for i in range(1, outputs.shape[1]))
    return "\r\n".join(map(",".join, zip(*columns, strict=True))) + "\r\n"
