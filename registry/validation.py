"""Input rows checked against a version's schema at submit, before anything reaches a worker:
the errors an API client reads (`invalid_input`, each problem under its field)."""

import numpy as np

from mlservice.errors import ServiceError
from registry.models import ModelVersion
from registry.schemas import build_matrix, build_matrix_if_plain, project_row, row_errors

MAX_REPORTED_ERRORS = 100


class InvalidInput(ServiceError):
    default_code = "invalid_input"
    default_detail = "The input does not match the model's schema."


def validate_rows(rows: list, version: ModelVersion, *, field: str, batch: bool) -> list[dict]:
    """Check every row against the version's schema; return them projected to its features.

    Errors name the field and, for batches, the row index: `inputs[3].petal_width`.
    """
    schema, ignore = version.input_schema, version.ignore_extra_features
    fields: dict[str, list[str]] = {}
    bad_rows = 0
    for index, row in enumerate(rows):
        errors = row_errors(row, schema, ignore_extra=ignore)
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
    return [project_row(row, schema) for row in rows]


def validate_batch(rows: list, version: ModelVersion) -> np.ndarray:
    """The feature matrix of a batch's rows, each checked against the version's schema.

    Rows of plain numbers within the schema are checked column by column with numpy; anything
    else goes through `validate_rows`, which names each problem.
    """
    schema = version.input_schema
    matrix = build_matrix_if_plain(rows, schema)
    # Every row has every feature, or there would be no matrix: more keys are extras.
    if matrix is not None and (
        version.ignore_extra_features or all(len(row) == len(schema) for row in rows)
    ):
        return matrix
    rows = validate_rows(rows, version, field="inputs", batch=True)
    return build_matrix(rows, schema)
