"""One predictor interface over the artifact formats the registry accepts.

`skops` and `joblib` artifacts run in scikit-learn, `onnx` artifacts in onnxruntime. Everything
here is plain Python (no Django) so that RQ workers and tests can use it without settings.

`validate_artifact` is the gate for uploads: size, pickle policy, sha256, real format (sniffed
from the content, never trusted from the name), safe load, then one run of the input example.
`load_predictor` loads an artifact that already passed that gate.
"""

import bz2
import hashlib
import lzma
import math
import numbers
import os
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime

from registry.skops_allowlist import TRUSTED_TYPES

FORMATS = ("skops", "onnx", "joblib")
CLASSIFICATION = "classification"
REGRESSION = "regression"
TASKS = (CLASSIFICATION, REGRESSION)

PathLike = str | os.PathLike[str]


class ArtifactError(Exception):
    """An artifact the registry refuses; `code` is a short snake_case reason for API clients."""

    def __init__(self, message: str, code: str = "invalid_artifact") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def sha256_file(path: PathLike) -> str:
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


# --- Format sniffing --------------------------------------------------------------------------

_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTO = 0x80  # every pickle of protocol >= 2 starts with the PROTO opcode

# joblib's compressed files (joblib/compressor.py) wrap a pickle stream; lz4 is left out because
# the lz4 package is not installed, so joblib could not load such a file anyway.
_COMPRESSED_PICKLE: tuple[tuple[bytes, Callable[[], Any]], ...] = (
    (b"\x1f\x8b", lambda: zlib.decompressobj(wbits=31)),  # gzip
    (b"BZ", bz2.BZ2Decompressor),
    (b"\xfd7zXZ", lzma.LZMADecompressor),  # xz
    (b"\x5d\x00", lambda: lzma.LZMADecompressor(format=lzma.FORMAT_ALONE)),  # lzma
    (b"\x78", zlib.decompressobj),  # zlib
)
_PEEK_CHUNK = 64 * 1024
_PEEK_LIMIT = 4 * 1024 * 1024  # a bz2 block can be ~900 kB before it yields its first byte


def sniff_format(path: PathLike) -> str | None:
    """The artifact format the content really has, decided from magic bytes; None if unknown.

    Never unpickles: a joblib file is recognised by the pickle PROTO opcode, looked for in the
    decompressed head of the file when joblib compressed it.
    """
    with open(path, "rb") as file:
        head = file.read(8)
    if head.startswith(_ZIP_MAGIC):
        return "skops" if _is_skops_zip(path) else None
    if head[:1] == bytes([_PICKLE_PROTO]):
        return "joblib"
    for prefix, decompressor in _COMPRESSED_PICKLE:
        if head.startswith(prefix) and _decompressed_head(path, decompressor()) == _PICKLE_PROTO:
            return "joblib"
    return "onnx" if _parse_onnx_graph(Path(path).read_bytes()) is not None else None


def _is_skops_zip(path: PathLike) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return "schema.json" in archive.namelist()
    except zipfile.BadZipFile:
        return False


def _decompressed_head(path: PathLike, decompressor: Any) -> int | None:
    """The first decompressed byte; bounded, since the file may be a decompression bomb."""
    with open(path, "rb") as file:
        for _ in range(_PEEK_LIMIT // _PEEK_CHUNK):
            chunk = file.read(_PEEK_CHUNK)
            if not chunk:
                return None
            try:
                out = decompressor.decompress(chunk, 1)
            except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError):
                return None
            if out:
                return out[0]
    return None


def _parse_onnx_graph(data: bytes) -> onnx.ModelProto | None:
    # Protobuf parses many byte strings without complaint; a real model has a version and a graph.
    try:
        model = onnx.load_model_from_string(data)
    except Exception:
        return None
    if model.ir_version > 0 and model.HasField("graph") and len(model.graph.output) > 0:
        return model
    return None


# --- Input rows -------------------------------------------------------------------------------


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
            raise ValueError(f"row {index}: expected an object of feature values")
        matrix[index] = [_feature_value(feature, row, index) for feature in input_schema]
    return matrix.astype(dtype, copy=False)


_PLAIN_NUMBERS = (int, float)


def build_matrix_if_plain(
    rows: Sequence[Mapping[str, Any]], input_schema: list[dict]
) -> np.ndarray | None:
    """The matrix, checked column by column with numpy, when every row is a dict of plain ints
    and floats within the schema; None when anything is off (a missing feature, another type, a
    number too large for a float, a bound), and a per-value check then finds and names it.
    (Checked per value, a 100,000-row batch of 4 features spent 1.36 s of a cProfile run
    here in build_matrix.)"""
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
        kind = feature.get("type", "number")
        if kind == "boolean":
            return False
        values_of = matrix[:, column]
        if kind == "integer" and not (values_of == np.round(values_of)).all():
            return False
        if feature.get("minimum") is not None and (values_of < feature["minimum"]).any():
            return False
        if feature.get("maximum") is not None and (values_of > feature["maximum"]).any():
            return False
        if feature.get("enum") is not None and not np.isin(values_of, feature["enum"]).all():
            return False
    return True


def _feature_value(feature: dict, row: Mapping[str, Any], index: int) -> float:
    name = feature["name"]
    if name not in row:
        raise ValueError(f"row {index}: feature '{name}' is missing")
    value = row[name]
    kind = feature.get("type", "number")
    if kind == "boolean":
        if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
            return float(value)
        raise ValueError(f"row {index}: feature '{name}' must be true or false, got {value!r}")
    # bool is an int in Python, but true/false for a numeric feature is a client mistake.
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise ValueError(f"row {index}: feature '{name}' must be a number, got {value!r}")
    try:
        number = float(value)
    except OverflowError:  # an int beyond float64
        number = math.inf
    if not math.isfinite(number):
        raise ValueError(f"row {index}: feature '{name}' must be finite, got {value!r}")
    if kind == "integer" and not number.is_integer():
        raise ValueError(f"row {index}: feature '{name}' must be an integer, got {value!r}")
    _check_bounds(feature, number, index)
    return number


def _check_bounds(feature: dict, number: float, index: int) -> None:
    name = feature["name"]
    if feature.get("minimum") is not None and number < feature["minimum"]:
        raise ValueError(f"row {index}: feature '{name}' must be >= {feature['minimum']}")
    if feature.get("maximum") is not None and number > feature["maximum"]:
        raise ValueError(f"row {index}: feature '{name}' must be <= {feature['maximum']}")
    if feature.get("enum") is not None and number not in feature["enum"]:
        raise ValueError(f"row {index}: feature '{name}' must be one of {feature['enum']}")


# --- Predictors -------------------------------------------------------------------------------


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
        # A model predicts few distinct classes: each is looked up once.
        classes, inverse = np.unique(np.asarray(predicted).reshape(-1), return_inverse=True)
        if len(inverse) != n_rows:
            raise ArtifactError(
                f"the model returned {len(inverse)} labels where {n_rows} were expected",
                code="unsupported_model",
            )
        index_of = np.array([self.labels.index(self._label_of(c)) for c in classes])
        outputs = np.empty((n_rows, 1 + len(self.labels)), dtype=np.float64)
        outputs[:, 0] = index_of[inverse.reshape(-1)]
        outputs[:, 1:] = by_label
        return outputs

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


class SklearnPredictor(Predictor):
    runtime = "sklearn"

    def __init__(
        self, model: Any, *, task: str, input_schema: list[dict], labels: list[str] | None
    ) -> None:
        _check_sklearn_model(model, task, input_schema)
        self.model = model
        classes = getattr(model, "classes_", None) if task == CLASSIFICATION else None
        super().__init__(task=task, input_schema=input_schema, labels=labels, classes=classes)

    def _regress(self, matrix: np.ndarray) -> np.ndarray:
        return self.model.predict(matrix)

    def _classify(self, matrix: np.ndarray) -> tuple[Sequence[Any], np.ndarray]:
        # predict, not argmax(predict_proba): they differ for some models (SVC with Platt scaling)
        # and the label must be what the model itself predicts.
        return self.model.predict(matrix), self.model.predict_proba(matrix)


def _check_sklearn_model(model: Any, task: str, input_schema: list[dict]) -> None:
    from sklearn.base import is_classifier  # loaded with the model already; see _load_skops

    if not hasattr(model, "predict"):
        raise ArtifactError(f"a {type(model).__name__} has no predict()", code="unsupported_model")
    if task == CLASSIFICATION and not (
        hasattr(model, "predict_proba") and hasattr(model, "classes_")
    ):
        raise ArtifactError(
            f"a classifier needs predict_proba() and classes_; {type(model).__name__} lacks them",
            code="unsupported_model",
        )
    if task == REGRESSION and is_classifier(model):
        raise ArtifactError(
            f"{type(model).__name__} is a classifier, not a regressor", code="task_mismatch"
        )
    _check_feature_names(model, input_schema)


def _check_feature_names(model: Any, input_schema: list[dict]) -> None:
    names = [feature["name"] for feature in input_schema]
    count = getattr(model, "n_features_in_", None)
    if count is not None and count != len(names):
        raise ArtifactError(
            f"the model takes {count} features but the schema has {len(names)}",
            code="schema_mismatch",
        )
    # A model fitted on a DataFrame knows its column order; a schema in another order would
    # silently feed it the wrong columns.
    fitted_names = getattr(model, "feature_names_in_", None)
    if fitted_names is not None and list(fitted_names) != names:
        raise ArtifactError(
            f"the model was fitted on the columns {list(fitted_names)} in that order, "
            f"but the schema lists {names}",
            code="schema_mismatch",
        )


_ONNX_INPUT_DTYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64}
_ONNX_CLASS_ATTRIBUTES = ("classlabels_strings", "classlabels_int64s", "classlabels_ints")


class OnnxPredictor(Predictor):
    runtime = "onnxruntime"

    def __init__(
        self, data: bytes, *, task: str, input_schema: list[dict], labels: list[str] | None
    ) -> None:
        model = _parse_onnx_graph(data)
        if model is None:
            raise ArtifactError("the file is not an ONNX model with a graph", code="load_failed")
        _refuse_external_data(model)
        self.session = _onnx_session(data)
        self.input_name, self.dtype = _onnx_input(self.session, len(input_schema))
        self.output_names = _onnx_outputs(self.session, task)
        # Converters name the probability columns on the classifier (or ZipMap) node; without
        # that, column i is class i.
        classes = _onnx_classes(model.graph) if task == CLASSIFICATION else None
        if task == CLASSIFICATION and classes is None:
            classes = list(range(len(labels or [])))
        self.classes = classes
        super().__init__(task=task, input_schema=input_schema, labels=labels, classes=classes)

    def _run(self, matrix: np.ndarray) -> list[Any]:
        return self.session.run(self.output_names, {self.input_name: matrix})

    def _regress(self, matrix: np.ndarray) -> np.ndarray:
        return self._run(matrix)[0]

    def _classify(self, matrix: np.ndarray) -> tuple[Sequence[Any], np.ndarray]:
        predicted, probabilities = self._run(matrix)
        if isinstance(probabilities, list):  # ZipMap: one {class: probability} dict per row
            probabilities = [[row[c] for c in self.classes] for row in probabilities]
        probabilities = np.asarray(probabilities)
        if probabilities.ndim != 2 or probabilities.shape[1] != len(self._names):
            raise ArtifactError(
                f"the model returned probabilities of shape {probabilities.shape} "
                f"for {len(self._names)} labels",
                code="labels_mismatch",
            )
        return predicted, probabilities


def _onnx_session(data: bytes) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    # One thread per session: the workers run several predictions side by side.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # From bytes, not from the path, so nothing next to the file is ever read.
    return onnxruntime.InferenceSession(
        data, sess_options=options, providers=["CPUExecutionProvider"]
    )


def _onnx_input(session: onnxruntime.InferenceSession, n_features: int) -> tuple[str, Any]:
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ArtifactError(
            f"the ONNX model must take exactly one input, it takes {len(inputs)}",
            code="unsupported_model",
        )
    (model_input,) = inputs
    if model_input.type not in _ONNX_INPUT_DTYPES:
        raise ArtifactError(
            f"the ONNX input must be a float or double tensor, not {model_input.type}",
            code="unsupported_model",
        )
    shape = model_input.shape
    if len(shape) == 2 and isinstance(shape[1], int) and shape[1] != n_features:
        raise ArtifactError(
            f"the model takes {shape[1]} features but the schema has {n_features}",
            code="schema_mismatch",
        )
    return model_input.name, _ONNX_INPUT_DTYPES[model_input.type]


def _onnx_outputs(session: onnxruntime.InferenceSession, task: str) -> list[str]:
    """Output names used: the value for regressors; label, then probabilities, for classifiers."""
    names = [output.name for output in session.get_outputs()]
    needed = 2 if task == CLASSIFICATION else 1
    if len(names) < needed:
        raise ArtifactError(
            "an ONNX classifier must output a label and probabilities"
            if task == CLASSIFICATION
            else "the ONNX model has no output",
            code="unsupported_model",
        )
    return names[:needed]


def _onnx_classes(graph: onnx.GraphProto) -> list[Any] | None:
    # The last node that names classes is the final classifier or the ZipMap after it.
    for node in reversed(graph.node):
        for attribute in node.attribute:
            if attribute.name in _ONNX_CLASS_ATTRIBUTES:
                values = onnx.helper.get_attribute_value(attribute)
                return [v.decode() if isinstance(v, bytes) else v for v in values]
    return None


def _refuse_external_data(model: onnx.ModelProto) -> None:
    """External data makes the runtime read other files (any path the model names)."""
    for tensor in _model_tensors(model):
        if tensor.data_location == onnx.TensorProto.EXTERNAL or len(tensor.external_data) > 0:
            raise ArtifactError(
                "the ONNX model keeps tensors in external files; "
                "save it as one self-contained file",
                code="external_data",
            )


def _model_tensors(model: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    yield from _graph_tensors(model.graph)
    for function in model.functions:
        for node in function.node:
            yield from _attribute_tensors(node.attribute)
    for training in model.training_info:
        yield from _graph_tensors(training.initialization)
        yield from _graph_tensors(training.algorithm)


def _graph_tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield from (sparse.values, sparse.indices)
    for node in graph.node:
        yield from _attribute_tensors(node.attribute)


def _attribute_tensors(attributes: Sequence[onnx.AttributeProto]) -> Iterator[onnx.TensorProto]:
    for attribute in attributes:
        yield attribute.t
        yield from attribute.tensors
        for sparse in [attribute.sparse_tensor, *attribute.sparse_tensors]:
            yield from (sparse.values, sparse.indices)
        for subgraph in [attribute.g, *attribute.graphs]:  # If/Loop/Scan bodies
            yield from _graph_tensors(subgraph)


# --- Loading ----------------------------------------------------------------------------------


# skops and joblib are imported when first used: importing skops.io imports every scikit-learn
# estimator (about 3 s), which processes that never load a scikit-learn model should not pay.


def _load_skops(path: Path, **kwargs: Any) -> Predictor:
    import skops.io

    untrusted = skops.io.get_untrusted_types(file=path)
    refused = sorted(set(untrusted) - set(TRUSTED_TYPES))
    if refused:
        raise ArtifactError(
            f"the skops file contains types that are not on the allowlist: {', '.join(refused)}",
            code="untrusted_type",
        )
    return SklearnPredictor(skops.io.load(path, trusted=untrusted), **kwargs)


def _load_onnx(path: Path, **kwargs: Any) -> Predictor:
    return OnnxPredictor(path.read_bytes(), **kwargs)


def _load_joblib(path: Path, **kwargs: Any) -> Predictor:
    import joblib

    return SklearnPredictor(joblib.load(path), **kwargs)


_LOADERS: dict[str, Callable[..., Predictor]] = {
    "skops": _load_skops,
    "onnx": _load_onnx,
    "joblib": _load_joblib,
}


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

    A joblib artifact is a pickle, and unpickling runs whatever code the file names. So it is
    loaded only with `allow_pickle=True`, and no sha256 is checked here: the caller must pass
    only a stored artifact whose sha256 it has checked against the one recorded at upload
    (`validate_artifact` does this check for uploads). Any failure to load becomes an
    ArtifactError with code `load_failed`, carrying a one-line message.
    """
    _check_arguments(fmt, task)
    if fmt == "joblib" and not allow_pickle:
        raise ArtifactError(_PICKLE_REFUSED, code="pickle_not_allowed")
    try:
        return _LOADERS[fmt](Path(path), task=task, input_schema=input_schema, labels=labels)
    except ArtifactError:
        raise
    except Exception as exc:
        raise ArtifactError(
            f"the {fmt} artifact could not be loaded: {_describe(exc)}", code="load_failed"
        ) from exc


_PICKLE_REFUSED = "joblib (pickle) artifacts are not allowed here: loading one runs arbitrary code"


def _check_arguments(fmt: str, task: str) -> None:
    # These are the caller's bugs, not the uploader's: the API restricts both to choices.
    if fmt not in FORMATS:
        raise ValueError(f"unknown artifact format {fmt!r}; expected one of {FORMATS}")
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")


def _describe(exc: BaseException) -> str:
    """The exception's first line, short enough for an API error message."""
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


# --- Validation -------------------------------------------------------------------------------


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

    Order matters: the size is checked before anything is read, and a joblib file is hashed and
    compared with `expected_sha256` before it is unpickled. Returns the sha256, size, runtime
    and the output of the input example.
    """
    _check_arguments(fmt, task)
    size = os.stat(path).st_size
    if size > max_bytes:
        raise ArtifactError(
            f"the file is {size:,} bytes, over the limit of {max_bytes:,}", code="too_large"
        )
    if fmt == "joblib":
        _check_pickle_policy(allow_pickle, expected_sha256)
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


def _check_pickle_policy(allow_pickle: bool, expected_sha256: str | None) -> None:
    if not allow_pickle:
        raise ArtifactError(_PICKLE_REFUSED, code="pickle_not_allowed")
    if not expected_sha256:
        raise ArtifactError(
            "a joblib (pickle) artifact is accepted only with its expected sha256",
            code="pickle_not_allowed",
        )


def _run_example(predictor: Predictor, input_example: dict) -> dict:
    names = [feature["name"] for feature in predictor.input_schema]
    if not isinstance(input_example, dict) or set(input_example) != set(names):
        raise ArtifactError(
            f"the input example must have exactly the features {names}", code="example_failed"
        )
    try:
        (output,) = predictor.predict([input_example])
    except ArtifactError:
        raise
    except Exception as exc:
        raise ArtifactError(
            f"the model failed on the input example: {_describe(exc)}", code="example_failed"
        ) from exc
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
