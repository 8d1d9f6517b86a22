"""ONNX: a self-contained graph run by onnxruntime, from bytes, one thread per session."""

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime

from registry.runtimes.base import CLASSIFICATION, ArtifactError, Predictor


def parse_graph(data: bytes) -> onnx.ModelProto | None:
    # Protobuf parses many byte strings without complaint; a real model has a version and a graph.
    try:
        model = onnx.load_model_from_string(data)
    except Exception:
        return None
    if model.ir_version > 0 and model.HasField("graph") and len(model.graph.output) > 0:
        return model
    return None


# No fixed start: tried after the formats that have one (its check parses the whole file).
MAGIC = ()


def sniff(path: Path) -> bool:
    return parse_graph(Path(path).read_bytes()) is not None


_ONNX_INPUT_DTYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64}
_ONNX_CLASS_ATTRIBUTES = ("classlabels_strings", "classlabels_int64s", "classlabels_ints")


class OnnxPredictor(Predictor):
    runtime = "onnxruntime"

    def __init__(
        self, data: bytes, *, task: str, input_schema: list[dict], labels: list[str] | None
    ) -> None:
        model = parse_graph(data)
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


def load(path: Path, **kwargs) -> Predictor:
    return OnnxPredictor(Path(path).read_bytes(), **kwargs)
