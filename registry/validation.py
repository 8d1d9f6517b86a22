"""Input rows checked against a version's schema at submit, before anything reaches a worker:
the errors an API client reads (`invalid_input`, each problem under its field). A forecast
version's input is a forecast request, checked by `registry.forecasts`; every other version's a
row of features, checked by `registry.schemas`. The choice between them is made here."""

import numpy as np

from mlservice.errors import ServiceError
from registry import forecasts
from registry.models import ModelVersion
from registry.runtimes import FORMATS
from registry.schemas import (
    build_matrix,
    build_matrix_if_plain,
    check_input_schema,
    project_row,
    row_errors,
    to_json_schema,
)

MAX_REPORTED_ERRORS = 100


class InvalidInput(ServiceError, code="invalid_input"):
    default_detail = "The input does not match the model's schema."


def schema_problems(version: ModelVersion) -> list[str]:
    """What is wrong with the version's declared input schema; [] when it is fine."""
    if version.is_forecast:
        lag_model = not FORMATS[version.format].forecaster
        return forecasts.spec_problems(version.input_schema, lag_model=lag_model)
    return check_input_schema(version.input_schema)


def input_errors(row, version: ModelVersion, *, ignore_extra: bool = False) -> dict[str, str]:
    """Field -> message for everything wrong with one input; {} when valid."""
    if version.is_forecast:
        return forecasts.request_errors(row, version.input_schema, ignore_extra=ignore_extra)
    return row_errors(row, version.input_schema, ignore_extra=ignore_extra)


def json_schema(version: ModelVersion) -> dict:
    """One input of the version as JSON Schema, for a frontend to build a form from."""
    convert = forecasts.to_json_schema if version.is_forecast else to_json_schema
    return convert(version.input_schema, ignore_extra=version.ignore_extra_features)


def _project(row: dict, version: ModelVersion) -> dict:
    if version.is_forecast:
        return forecasts.project_request(row, version.input_schema)
    return project_row(row, version.input_schema)


def validate_rows(rows: list, version: ModelVersion, *, field: str, batch: bool) -> list[dict]:
    """Check every row against the version's schema; return them projected to its features.

    Errors name the field and, for batches, the row index: `inputs[3].petal_width`.
    """
    ignore = version.ignore_extra_features
    fields: dict[str, list[str]] = {}
    bad_rows = 0
    for index, row in enumerate(rows):
        errors = input_errors(row, version, ignore_extra=ignore)
        if not errors:
            continue
        bad_rows += 1
        prefix = f"{field}[{index}]" if batch else field
        for name, message in errors.items():
            if len(fields) < MAX_REPORTED_ERRORS:
                key = prefix if name == "non_field_errors" else f"{prefix}.{name}"
                fields[key] = [message]
    if fields:
        more = "" if bad_rows <= len(fields) else " (first errors shown)"
        raise InvalidInput(
            f"{bad_rows} input row(s) do not match the schema of {version}{more}.",
            fields=fields,
        )
    return [_project(row, version) for row in rows]


def validate_batch(rows: list, version: ModelVersion) -> np.ndarray | list[dict]:
    """The feature matrix of a batch's rows, each checked against the version's schema.

    Rows of plain numbers within the schema are checked column by column with numpy; anything
    else goes through `validate_rows`, which names each problem. A forecast batch stays a list
    of (checked, projected) requests: they are nested and of different lengths.
    """
    if version.is_forecast:
        return validate_rows(rows, version, field="inputs", batch=True)
    schema = version.input_schema
    matrix = build_matrix_if_plain(rows, schema)
    # Every row has every feature, or there would be no matrix: more keys are extras.
    if matrix is not None and (
        version.ignore_extra_features or all(len(row) == len(schema) for row in rows)
    ):
        return matrix
    rows = validate_rows(rows, version, field="inputs", batch=True)
    return build_matrix(rows, schema)
