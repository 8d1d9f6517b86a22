"""What every format shares: the Predictor interface, the outputs' shape, the errors, and the
`Format` entry that lists a format in `registry.runtimes.formats.FORMATS`."""

import importlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from registry.schemas import build_matrix

CLASSIFICATION = "classification"
REGRESSION = "regression"
FORECAST = "forecast"
TASKS = (CLASSIFICATION, REGRESSION, FORECAST)

PathLike = str | os.PathLike[str]


class ArtifactError(Exception):
    """An artifact the registry refuses; `code` is a short snake_case reason for API clients."""

    def __init__(self, message: str, code: str = "invalid_artifact") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def describe(exc: BaseException) -> str:
    """The exception's first line, short enough for an API error message."""
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def check_feature_count(count: int, input_schema: list[dict]) -> None:
    """The model takes as many features as the version's schema lists."""
    if count != len(input_schema):
        raise ArtifactError(
            f"the model takes {count} features but the schema has {len(input_schema)}",
            code="schema_mismatch",
        )


def check_feature_names(names: Sequence[str] | None, input_schema: list[dict]) -> None:
    """Feature names the model file carries are the schema's, in its order: a schema in another
    order would silently feed the model the wrong columns. Files without names pass."""
    expected = [feature["name"] for feature in input_schema]
    if names is not None and list(names) != expected:
        raise ArtifactError(
            f"the model was fitted on the features {list(names)} in that order, "
            f"but the schema lists {expected}",
            code="schema_mismatch",
        )


def _class_key(value: Any) -> int | float | str:
    """A model class as a plain hashable value: 1, np.int64(1) and 1.0 are the same class."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, str):
        return str(value)  # also turns np.str_ into str
    number = float(value)
    return int(number) if number.is_integer() else number


def _label_names(classes: Sequence[Any], labels: list[str] | None) -> dict[Any, str]:
    """Map each model class (in the model's column order) to its label.

    Classes 0..n-1 are named by position in `labels`; other classes (strings, usually) must
    be exactly the labels and are matched by value.
    """
    keys = [_class_key(value) for value in classes]
    if not labels or len(set(labels)) != len(labels) or len(labels) != len(keys):
        raise ArtifactError(
            f"the model has {len(keys)} classes {keys} but the labels are {labels}; "
            "give one distinct label per class",
            code="labels_mismatch",
        )
    if keys == list(range(len(keys))):
        return dict(zip(keys, labels, strict=True))
    if sorted(str(key) for key in keys) == sorted(labels):
        return {key: str(key) for key in keys}
    raise ArtifactError(
        f"the model's classes {keys} do not match the labels {labels}", code="labels_mismatch"
    )


class Predictor:
    """Runs one model over dict rows. Subclasses wrap a runtime and return raw model outputs."""

    runtime: str = ""
    dtype: Any = np.float64

    def __init__(
        self,
        *,
        task: str,
        input_schema: list[dict],
        labels: list[str] | None,
        classes: Sequence[Any] | None,
    ) -> None:
        self.task = task
        self.input_schema = input_schema
        self.labels = labels
        self._names: dict[Any, str] = {}  # model class -> label, in the model's column order
        if task == CLASSIFICATION:
            self._names = _label_names([] if classes is None else classes, labels)

    def predict(self, rows: Sequence[Mapping[str, Any]]) -> list[dict]:
        """One JSON-ready output per row, in order; the model runs once over all rows."""
        matrix = build_matrix(rows, self.input_schema, dtype=self.dtype)
        if not rows:
            return []
        return output_rows(self.predict_matrix(matrix), task=self.task, labels=self.labels)

    def predict_matrix(self, matrix: np.ndarray) -> np.ndarray:
        """The outputs of already validated rows (features in schema order) as one float64
        matrix, a row per input row: for regression the value; for classification the
        predicted label's index in `labels`, then one probability per label, in the labels'
        order. Batches are stored and rendered from this without a dict per row."""
        matrix = np.asarray(matrix).astype(self.dtype, copy=False)
        n_rows = len(matrix)
        if n_rows == 0:
            width = 1 if self.task == REGRESSION else 1 + len(self.labels or [])
            return np.empty((0, width), dtype=np.float64)
        if self.task == REGRESSION:
            return _finite(self._regress(matrix), n_rows, what="values").reshape(n_rows, 1)
        predicted, probabilities = self._classify(matrix)
        probabilities = _finite(probabilities, n_rows * len(self._names), what="probabilities")
        model_order = list(self._names.values())
        by_label = probabilities.reshape(n_rows, -1)[
            :, [model_order.index(name) for name in self.labels]
        ]
        outputs = np.empty((n_rows, 1 + len(self.labels)), dtype=np.float64)
        outputs[:, 0] = self._label_indexes(predicted, n_rows)
        outputs[:, 1:] = by_label
        return outputs

    def _label_indexes(self, predicted: Any, n_rows: int) -> np.ndarray:
        """Each predicted class's index in `labels`."""
        # A model predicts few distinct classes: each is looked up once.
        classes, inverse = np.unique(np.asarray(predicted).reshape(-1), return_inverse=True)
        if len(inverse) != n_rows:
            raise ArtifactError(
                f"the model returned {len(inverse)} labels where {n_rows} were expected",
                code="unsupported_model",
            )
        index_of = np.array([self.labels.index(self._label_of(c)) for c in classes])
        return index_of[inverse.reshape(-1)]

    def _label_of(self, predicted: Any) -> str:
        label = self._names.get(_class_key(predicted))
        if label is None:
            raise ArtifactError(
                f"the model predicted the class {predicted!r}, which has no label",
                code="labels_mismatch",
            )
        return label

    def _regress(self, matrix: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _classify(self, matrix: np.ndarray) -> tuple[Sequence[Any], np.ndarray]:
        """The predicted classes and the probability matrix, columns in the model's class order."""
        raise NotImplementedError


class TwinnedPredictor(Predictor):
    """A version served by its ONNX twin, except batches of more than `max_rows` rows, which
    its own runtime predicts (the faster of the two there); both give the same outputs."""

    def __init__(self, twin: Predictor, native: Predictor, max_rows: int) -> None:
        self.twin, self.native, self.max_rows = twin, native, max_rows
        self.runtime = twin.runtime
        self.task, self.input_schema, self.labels = twin.task, twin.input_schema, twin.labels

    def predict_matrix(self, matrix: np.ndarray) -> np.ndarray:
        chosen = self.native if len(matrix) > self.max_rows else self.twin
        return chosen.predict_matrix(matrix)


def _finite(values: Any, expected_size: int, *, what: str) -> np.ndarray:
    # NaN/inf are not JSON and PostgreSQL's jsonb refuses them: fail the prediction instead.
    array = np.asarray(values, dtype=np.float64)
    if array.size != expected_size:
        raise ArtifactError(
            f"the model returned {array.size} {what} where {expected_size} were expected",
            code="unsupported_model",
        )
    if not np.isfinite(array).all():
        raise ValueError(f"the model returned non-finite {what}")
    return array


def output_rows(outputs: np.ndarray, *, task: str, labels: list[str] | None) -> list[dict]:
    """`Predictor.predict_matrix`'s outputs as one JSON-ready dict per row:
    `{"value": v}` or `{"label": l, "probabilities": {label: p}}`."""
    if task == REGRESSION:
        return [{"value": value} for value in outputs[:, 0].tolist()]
    names = [labels[i] for i in outputs[:, 0].astype(np.intp).tolist()]
    return [
        {"label": name, "probabilities": dict(zip(labels, row, strict=True))}
        for name, row in zip(names, outputs[:, 1:].tolist(), strict=True)
    ]


def importer(*modules: str) -> Callable[[], None]:
    """A `Format.import_runtime` that imports these modules."""

    def import_modules() -> None:
        for module in modules:
            importlib.import_module(module)

    return import_modules


@dataclass(frozen=True)
class Format:
    """One artifact format: an entry of `registry.runtimes.formats.FORMATS`."""

    name: str  # the `format` an uploader states
    label: str  # shown in the admin and the API docs
    suffix: str  # of the stored file's generated name
    # How its files start; a file is `sniff`ed only by the formats whose magic it starts with,
    # then by those with none (their check parses the whole file, so it comes last).
    magic: tuple[bytes, ...]
    sniff: Callable[[Path], bool]  # whether the file really is one; never loads or unpickles it
    load: Callable[..., Predictor]  # (path, *, task, input_schema, labels) -> Predictor
    # Loading runs code the file names: accepted only from staff, with the sha256 they state.
    pickle: bool = False
    # A predictor of this format -> an equivalent ONNX model's bytes (an onnxruntime twin,
    # kept if its outputs agree); None: no twin is tried.
    to_onnx: Callable[[Predictor], bytes] | None = None
    # The file is a forecaster itself (loaded for the forecast task only). Other formats hold a
    # regressor, which the forecast task runs step by step on lags of the series.
    forecaster: bool = False
    # Imports the library its models run in, so a worker can pay for it before its first job.
    import_runtime: Callable[[], object] | None = None
    # Batches of more rows than this run in the format's own library, which is faster than the
    # ONNX twin on large batches; None: the twin, when there is one, runs every batch.
    twin_max_rows: int | None = None
