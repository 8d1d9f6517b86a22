import numpy as np
import pytest

from predictions.cache import PredictorCache
from registry import demo, services, twins
from tests.registry.conftest import DIABETES, IRIS
from tests.registry.test_api import add_version

pytestmark = pytest.mark.django_db


def test_a_skops_classifier_gets_an_onnx_twin_that_serves_it(iris_model, artifacts):
    version = add_version(iris_model, artifacts.iris_skops, "skops")
    assert version.runtime == "sklearn"
    assert version.serving_runtime == "onnxruntime (twin)"
    assert version.twin_report["kept"] is True
    assert version.twin_report["label_mismatches"] == 0
    assert version.twin_report["max_probability_diff"] <= 1e-5
    assert version.twin_report["rows_compared"] == twins.SAMPLE_ROWS
    predictor = PredictorCache(2).get(version)
    assert predictor.runtime == "onnxruntime"
    rows, X, _ = demo.dataset("iris")
    outputs = predictor.predict(rows)
    expected = [IRIS.labels[i] for i in artifacts.iris_estimator.predict(X)]
    assert [o["label"] for o in outputs] == expected
    probabilities = np.array([[o["probabilities"][lab] for lab in IRIS.labels] for o in outputs])
    np.testing.assert_allclose(probabilities, artifacts.iris_estimator.predict_proba(X), atol=1e-5)


def test_a_regressor_twin_is_kept_only_within_tolerance(diabetes_model, artifacts):
    version = add_version(diabetes_model, artifacts.diabetes_skops, "skops", spec=DIABETES)
    report = version.twin_report
    if report["kept"]:
        assert report["max_relative_diff"] <= twins.TOLERANCE
        assert version.serving_runtime == "onnxruntime (twin)"
    else:
        assert report["max_relative_diff"] > twins.TOLERANCE
        assert version.serving_runtime == "sklearn" and not version.onnx_twin


def test_outputs_that_disagree_keep_the_original_runtime():
    expected = [{"label": "a", "probabilities": {"a": 0.6, "b": 0.4}}]
    flipped = [{"label": "b", "probabilities": {"a": 0.4, "b": 0.6}}]
    close = [{"label": "a", "probabilities": {"a": 0.600001, "b": 0.399999}}]
    report = twins.compare(expected, flipped, task="classification", labels=["a", "b"])
    assert report["kept"] is False and report["label_mismatches"] == 1
    assert twins.compare(expected, close, task="classification", labels=["a", "b"])["kept"]


def test_an_estimator_skl2onnx_cannot_convert_is_served_as_uploaded(db, tmp_path, allow_pickles):
    import joblib

    from tests.predictions.hostile_models import ExplodingRegressor

    model = services.model_create(name="custom", task="regression")
    path = tmp_path / "custom.joblib"
    joblib.dump(ExplodingRegressor().fit([[0.0, 0.0]]), path)
    from tests.registry.conftest import Artifacts

    version = services.version_create(
        model=model,
        artifact=path,
        format="joblib",
        input_schema=[{"name": "x", "type": "number"}, {"name": "y", "type": "number"}],
        input_example={"x": 1, "y": 2},
        expected_sha256=Artifacts.sha256(path),
        trusted_operator=True,
    )
    assert version.serving_runtime == "sklearn" and not version.onnx_twin
    assert version.twin_report["kept"] is False
    assert version.twin_report["reason"].startswith("conversion failed")


def test_twins_can_be_switched_off(iris_model, artifacts, settings):
    settings.REGISTRY_ONNX_TWINS = False
    version = add_version(iris_model, artifacts.iris_skops, "skops")
    assert version.serving_runtime == "sklearn" and version.twin_report == {}


def test_an_onnx_upload_needs_no_twin(iris_model, artifacts):
    version = add_version(iris_model, artifacts.iris_onnx, "onnx")
    assert version.serving_runtime == "onnxruntime" and not version.onnx_twin
