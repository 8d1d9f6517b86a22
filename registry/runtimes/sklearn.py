"""scikit-learn estimators, whatever file they come from (skops, joblib), and their conversion
to ONNX. scikit-learn and skl2onnx are imported when first used: processes that never load a
scikit-learn model should not pay for importing them."""

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx

from registry.runtimes.base import (
    CLASSIFICATION,
    REGRESSION,
    ArtifactError,
    Predictor,
    check_feature_count,
    check_feature_names,
)

# Well inside what the installed onnxruntime runs and what skl2onnx tests.
ONNX_TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}


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
    from sklearn.base import is_classifier  # already imported by loading the model

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
    count = getattr(model, "n_features_in_", None)
    if count is not None:
        check_feature_count(count, input_schema)
    check_feature_names(getattr(model, "feature_names_in_", None), input_schema)


def estimator_to_onnx(estimator: Any, n_features: int) -> onnx.ModelProto:
    """The estimator converted by skl2onnx, taking a float32 matrix of n_features columns.

    Classifiers get `zipmap: False`, so probabilities come out as one matrix rather than a
    list of dicts.
    """
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.base import is_classifier

    options = {id(estimator): {"zipmap": False}} if is_classifier(estimator) else None
    return to_onnx(
        estimator,
        initial_types=[("input", FloatTensorType([None, n_features]))],
        options=options,
        target_opset=ONNX_TARGET_OPSET,
    )


def to_onnx(predictor: SklearnPredictor) -> bytes:
    """An ONNX twin of a scikit-learn predictor; raises when skl2onnx cannot convert it."""
    return estimator_to_onnx(predictor.model, len(predictor.input_schema)).SerializeToString()
