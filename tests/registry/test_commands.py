import json
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from predictions.cache import PredictorCache
from registry import demo, runtimes
from registry.models import Alias, MLModel, ModelVersion
from tests.support.models import IRIS

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def seeded(db):
    return run("seed_demo_models")


BOOSTED = ("breast-cancer-lightgbm", "breast-cancer-xgboost")


def test_seeding_registers_iris_and_diabetes_in_two_formats(seeded):
    # iris and diabetes: train, two exports, two registrations; the boosted models and the
    # forecasters one format.
    assert "1/22 (5%) iris: training" in seeded and "10/22 (45%) diabetes:" in seeded
    assert "16/22 (73%) breast-cancer-xgboost:" in seeded
    assert "22/22 (100%) demand-lightgbm:" in seeded
    assert seeded.splitlines()[-1].startswith(
        "Seeded iris, diabetes, breast-cancer-lightgbm, breast-cancer-xgboost, demand-prophet, "
        "demand-lightgbm. ("
    )
    for name, task in (("iris", "classification"), ("diabetes", "regression")):
        model = MLModel.objects.get(name=name)
        assert model.task == task
        assert sorted(model.versions.values_list("number", "format")) == [(1, "skops"), (2, "onnx")]
        assert Alias.objects.get(model=model, name="production").version.number == 2
    iris = ModelVersion.objects.get(model__name="iris", number=1)
    assert iris.feature_names == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert iris.labels == ["setosa", "versicolor", "virginica"]
    diabetes = ModelVersion.objects.get(model__name="diabetes", number=1)
    assert diabetes.feature_names == ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]


def test_seeding_twice_adds_nothing(seeded):
    again = run("seed_demo_models")
    assert again.count("already registered") == 6
    assert ModelVersion.objects.count() == 8 and MLModel.objects.count() == 6


def test_seeding_registers_the_boosted_classifiers_in_their_own_formats_with_twins(seeded):
    for name, fmt in zip(BOOSTED, ("lightgbm", "xgboost"), strict=True):
        [version] = ModelVersion.objects.filter(model__name=name)
        assert (version.format, version.runtime) == (fmt, fmt)
        assert version.labels == ["malignant", "benign"] and len(version.feature_names) == 30
        assert Alias.objects.get(model__name=name, name="production").version == version
        assert version.serving_runtime == "onnxruntime (twin)", version.twin_report
        assert f"{name}: registered v1 ({fmt} with an ONNX twin, production)" in seeded


def test_seeding_registers_a_prophet_and_a_lightgbm_lag_forecaster(seeded):
    for name, fmt, runtime in (
        ("demand-prophet", "prophet", "prophet"),
        ("demand-lightgbm", "lightgbm", "lightgbm (lags)"),
    ):
        [version] = ModelVersion.objects.filter(model__name=name)
        assert version.model.task == "forecast"
        assert (version.format, version.runtime) == (fmt, runtime)
        assert version.input_schema == demo.FORECASTS[name].input_schema
        assert Alias.objects.get(model__name=name, name="production").version == version
        assert f"{name}: registered v1 ({fmt}, production); metrics {{'training_mae': " in seeded


@pytest.mark.parametrize("name", BOOSTED)
def test_boosted_demo_predictions_equal_the_librarys_own_on_the_whole_dataset(seeded, name):
    spec = demo.DEMO_MODELS[name]
    rows, X, _ = demo.dataset(name)
    reference = demo.train(spec)
    expected_labels = [spec.labels[i] for i in reference.predict(X)]
    version = ModelVersion.objects.get(model__name=name)
    native = runtimes.load_predictor(
        version.artifact.path,
        version.format,
        task=spec.task,
        input_schema=version.input_schema,
        labels=version.labels,
    )
    outputs = native.predict(rows)
    assert [o["label"] for o in outputs] == expected_labels
    probabilities = np.array([[o["probabilities"][lab] for lab in spec.labels] for o in outputs])
    np.testing.assert_array_equal(probabilities, reference.predict_proba(X))
    served = PredictorCache(1).get(version)  # the ONNX twin the worker serves
    assert served.runtime == "onnxruntime"
    outputs = served.predict(rows)
    assert [o["label"] for o in outputs] == expected_labels
    probabilities = np.array([[o["probabilities"][lab] for lab in spec.labels] for o in outputs])
    np.testing.assert_allclose(probabilities, reference.predict_proba(X), atol=1e-5)


@pytest.mark.parametrize("name", ["iris", "diabetes"])
def test_demo_predictions_equal_scikit_learns_on_the_whole_dataset(seeded, name):
    spec = demo.DEMO_MODELS[name]
    rows, X, _ = demo.dataset(name)
    reference = demo.train(spec)
    for version in ModelVersion.objects.filter(model__name=name):
        predictor = runtimes.load_predictor(
            version.artifact.path,
            version.format,
            task=spec.task,
            input_schema=version.input_schema,
            labels=version.labels,
        )
        outputs = predictor.predict(rows)
        assert len(outputs) == len(rows)
        if spec.task == "classification":
            expected = [spec.labels[i] for i in reference.predict(X)]
            assert [o["label"] for o in outputs] == expected, version.format
            probabilities = np.array(
                [[o["probabilities"][lab] for lab in spec.labels] for o in outputs]
            )
            np.testing.assert_allclose(probabilities, reference.predict_proba(X), atol=1e-5)
        else:
            values = np.array([o["value"] for o in outputs])
            np.testing.assert_allclose(values, reference.predict(X), rtol=1e-4, atol=1e-3)


def test_the_demo_iris_model_says_setosa_for_the_classic_example(seeded):
    version = Alias.objects.get(model__name="iris", name="production").version
    predictor = runtimes.load_predictor(
        version.artifact.path,
        version.format,
        task="classification",
        input_schema=version.input_schema,
        labels=version.labels,
    )
    [output] = predictor.predict(
        [{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}]
    )
    assert output["label"] == "setosa" and output["probabilities"]["setosa"] > 0.9


def write_json(tmp_path: Path, name: str, value) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(value))
    return str(path)


def register_args(tmp_path, artifact, fmt: str) -> list[str]:
    return [
        "register_model",
        "flowers",
        str(artifact),
        "--format",
        fmt,
        "--schema",
        write_json(tmp_path, "s.json", IRIS.input_schema),
        "--example",
        write_json(tmp_path, "e.json", IRIS.input_example),
        "--labels",
        write_json(tmp_path, "l.json", IRIS.labels),
        "--task",
        "classification",
    ]


def test_register_model_creates_a_model_and_version_with_an_alias(tmp_path, artifacts):
    out = run(*register_args(tmp_path, artifacts.iris_onnx, "onnx"), "--alias", "production")
    assert "Registered flowers v1 (onnx, onnxruntime" in out
    assert Alias.objects.get(model__name="flowers", name="production").version.number == 1


def test_register_model_fails_with_a_clear_error(tmp_path, artifacts):
    args = register_args(tmp_path, artifacts.iris_skops, "onnx")
    with pytest.raises(CommandError, match="not a valid onnx artifact"):
        call_command(*args, stdout=StringIO())
    assert not MLModel.objects.filter(name="flowers").exists()
    with pytest.raises(CommandError, match="pass --task"):
        call_command(*args[:-2], stdout=StringIO())
