"""Loading an artifact into a Predictor, and the gate every upload goes through first."""

import hashlib
import math
import os
from pathlib import Path

from registry import forecasts
from registry.runtimes.base import (
    CLASSIFICATION,
    FORECAST,
    REGRESSION,
    TASKS,
    ArtifactError,
    Format,
    PathLike,
    Predictor,
    describe,
)
from registry.runtimes.forecasters import LagForecaster, check_answer
from registry.runtimes.formats import FORMATS
from registry.runtimes.sniffing import sniff_format


def sha256_file(path: PathLike) -> str:
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def load_predictor(
    path: PathLike,
    fmt: str,
    *,
    task: str,
    input_schema: list[dict],
    labels: list[str] | None,
    allow_pickle: bool = False,
) -> Predictor:
    """Load an artifact that already passed `validate_artifact`.

    Unpickling (a format with `pickle`, such as joblib) runs whatever code the file names. So
    such a file is loaded only with `allow_pickle=True`, and no sha256 is checked here: the
    caller must pass only a stored artifact whose sha256 it has checked against the one recorded
    at upload (`validate_artifact` does this check for uploads). Any failure to load becomes an
    ArtifactError with code `load_failed`, carrying a one-line message.
    """
    entry = _format(fmt, task)
    if entry.pickle and not allow_pickle:
        raise ArtifactError(_pickle_refused(entry), code="pickle_not_allowed")
    try:
        return _load(entry, Path(path), task=task, input_schema=input_schema, labels=labels)
    except ArtifactError:
        raise
    except Exception as exc:
        raise ArtifactError(
            f"the {fmt} artifact could not be loaded: {describe(exc)}", code="load_failed"
        ) from exc


def _load(entry: Format, path: Path, *, task: str, input_schema, labels) -> Predictor:
    """A forecast version in a regressor's format is that regressor run on lags of the series;
    a forecaster's own format (Prophet) serves the forecast task only."""
    if task == FORECAST and not entry.forecaster:
        regressor = entry.load(
            path, task=REGRESSION, input_schema=forecasts.model_features(input_schema), labels=None
        )
        return LagForecaster(regressor, spec=input_schema)
    if entry.forecaster and task != FORECAST:
        raise ArtifactError(
            f"a {entry.name} model forecasts; register it under a forecast model",
            code="task_mismatch",
        )
    return entry.load(path, task=task, input_schema=input_schema, labels=labels)


def _pickle_refused(entry: Format) -> str:
    return f"{entry.name} (pickle) artifacts are not allowed here: loading one runs arbitrary code"


def _format(fmt: str, task: str) -> Format:
    # These are the caller's bugs, not the uploader's: the API restricts both to choices.
    if fmt not in FORMATS:
        raise ValueError(f"unknown artifact format {fmt!r}; expected one of {tuple(FORMATS)}")
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
    return FORMATS[fmt]


def validate_artifact(
    path: PathLike,
    fmt: str,
    *,
    task: str,
    input_schema: list[dict],
    labels: list[str] | None,
    input_example: dict,
    max_bytes: int,
    expected_sha256: str | None = None,
    allow_pickle: bool = False,
) -> dict:
    """Check an uploaded artifact end to end; raise ArtifactError (with a `code`) if it fails.

    Order matters: the size is checked before anything is read, and a pickle is hashed and
    compared with `expected_sha256` before it is unpickled. Returns the sha256, size, runtime
    and the output of the input example.
    """
    entry = _format(fmt, task)
    size = os.stat(path).st_size
    if size > max_bytes:
        raise ArtifactError(
            f"the file is {size:,} bytes, over the limit of {max_bytes:,}", code="too_large"
        )
    if entry.pickle:
        _check_pickle_policy(entry, allow_pickle, expected_sha256)
    sha256 = sha256_file(path)
    if expected_sha256 is not None and sha256 != expected_sha256.strip().lower():
        raise ArtifactError(
            f"the file's sha256 is {sha256}, not the expected {expected_sha256}",
            code="sha256_mismatch",
        )
    found = sniff_format(path)
    if found != fmt:
        raise ArtifactError(
            f"the file is not a valid {fmt} artifact (looks like {found or 'an unknown format'})",
            code="format_mismatch",
        )
    predictor = load_predictor(
        path, fmt, task=task, input_schema=input_schema, labels=labels, allow_pickle=allow_pickle
    )
    output = _run_example(predictor, input_example)
    return {"sha256": sha256, "size": size, "runtime": predictor.runtime, "example_output": output}


def _check_pickle_policy(entry: Format, allow_pickle: bool, expected_sha256: str | None) -> None:
    if not allow_pickle:
        raise ArtifactError(_pickle_refused(entry), code="pickle_not_allowed")
    if not expected_sha256:
        raise ArtifactError(
            f"a {entry.name} (pickle) artifact is accepted only with its expected sha256",
            code="pickle_not_allowed",
        )


def _run_example(predictor: Predictor, input_example: dict) -> dict:
    if predictor.task == FORECAST:
        errors = forecasts.request_errors(input_example, predictor.input_schema)
        if errors:
            raise ArtifactError(
                f"the input example is not a valid forecast request: {errors}",
                code="example_failed",
            )
        input_example = forecasts.project_request(input_example, predictor.input_schema)
    else:
        names = [feature["name"] for feature in predictor.input_schema]
        if not isinstance(input_example, dict) or set(input_example) != set(names):
            raise ArtifactError(
                f"the input example must have exactly the features {names}",
                code="example_failed",
            )
    try:
        (output,) = predictor.predict([input_example])
    except ArtifactError:
        raise
    except Exception as exc:
        raise ArtifactError(
            f"the model failed on the input example: {describe(exc)}", code="example_failed"
        ) from exc
    if predictor.task == FORECAST:
        check_answer(output, input_example[forecasts.HORIZON])
    else:
        _check_example_output(output, predictor.task, predictor.labels)
    return output


def _check_example_output(output: dict, task: str, labels: list[str] | None) -> None:
    if task == CLASSIFICATION:
        probabilities = output.get("probabilities")
        valid = (
            output.get("label") in (labels or [])
            and isinstance(probabilities, dict)
            and sorted(probabilities) == sorted(labels or [])
            and all(isinstance(p, float) and math.isfinite(p) for p in probabilities.values())
        )
    else:
        value = output.get("value")
        valid = isinstance(value, float) and math.isfinite(value)
    if not valid:
        raise ArtifactError(
            f"the input example gave an output that does not fit a {task} model: {output}",
            code="example_failed",
        )
