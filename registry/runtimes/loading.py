"""Loading an artifact into a Predictor, and the gate every upload goes through first."""

import hashlib
import math
import os
from pathlib import Path

from registry import forecasts
from registry.runtimes import base
from registry.runtimes.archives import check_archive
from registry.runtimes.base import ArtifactError, Format, PathLike, Predictor, describe
from registry.runtimes.forecasters import LagForecaster, check_answer
from registry.runtimes.formats import FORMATS
from registry.runtimes.isolation import DEFAULT_LIMITS, IsolationLimits, run_isolated
from registry.runtimes.sniffing import sniff_format

# What an archive (a skops file) may hold when the caller does not say (the settings
# MODEL_MAX_ARCHIVE_MEMBERS and MODEL_MAX_UNPACKED_BYTES say it for uploads).
DEFAULT_MAX_MEMBERS = 50_000
DEFAULT_MAX_UNPACKED_BYTES = 200 * 1024 * 1024


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
    return _load(entry, Path(path), task=task, input_schema=input_schema, labels=labels)


def _load(entry: Format, source, **spec) -> Predictor:
    """`entry.load(source)`, any failure an ArtifactError `load_failed` with a one-line message;
    `source` is a path, or (in the isolated process) an open file."""
    try:
        return _load_for_task(entry, source, **spec)
    except ArtifactError:
        raise
    except Exception as exc:
        raise ArtifactError(
            f"the {entry.name} artifact could not be loaded: {describe(exc)}", code="load_failed"
        ) from exc


def _load_for_task(entry: Format, path, *, task: str, input_schema, labels) -> Predictor:
    """A forecast version in a regressor's format is that regressor run on lags of the series;
    a forecaster's own format (Prophet) serves the forecast task only."""
    if task == base.FORECAST and not entry.forecaster:
        regressor = entry.load(
            path,
            task=base.REGRESSION,
            input_schema=forecasts.model_features(input_schema),
            labels=None,
        )
        return LagForecaster(regressor, spec=input_schema)
    if entry.forecaster and task != base.FORECAST:
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
    if task not in base.TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {base.TASKS}")
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
    max_members: int = DEFAULT_MAX_MEMBERS,
    max_unpacked_bytes: int = DEFAULT_MAX_UNPACKED_BYTES,
    expected_sha256: str | None = None,
    allow_pickle: bool = False,
    twin: bool = False,
    isolation: IsolationLimits = DEFAULT_LIMITS,
) -> dict:
    """Check an uploaded artifact end to end; raise ArtifactError (with a `code`) if it fails.

    Order matters: the size is checked before anything is read, an archive's member count and
    unpacked size before a member is read, and a pickle is hashed and compared with
    `expected_sha256` before it is unpickled, which happens in another process
    (`isolation`), never in this one. Returns the sha256, size, runtime, the output of the
    input example and, with `twin`, the bytes of an ONNX twin that agrees with the model
    (None if none does) and the twin's report.
    """
    entry = _format(fmt, task)
    size = os.stat(path).st_size
    if size > max_bytes:
        raise ArtifactError(
            f"the file is {size:,} bytes, over the limit of {max_bytes:,}", code="too_large"
        )
    check_archive(path, max_members=max_members, max_unpacked_bytes=max_unpacked_bytes)
    if entry.pickle:
        _check_pickle_policy(entry, allow_pickle, expected_sha256)
    sha256 = _checked_content(path, fmt, expected_sha256)
    spec = {"task": task, "input_schema": input_schema, "labels": labels}
    if entry.pickle:
        checked = run_isolated(
            path, fmt, input_example=input_example, twin=twin, limits=isolation, **spec
        )
    else:
        checked = check_model(entry, Path(path), input_example=input_example, twin=twin, **spec)
    return {"sha256": sha256, "size": size, **checked}


def _checked_content(path: PathLike, fmt: str, expected_sha256: str | None) -> str:
    """The file's sha256, which must be `expected_sha256` when given, and its real format,
    which must be `fmt`; neither check loads the file."""
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
    return sha256


def check_model(entry: Format, source, *, input_example: dict, twin: bool, **spec) -> dict:
    """Load the artifact, run its input example and, with `twin`, try its ONNX twin: the
    runtime, the example's output, the twin's bytes (or None) and its report."""
    predictor = _load(entry, source, **spec)
    output = _run_example(predictor, input_example)
    twin_bytes, report = None, {}
    if twin and entry.to_onnx is not None:
        from registry import twins  # it imports this package

        twin_bytes, report = twins.make_twin(predictor, fmt=entry, input_example=input_example)
    return {
        "runtime": predictor.runtime,
        "example_output": output,
        "twin": twin_bytes,
        "twin_report": report,
    }


def _check_pickle_policy(entry: Format, allow_pickle: bool, expected_sha256: str | None) -> None:
    if not allow_pickle:
        raise ArtifactError(_pickle_refused(entry), code="pickle_not_allowed")
    if not expected_sha256:
        raise ArtifactError(
            f"a {entry.name} (pickle) artifact is accepted only with its expected sha256",
            code="pickle_not_allowed",
        )


def _run_example(predictor: Predictor, input_example: dict) -> dict:
    if predictor.task == base.FORECAST:
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
    check_output(output, task=predictor.task, labels=predictor.labels, example=input_example)
    return output


def check_output(output: dict, *, task: str, labels: list[str] | None, example: dict) -> None:
    """Refuse an input example's output that does not fit the task (`example_failed`)."""
    if task == base.FORECAST:
        check_answer(output, example[forecasts.HORIZON])
    else:
        _check_example_output(output, task, labels)


def _check_example_output(output: dict, task: str, labels: list[str] | None) -> None:
    if task == base.CLASSIFICATION:
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
