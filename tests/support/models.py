"""Real trained models (the demo's, in every format, built once a session), hostile ones, and
the fixtures that register them; each test's own media folder and an empty queue and cache."""

import atexit
import functools
import hashlib
import io
import pickle
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from mlservice.redis import redis_connection
from predictions.cache import predictors
from registry import demo

IRIS = demo.DEMO_MODELS["iris"]


DIABETES = demo.DEMO_MODELS["diabetes"]


BREAST_CANCER = demo.DEMO_MODELS["breast-cancer-xgboost"]  # the boosted demos share a spec


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


@functools.cache
def shared_artifacts() -> Artifacts:
    """Built at the first use in a test session, for fixtures and factories alike."""
    root = Path(tempfile.mkdtemp(prefix="mls-test-artifacts-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return Artifacts(root)


@pytest.fixture(scope="session")
def artifacts():
    return shared_artifacts()


@dataclass(frozen=True)
class Booster:
    """A LightGBM or XGBoost model saved in its own format, with what registers it."""

    name: str
    path: Path
    fmt: str
    spec: demo.DemoModel  # schema, labels and example of its dataset
    estimator: Any  # the library's own scikit-learn-style estimator, for reference predictions


def _train_boosters(root: Path) -> dict[str, Booster]:
    import lightgbm
    import xgboost

    lgb_binary = demo.DEMO_MODELS["breast-cancer-lightgbm"]
    models = {
        "lightgbm-binary": (lgb_binary, lgb_binary.make_estimator),
        "lightgbm-multiclass": (IRIS, lambda: lightgbm.LGBMClassifier(n_estimators=20, verbose=-1)),
        "lightgbm-regressor": (
            DIABETES,
            lambda: lightgbm.LGBMRegressor(n_estimators=50, verbose=-1),
        ),
        "xgboost-binary": (BREAST_CANCER, BREAST_CANCER.make_estimator),
        "xgboost-multiclass": (IRIS, lambda: xgboost.XGBClassifier(n_estimators=20, max_depth=3)),
        "xgboost-regressor": (DIABETES, lambda: xgboost.XGBRegressor(n_estimators=50, max_depth=4)),
    }
    boosters = {}
    for name, (spec, make) in models.items():
        _, X, y = demo.dataset(spec.name)
        estimator = make().fit(X, y)
        fmt = name.split("-")[0]
        path = root / f"{name}.{fmt}"
        demo.export(fmt, spec, estimator, path)
        boosters[name] = Booster(name, path, fmt, spec, estimator)
    for name in ("xgboost-binary", "xgboost-regressor"):
        ubj = root / f"{name}.ubj"
        boosters[name].estimator.get_booster().save_model(ubj)
        json_booster = boosters[name]
        boosters[f"{name}-ubj"] = Booster(
            f"{name}-ubj", ubj, "xgboost", json_booster.spec, json_booster.estimator
        )
    return boosters


@pytest.fixture(scope="session")
def boosters(tmp_path_factory) -> dict[str, Booster]:
    """LightGBM and XGBoost classifiers (binary, multiclass) and regressors, built once."""
    return _train_boosters(tmp_path_factory.mktemp("boosters"))


@pytest.fixture
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


XY_SCHEMA = [{"name": "x", "type": "number"}, {"name": "y", "type": "number"}]


@pytest.fixture
def fresh_queue_and_cache():
    redis_connection().flushdb()
    predictors.clear()
    yield
    predictors.clear()
