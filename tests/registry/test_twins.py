import numpy as np
import pytest

from predictions.cache import PredictorCache
from registry import demo, runtimes, services, twins
from tests.support.factories import ModelVersionFactory
from tests.support.models import DIABETES, IRIS

pytestmark = pytest.mark.django_db


def test_a_skops_classifier_gets_an_onnx_twin_that_serves_it(iris_model, artifacts):
    version = ModelVersionFactory(model=iris_model)
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
    version = ModelVersionFactory(model=diabetes_model, spec=DIABETES)
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

    from tests.support.hostile_models import ExplodingRegressor

    model = services.model_create(name="custom", task="regression")
    path = tmp_path / "custom.joblib"
    joblib.dump(ExplodingRegressor().fit([[0.0, 0.0]]), path)
    from tests.support.models import Artifacts

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
    version = ModelVersionFactory(model=iris_model)
    assert version.serving_runtime == "sklearn" and version.twin_report == {}


def test_an_onnx_upload_needs_no_twin(iris_model, artifacts):
    version = ModelVersionFactory(model=iris_model, format="onnx")
    assert version.serving_runtime == "onnxruntime" and not version.onnx_twin


def _tampered(fmt: str, scale: float):
    """The format's real converter, followed by a change to the converted trees: every leaf
    weight multiplied by `scale`, as a converter with a bug might write them."""
    from dataclasses import replace

    import onnx

    from registry.runtimes import FORMATS

    entry = FORMATS[fmt]

    def to_onnx(predictor):
        model = onnx.load_model_from_string(entry.to_onnx(predictor))
        for node in model.graph.node:
            for attribute in node.attribute:
                if attribute.name in ("class_weights", "target_weights"):
                    attribute.floats[:] = [w * scale for w in attribute.floats]
        return model.SerializeToString()

    return replace(entry, to_onnx=to_onnx)


@pytest.mark.parametrize("name", ["lightgbm-binary", "xgboost-binary", "xgboost-regressor"])
def test_a_twin_that_disagrees_with_its_booster_is_refused_and_the_report_says_so(boosters, name):
    booster = boosters[name]
    predictor = runtimes.load_predictor(
        booster.path,
        booster.fmt,
        task=booster.spec.task,
        input_schema=booster.spec.input_schema,
        labels=booster.spec.labels,
    )
    honest, report = twins.make_twin(
        predictor, fmt=runtimes.FORMATS[booster.fmt], input_example=booster.spec.input_example
    )
    assert honest is not None and report["kept"] is True
    tampered, report = twins.make_twin(
        predictor, fmt=_tampered(booster.fmt, 1.05), input_example=booster.spec.input_example
    )
    assert tampered is None and report["kept"] is False
    assert report["summary"].startswith("No ONNX twin: on 256 sampled rows")
    assert report["summary"].endswith(f"served by {booster.fmt} as uploaded.")


def test_a_version_whose_twin_disagrees_is_served_by_its_own_library(
    cancer_model, boosters, monkeypatch
):
    from registry.runtimes import FORMATS

    booster = boosters["lightgbm-binary"]
    monkeypatch.setitem(FORMATS, "lightgbm", _tampered("lightgbm", 1.2))
    version = ModelVersionFactory(
        model=cancer_model, artifact=booster.path, format="lightgbm", spec=booster.spec
    )
    assert version.serving_runtime == "lightgbm" and not version.onnx_twin
    assert version.twin_report["max_probability_diff"] > twins.TOLERANCE
    assert version.twin_report["reason"] == "outputs differ beyond tolerance"
    assert PredictorCache(1).get(version).runtime == "lightgbm"


def test_a_conversion_failure_is_reported_in_words_not_as_an_exception_dump(
    db, tmp_path, allow_pickles
):
    import joblib

    from tests.support.hostile_models import ExplodingRegressor
    from tests.support.models import Artifacts

    model = services.model_create(name="custom", task="regression")
    path = tmp_path / "custom.joblib"
    joblib.dump(ExplodingRegressor().fit([[0.0, 0.0]]), path)
    version = services.version_create(
        model=model,
        artifact=path,
        format="joblib",
        input_schema=[{"name": "x", "type": "number"}, {"name": "y", "type": "number"}],
        input_example={"x": 1, "y": 2},
        expected_sha256=Artifacts.sha256(path),
        trusted_operator=True,
    )
    summary = version.twin_report["summary"]
    assert summary.startswith("No ONNX twin: the model could not be converted (")
    assert summary.endswith("served by sklearn as uploaded.")
    assert "Error" not in summary and "\n" not in summary
