"""The runtimes against real models: skops, ONNX and joblib artifacts of the demo models.

No database: these tests exercise `registry.runtimes` (and the schema's matrix) alone, as the RQ
workers do.
"""

import json
import pickle
import random
import zipfile
from pathlib import Path

import joblib
import numpy as np
import onnx
import pytest
import skops.io
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from registry import demo
from registry.runtimes import (
    ArtifactError,
    load_predictor,
    sha256_file,
    sniff_format,
    validate_artifact,
)
from registry.runtimes.sklearn import ONNX_TARGET_OPSET
from registry.schemas import build_matrix
from registry.skops_allowlist import ALLOWED_TYPES
from tests.support.models import DIABETES, IRIS, linear_onnx, malicious_pickle

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
WITHOUT_PETAL_WIDTH = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4}


def load(path: Path, fmt: str, spec: demo.DemoModel = IRIS, **kwargs):
    return load_predictor(
        path, fmt, task=spec.task, input_schema=spec.input_schema, labels=spec.labels, **kwargs
    )


def validate(path: Path, fmt: str, spec: demo.DemoModel = IRIS, **overrides):
    arguments = {
        "task": spec.task,
        "input_schema": spec.input_schema,
        "labels": spec.labels,
        "input_example": spec.input_example,
        "max_bytes": 10_000_000,
    }
    return validate_artifact(path, fmt, **{**arguments, **overrides})


def refusal(path: Path, fmt: str, spec: demo.DemoModel = IRIS, **overrides) -> ArtifactError:
    with pytest.raises(ArtifactError) as caught:
        validate(path, fmt, spec, **overrides)
    return caught.value


def random_bytes(path: Path) -> Path:
    data = random.Random(0).randbytes(4096)
    assert data[:1] != b"\x80" and not data.startswith(b"PK")  # really no known magic
    path.write_bytes(data)
    return path


# --- Predictions equal scikit-learn's own ------------------------------------------------------


def test_skops_iris_predictions_equal_scikit_learn_on_the_whole_dataset(artifacts):
    rows, X, _ = demo.dataset("iris")
    outputs = load(artifacts.iris_skops, "skops").predict(rows)

    expected_labels = [IRIS.labels[i] for i in artifacts.iris_estimator.predict(X)]
    assert [output["label"] for output in outputs] == expected_labels
    probabilities = [[o["probabilities"][label] for label in IRIS.labels] for o in outputs]
    np.testing.assert_allclose(probabilities, artifacts.iris_estimator.predict_proba(X), rtol=1e-12)


def test_onnx_iris_predictions_equal_scikit_learn_on_the_whole_dataset(artifacts):
    rows, X, _ = demo.dataset("iris")
    outputs = load(artifacts.iris_onnx, "onnx").predict(rows)

    expected_labels = [IRIS.labels[i] for i in artifacts.iris_estimator.predict(X)]
    assert [output["label"] for output in outputs] == expected_labels
    probabilities = [[o["probabilities"][label] for label in IRIS.labels] for o in outputs]
    np.testing.assert_allclose(
        probabilities, artifacts.iris_estimator.predict_proba(X), rtol=0, atol=1e-5
    )


@pytest.mark.parametrize(("fmt", "rtol"), [("skops", 1e-12), ("onnx", 1e-4)])
def test_diabetes_values_equal_scikit_learn_on_the_whole_dataset(artifacts, fmt, rtol):
    rows, X, _ = demo.dataset("diabetes")
    path = artifacts.diabetes_skops if fmt == "skops" else artifacts.diabetes_onnx
    outputs = load(path, fmt, DIABETES).predict(rows)

    values = [output["value"] for output in outputs]
    np.testing.assert_allclose(values, artifacts.diabetes_estimator.predict(X), rtol=rtol)


@pytest.mark.parametrize("fmt", ["skops", "onnx", "joblib"])
def test_it_predicts_setosa_for_a_typical_setosa_flower(artifacts, fmt):
    path = {"skops": artifacts.iris_skops, "onnx": artifacts.iris_onnx}.get(fmt)
    predictor = load(path or artifacts.iris_joblib, fmt, allow_pickle=True)

    (output,) = predictor.predict([SETOSA])

    assert output["label"] == "setosa"
    assert list(output["probabilities"]) == IRIS.labels
    assert output["probabilities"]["setosa"] > 0.9


@pytest.mark.parametrize("fmt", ["skops", "onnx"])
def test_outputs_are_plain_json_values(artifacts, fmt):
    iris = load(getattr(artifacts, f"iris_{fmt}"), fmt).predict([SETOSA, SETOSA])
    diabetes = load(getattr(artifacts, f"diabetes_{fmt}"), fmt, DIABETES).predict(
        [DIABETES.input_example]
    )

    json.dumps([iris, diabetes], allow_nan=False)
    assert type(iris[0]["label"]) is str
    assert {type(p) for p in iris[0]["probabilities"].values()} == {float}
    assert type(diabetes[0]["value"]) is float


def test_it_reads_probabilities_from_an_onnx_zipmap_output(artifacts, tmp_path):
    path = tmp_path / "zipmap.onnx"
    model = to_onnx(
        artifacts.iris_estimator,
        initial_types=[("input", FloatTensorType([None, 4]))],
        target_opset=ONNX_TARGET_OPSET,
    )
    path.write_bytes(model.SerializeToString())
    rows, X, _ = demo.dataset("iris")

    outputs = load(path, "onnx").predict(rows)

    probabilities = [[o["probabilities"][label] for label in IRIS.labels] for o in outputs]
    np.testing.assert_allclose(probabilities, artifacts.iris_estimator.predict_proba(X), atol=1e-5)


# --- Class labels ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def string_class_artifacts(tmp_path_factory):
    """An iris model fitted on species names rather than 0..2, in both safe formats."""
    _, X, y = demo.dataset("iris")
    estimator = LogisticRegression(max_iter=1000).fit(X, np.array(IRIS.labels)[y])
    root = tmp_path_factory.mktemp("string-classes")
    demo.export_skops(estimator, root / "model.skops")
    demo.export_onnx(estimator, 4, root / "model.onnx")
    return {"skops": root / "model.skops", "onnx": root / "model.onnx"}


@pytest.mark.parametrize("fmt", ["skops", "onnx"])
def test_string_classes_are_matched_to_labels_by_name(string_class_artifacts, fmt):
    labels = ["virginica", "setosa", "versicolor"]
    predictor = load_predictor(
        string_class_artifacts[fmt],
        fmt,
        task="classification",
        input_schema=IRIS.input_schema,
        labels=labels,
    )

    (output,) = predictor.predict([SETOSA])

    assert output["label"] == "setosa"
    assert list(output["probabilities"]) == labels
    assert output["probabilities"]["setosa"] > 0.9


@pytest.mark.parametrize("fmt", ["skops", "onnx"])
def test_it_refuses_string_classes_that_differ_from_the_labels(string_class_artifacts, fmt):
    error = refusal(string_class_artifacts[fmt], fmt, labels=["cat", "dog", "fish"])

    assert error.code == "labels_mismatch"
    assert "setosa" in error.message


@pytest.mark.parametrize("fmt", ["skops", "onnx"])
@pytest.mark.parametrize(
    "labels", [["setosa", "versicolor"], ["a", "b", "c", "d"], ["a", "a", "b"], None]
)
def test_it_refuses_labels_that_do_not_name_each_class_once(artifacts, fmt, labels):
    error = refusal(getattr(artifacts, f"iris_{fmt}"), fmt, labels=labels)

    assert error.code == "labels_mismatch"


# --- joblib and pickle safety ------------------------------------------------------------------


def test_it_accepts_a_joblib_file_with_allow_pickle_and_its_sha256(artifacts):
    sha256 = artifacts.sha256(artifacts.iris_joblib)

    result = validate(artifacts.iris_joblib, "joblib", allow_pickle=True, expected_sha256=sha256)

    assert result["sha256"] == sha256
    assert result["runtime"] == "sklearn"
    assert result["example_output"]["label"] == "setosa"


@pytest.mark.parametrize(
    ("allow_pickle", "expected_sha256", "code"),
    [
        (False, "right", "pickle_not_allowed"),
        (True, None, "pickle_not_allowed"),
        (True, "0" * 64, "sha256_mismatch"),
    ],
)
def test_it_refuses_a_joblib_file_unless_allowed_and_hash_checked(
    artifacts, allow_pickle, expected_sha256, code
):
    if expected_sha256 == "right":
        expected_sha256 = artifacts.sha256(artifacts.iris_joblib)

    error = refusal(
        artifacts.iris_joblib, "joblib", allow_pickle=allow_pickle, expected_sha256=expected_sha256
    )

    assert error.code == code


@pytest.mark.parametrize(
    ("fmt", "allow_pickle", "expected_sha256", "code"),
    [
        ("joblib", False, None, "pickle_not_allowed"),
        ("joblib", True, None, "pickle_not_allowed"),
        ("joblib", True, "0" * 64, "sha256_mismatch"),
        ("skops", True, None, "format_mismatch"),
        ("onnx", True, None, "format_mismatch"),
    ],
)
def test_a_malicious_pickle_is_never_executed(tmp_path, fmt, allow_pickle, expected_sha256, code):
    payload = malicious_pickle(tmp_path / "control")
    pickle.loads(payload)
    assert (tmp_path / "control").exists(), "the payload must really run when unpickled"
    target = tmp_path / "pwned"
    upload = tmp_path / "upload.bin"
    upload.write_bytes(malicious_pickle(target))

    error = refusal(upload, fmt, allow_pickle=allow_pickle, expected_sha256=expected_sha256)

    assert error.code == code
    assert not target.exists()


def test_it_never_unpickles_for_load_predictor_without_allow_pickle(tmp_path):
    target = tmp_path / "pwned"
    upload = tmp_path / "upload.joblib"
    upload.write_bytes(malicious_pickle(target))

    with pytest.raises(ArtifactError) as caught:
        load(upload, "joblib")

    assert caught.value.code == "pickle_not_allowed"
    assert not target.exists()


# --- skops allowlist ---------------------------------------------------------------------------


class HomemadeClassifier(LogisticRegression):
    """A subclass is a new type: its methods could do anything, so skops must not trust it."""


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(
    ("estimator", "refused_type"),
    [
        (HomemadeClassifier(max_iter=1000), f"{__name__}.HomemadeClassifier"),
        (
            MLPClassifier(hidden_layer_sizes=(3,), max_iter=5, random_state=0),
            "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        ),
    ],
)
def test_it_refuses_a_skops_file_with_an_unlisted_type(tmp_path, estimator, refused_type):
    _, X, y = demo.dataset("iris")
    path = tmp_path / "model.skops"
    skops.io.dump(estimator.fit(X, y), path)

    error = refusal(path, "skops")

    assert error.code == "untrusted_type"
    assert refused_type in error.message


def _common_estimators():
    return [
        (GradientBoostingClassifier(n_estimators=2), "iris"),
        (GradientBoostingClassifier(n_estimators=2, loss="exponential"), "binary"),
        (HistGradientBoostingClassifier(max_iter=2), "iris"),
        (HistGradientBoostingClassifier(max_iter=2), "binary"),
        (GradientBoostingRegressor(n_estimators=2, loss="huber"), "diabetes"),
        (HistGradientBoostingRegressor(max_iter=2, loss="poisson"), "diabetes"),
        (KNeighborsClassifier(algorithm="ball_tree"), "iris"),
        (KNeighborsRegressor(p=1), "diabetes"),
        (make_pipeline(StandardScaler(), KNeighborsClassifier()), "iris"),
        (make_pipeline(MinMaxScaler(), LogisticRegression()), "iris"),
    ]


@pytest.mark.parametrize(("estimator", "data"), _common_estimators())
def test_the_allowlist_covers_the_common_estimator_families(tmp_path, estimator, data):
    _, X, y = demo.dataset("diabetes" if data == "diabetes" else "iris")
    if data == "binary":
        y = (y == 0).astype(int)
    path = tmp_path / "model.skops"
    skops.io.dump(estimator.fit(X, y), path)

    untrusted = skops.io.get_untrusted_types(file=path)

    assert set(untrusted) <= set(ALLOWED_TYPES)
    spec = DIABETES if data == "diabetes" else IRIS
    labels = ["not setosa", "setosa"] if data == "binary" else spec.labels
    predictor = load_predictor(
        path, "skops", task=spec.task, input_schema=spec.input_schema, labels=labels
    )
    outputs = predictor.predict(demo.dataset(spec.name)[0][:5])
    if spec.task == "regression":
        np.testing.assert_allclose([o["value"] for o in outputs], estimator.predict(X[:5]))
    else:
        assert [o["label"] for o in outputs] == [labels[i] for i in estimator.predict(X[:5])]


# --- ONNX external data ------------------------------------------------------------------------


def test_it_refuses_an_onnx_file_with_external_data(artifacts, tmp_path):
    estimator = artifacts.diabetes_estimator
    model = linear_onnx(estimator.coef_, estimator.intercept_)
    inline = tmp_path / "inline.onnx"
    onnx.save_model(model, inline)
    assert validate(inline, "onnx", DIABETES)["example_output"]["value"] == pytest.approx(
        estimator.predict([list(DIABETES.input_example.values())])[0], rel=1e-4
    )
    external = tmp_path / "external.onnx"
    onnx.save_model(
        model,
        external,
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="weights.bin",
        size_threshold=0,
    )
    assert (tmp_path / "weights.bin").exists()

    error = refusal(external, "onnx", DIABETES)

    assert error.code == "external_data"


# --- Upload checks -----------------------------------------------------------------------------


def test_it_refuses_a_file_over_max_bytes_before_reading_it(tmp_path):
    target = tmp_path / "pwned"
    upload = tmp_path / "upload.joblib"
    upload.write_bytes(malicious_pickle(target))
    size = upload.stat().st_size

    error = refusal(
        upload,
        "joblib",
        max_bytes=size - 1,
        allow_pickle=True,
        expected_sha256=sha256_file(upload),
    )

    assert error.code == "too_large"
    assert not target.exists()


def test_it_accepts_a_file_of_exactly_max_bytes(artifacts):
    size = artifacts.iris_skops.stat().st_size

    assert validate(artifacts.iris_skops, "skops", max_bytes=size)["size"] == size


def test_it_refuses_a_skops_file_whose_sha256_is_not_the_expected_one(artifacts):
    error = refusal(artifacts.iris_skops, "skops", expected_sha256="0" * 64)

    assert error.code == "sha256_mismatch"


@pytest.mark.parametrize(
    ("source", "declared", "looks_like"),
    [
        ("iris_skops", "onnx", "skops"),
        ("iris_onnx", "skops", "onnx"),
        ("iris_joblib", "skops", "joblib"),
        ("random", "skops", "an unknown format"),
        ("random", "onnx", "an unknown format"),
        ("random", "joblib", "an unknown format"),
    ],
)
def test_it_refuses_a_file_whose_content_is_not_the_declared_format(
    artifacts, tmp_path, source, declared, looks_like
):
    path = random_bytes(tmp_path / "x") if source == "random" else getattr(artifacts, source)

    error = refusal(path, declared, allow_pickle=True, expected_sha256=sha256_file(path))

    assert error.code == "format_mismatch"
    assert error.message == f"the file is not a valid {declared} artifact (looks like {looks_like})"


@pytest.mark.parametrize("compress", ["zlib", "gzip", "bz2", "xz", "lzma"])
def test_it_recognises_compressed_joblib_files(artifacts, tmp_path, compress):
    path = tmp_path / "model.joblib"
    joblib.dump(artifacts.iris_estimator, path, compress=(compress, 3))

    assert sniff_format(path) == "joblib"


def test_it_recognises_each_format_and_nothing_else(artifacts, tmp_path):
    not_skops = tmp_path / "other.zip"
    with zipfile.ZipFile(not_skops, "w") as archive:
        archive.writestr("model.json", "{}")
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is not a model\n")

    assert sniff_format(artifacts.iris_skops) == "skops"
    assert sniff_format(artifacts.iris_onnx) == "onnx"
    assert sniff_format(artifacts.iris_joblib) == "joblib"
    assert sniff_format(random_bytes(tmp_path / "random.bin")) is None
    assert sniff_format(not_skops) is None
    assert sniff_format(text) is None


def test_it_reports_a_broken_skops_file_as_a_load_failure_in_one_line(tmp_path):
    path = tmp_path / "broken.skops"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("schema.json", "this is not json")

    error = refusal(path, "skops")

    assert error.code == "load_failed"
    assert error.message.startswith("the skops artifact could not be loaded: JSONDecodeError")
    assert "\n" not in error.message


@pytest.mark.parametrize("fmt", ["skops", "onnx"])
def test_it_refuses_a_model_whose_feature_count_differs_from_the_schema(artifacts, fmt):
    error = refusal(getattr(artifacts, f"iris_{fmt}"), fmt, input_schema=DIABETES.input_schema)

    assert error.code == "schema_mismatch"


@pytest.mark.parametrize(
    ("source", "task", "code"),
    [("iris_skops", "regression", "task_mismatch"), ("diabetes_skops", "classification", None)],
)
def test_it_refuses_a_model_declared_with_the_wrong_task(artifacts, source, task, code):
    spec = DIABETES if source.startswith("diabetes") else IRIS

    error = refusal(getattr(artifacts, source), "skops", spec, task=task)

    assert error.code == (code or "unsupported_model")


# --- Input example ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "example",
    [
        WITHOUT_PETAL_WIDTH,
        {**SETOSA, "colour": 1.0},
        {**SETOSA, "petal_width": "0.2"},
        {**SETOSA, "petal_width": None},
        {**SETOSA, "petal_width": 500},
        [5.1, 3.5, 1.4, 0.2],
    ],
)
def test_it_fails_an_input_example_that_does_not_fit_the_schema(artifacts, example):
    error = refusal(artifacts.iris_skops, "skops", input_example=example)

    assert error.code == "example_failed"


@pytest.mark.parametrize("fmt", ["skops", "onnx"])
def test_it_returns_the_regression_example_output(artifacts, fmt):
    path = getattr(artifacts, f"diabetes_{fmt}")

    result = validate(path, fmt, DIABETES)

    expected = artifacts.diabetes_estimator.predict([list(DIABETES.input_example.values())])[0]
    assert result["example_output"] == {"value": pytest.approx(expected, rel=1e-5)}
    assert result["sha256"] == artifacts.sha256(path)
    assert result["size"] == path.stat().st_size
    assert result["runtime"] == {"skops": "sklearn", "onnx": "onnxruntime"}[fmt]


# --- Rows at prediction time --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4},
            "'petal_width' is missing",
        ),
        ({**SETOSA, "sepal_width": "wide"}, "'sepal_width' must be a number"),
        ({**SETOSA, "sepal_width": True}, "'sepal_width' must be a number"),
        ({**SETOSA, "sepal_width": float("nan")}, "'sepal_width' must be finite"),
        ({**SETOSA, "sepal_width": -1}, "'sepal_width' must be >= 0"),
    ],
)
@pytest.mark.parametrize("fmt", ["skops", "onnx"])
def test_it_rejects_a_bad_row_at_predict_time_with_a_clear_message(artifacts, fmt, row, message):
    predictor = load(getattr(artifacts, f"iris_{fmt}"), fmt)

    with pytest.raises(ValueError, match=f"row 1: feature {message}"):
        predictor.predict([SETOSA, row])


def test_build_matrix_follows_the_schema_order_and_types():
    schema = [
        {"name": "smoker", "type": "boolean"},
        {"name": "children", "type": "integer", "minimum": 0},
        {"name": "region", "type": "integer", "enum": [1, 2, 3]},
        {"name": "bmi", "type": "number"},
    ]
    rows = [
        {"bmi": 22.5, "region": 2, "children": 1, "smoker": True},
        {"bmi": 30, "region": 3, "children": 0, "smoker": 0, "ignored": "x"},
    ]

    matrix = build_matrix(rows, schema, dtype=np.float32)

    assert matrix.dtype == np.float32
    np.testing.assert_array_equal(matrix, [[1, 1, 2, 22.5], [0, 0, 3, 30]])
    with pytest.raises(ValueError, match="'children' must be an integer"):
        build_matrix([{**rows[0], "children": 1.5}], schema)
    with pytest.raises(ValueError, match="'region' must be one of"):
        build_matrix([{**rows[0], "region": 4}], schema)
    with pytest.raises(ValueError, match="'smoker' must be true or false"):
        build_matrix([{**rows[0], "smoker": 2}], schema)


NUMERIC_SCHEMA = [
    {"name": "x", "type": "number", "minimum": -10, "maximum": 10},
    {"name": "n", "type": "integer", "enum": [1, 2, 3]},
]


def test_a_large_clean_batch_builds_the_same_matrix_as_row_by_row():
    rows = [{"n": 1 + i % 3, "x": (i % 200) / 10 - 9.95} for i in range(20_000)]
    expected = np.array([[row["x"], row["n"]] for row in rows], dtype=np.float64)

    np.testing.assert_array_equal(build_matrix(rows, NUMERIC_SCHEMA), expected)


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"x": "5", "n": 1}, "'x' must be a number, got '5'"),
        ({"x": True, "n": 1}, "'x' must be a number, got True"),
        ({"x": float("nan"), "n": 1}, "'x' must be finite"),
        ({"x": 10.5, "n": 1}, "'x' must be <= 10"),
        ({"x": 0.0, "n": 1.5}, "'n' must be an integer"),
        ({"x": 0.0, "n": 4}, "'n' must be one of"),
        ({"n": 1}, "'x' is missing"),
    ],
)
def test_one_bad_value_deep_in_a_large_batch_is_named_with_its_row(bad, message):
    rows = [{"x": 1.0, "n": 2} for _ in range(20_000)]
    rows[12_345] = bad

    with pytest.raises(ValueError, match=f"row 12345: feature {message}"):
        build_matrix(rows, NUMERIC_SCHEMA)
