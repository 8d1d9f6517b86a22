"""Input schemas, an ordered list of features: checking a declared schema, publishing it as JSON
Schema, and checking rows against it, one by one (naming every problem) or as a numpy matrix.
Each feature's own rules live in `registry.features`. No Django here."""

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from registry import features

MAX_FEATURES = 10_000


def check_input_schema(schema: Any) -> list[str]:
    """Problems with a declared input schema (a list of feature dicts); [] when it is fine."""
    if not isinstance(schema, list) or not schema:
        return ["input_schema must be a non-empty list of features."]
    if len(schema) > MAX_FEATURES:
        return [f"input_schema has more than {MAX_FEATURES} features."]
    seen: set[str] = set()
    return [
        problem
        for index, feature in enumerate(schema)
        for problem in features.declaration_problems(feature, index, seen)
    ]


def to_json_schema(schema: list[dict], *, ignore_extra: bool = False) -> dict:
    """The input row as JSON Schema (draft 2020-12), for a frontend to build a form from."""
    properties = {}
    for feature in schema:
        prop: dict[str, Any] = {"type": feature["type"]}
        for key in ("minimum", "maximum", "enum", "description"):
            if key in feature:
                prop[key] = feature[key]
        properties[feature["name"]] = prop
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": properties,
        "required": [feature["name"] for feature in schema],
        "additionalProperties": ignore_extra,
    }


def row_errors(row: Any, schema: list[dict], *, ignore_extra: bool = False) -> dict[str, str]:
    """Field -> message for everything wrong with one input row; {} when valid."""
    if not isinstance(row, dict):
        return {"non_field_errors": features.NOT_AN_OBJECT[0]}
    errors: dict[str, str] = {}
    for feature in schema:
        name = feature["name"]
        if name not in row:
            errors[name] = features.client_message("missing", feature)
            continue
        problem = features.value_problem(row[name], feature)
        if problem is not None:
            errors[name] = features.client_message(problem, feature)
    if not ignore_extra:
        known = {feature["name"] for feature in schema}
        for name in row:
            if name not in known:
                errors[str(name)[:100]] = features.UNKNOWN_FEATURE
    return errors


def project_row(row: dict, schema: list[dict]) -> dict:
    """Only the declared features, in schema order (drops ignored extras)."""
    return {feature["name"]: row[feature["name"]] for feature in schema}


# --- Rows as a matrix ---------------------------------------------------------------------------


def build_matrix(
    rows: Sequence[Mapping[str, Any]], input_schema: list[dict], *, dtype: Any = np.float64
) -> np.ndarray:
    """The (n_rows, n_features) matrix of `rows`, columns in schema order.

    Raises ValueError naming the row and feature when a value is missing, not numeric, not
    finite, or outside the feature's declared type, bounds or enum. Keys that are not features
    are ignored here: whether to reject or drop them is the API's decision (per version).
    """
    fast = build_matrix_if_plain(rows, input_schema)
    if fast is not None:
        return fast.astype(dtype, copy=False)
    matrix = np.empty((len(rows), len(input_schema)), dtype=np.float64)
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise ValueError(f"row {index}: {features.NOT_AN_OBJECT[1]}")
        matrix[index] = [features.to_float(row, feature, index) for feature in input_schema]
    return matrix.astype(dtype, copy=False)


_PLAIN_NUMBERS = (int, float)


def build_matrix_if_plain(
    rows: Sequence[Mapping[str, Any]], input_schema: list[dict]
) -> np.ndarray | None:
    """The matrix, checked column by column with numpy, when every row is a dict of plain ints
    and floats within the schema; None when anything is off (a missing feature, another type, a
    number too large for a float, a bound), and a per-value check then finds and names it.
    Checking a large batch value by value in Python is what this avoids."""
    names = [feature["name"] for feature in input_schema]
    try:
        values = [[row[name] for name in names] for row in rows]
    except (KeyError, TypeError):
        return None
    # Exact types: bool (an int subclass), str, None and numpy scalars take the slow path.
    if not all(type(v) in _PLAIN_NUMBERS for row in values for v in row):
        return None
    try:
        matrix = np.array(values, dtype=np.float64).reshape(len(rows), len(names))
    except OverflowError:  # an int beyond float64
        return None
    return matrix if within_schema(matrix, input_schema) else None


def within_schema(matrix: np.ndarray, input_schema: list[dict]) -> bool:
    """Whether every value of `matrix` (features in schema order) is finite and within its
    feature's type, bounds and enum, checked column by column. Boolean features are never
    within: their values need the per-value check (true/false, not any number)."""
    if not np.isfinite(matrix).all():
        return False
    for column, feature in enumerate(input_schema):
        if not features.column_within(matrix[:, column], feature):
            return False
    return True
