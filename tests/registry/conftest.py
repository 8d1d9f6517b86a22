import hashlib
import io
import pickle
from pathlib import Path

import joblib
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from registry import demo
from registry.models import MLModel

IRIS = demo.DEMO_MODELS["iris"]
DIABETES = demo.DEMO_MODELS["diabetes"]


class Artifacts:
    """Real trained demo models exported in each format, built once per test session."""

    def __init__(self, root: Path):
        self.root = root
        self.iris_estimator = demo.train(IRIS)
        self.diabetes_estimator = demo.train(DIABETES)
        self.iris_skops = root / "iris.skops"
        self.iris_onnx = root / "iris.onnx"
        self.iris_joblib = root / "iris.joblib"
        self.diabetes_skops = root / "diabetes.skops"
        self.diabetes_onnx = root / "diabetes.onnx"
        demo.export_skops(self.iris_estimator, self.iris_skops)
        demo.export_onnx(self.iris_estimator, 4, self.iris_onnx)
        joblib.dump(self.iris_estimator, self.iris_joblib)
        demo.export_skops(self.diabetes_estimator, self.diabetes_skops)
        demo.export_onnx(self.diabetes_estimator, 10, self.diabetes_onnx)

    @staticmethod
    def sha256(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory):
    return Artifacts(tmp_path_factory.mktemp("artifacts"))


@pytest.fixture(autouse=True)
def media_root(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def stored_files(media_root: Path) -> list[Path]:
    return [p for p in Path(media_root).rglob("*") if p.is_file()]


class _Touch:
    """Unpickling this creates a file: proof of code execution if it ever happens."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return (Path.touch, (self.target,))


def malicious_pickle(target: Path) -> bytes:
    buffer = io.BytesIO()
    pickle.dump(_Touch(target), buffer, protocol=4)
    return buffer.getvalue()


@pytest.fixture
def iris_model(db):
    return MLModel.objects.create(name="iris", task="classification", title="Iris")


@pytest.fixture
def diabetes_model(db):
    return MLModel.objects.create(name="diabetes", task="regression", title="Diabetes")


def linear_onnx(coef: np.ndarray, intercept: float) -> onnx.ModelProto:
    """A linear regressor as MatMul + Add with its weights in initializers (real tensors)."""
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["input", "weights"], ["product"]),
            helper.make_node("Add", ["product", "bias"], ["variable"]),
        ],
        "linear",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, len(coef)])],
        [helper.make_tensor_value_info("variable", TensorProto.FLOAT, [None, 1])],
        initializer=[
            onnx.numpy_helper.from_array(coef.reshape(-1, 1).astype(np.float32), "weights"),
            onnx.numpy_helper.from_array(np.array([intercept], dtype=np.float32), "bias"),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
