"""LightGBM and XGBoost models: registered in their own formats, through the API and the admin,
served exactly as their libraries predict, and hostile files refused without a crash."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from registry import demo, runtimes
from registry.models import MLModel, ModelVersion
from tests.support.api import assert_rejected, upload
from tests.support.models import BREAST_CANCER, DIABETES, IRIS, Booster, stored_files

ROOT = Path(__file__).resolve().parents[2]


def reference_outputs(booster, X):
    """What the library's own scikit-learn estimator predicts for X."""
    if booster.spec.task == "classification":
        return booster.estimator.predict(X), booster.estimator.predict_proba(X)
    return booster.estimator.predict(X), None


def predict_all(predictor, rows, spec):
    outputs = predictor.predict(rows)
    if spec.task == "regression":
        return np.array([o["value"] for o in outputs]), None
    labels = np.array([spec.labels.index(o["label"]) for o in outputs])
    probabilities = np.array([[o["probabilities"][lab] for lab in spec.labels] for o in outputs])
    return labels, probabilities


# --- Served as the library predicts -----------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "lightgbm-binary",
        "lightgbm-multiclass",
        "lightgbm-regressor",
        "xgboost-binary",
        "xgboost-binary-ubj",
        "xgboost-multiclass",
        "xgboost-regressor",
        "xgboost-regressor-ubj",
    ],
)
def test_a_booster_predicts_exactly_what_its_library_predicts_on_the_whole_dataset(boosters, name):
    booster = boosters[name]
    rows, X, _ = demo.dataset(booster.spec.name)
    predictor = runtimes.load_predictor(
        booster.path,
        booster.fmt,
        task=booster.spec.task,
        input_schema=booster.spec.input_schema,
        labels=booster.spec.labels,
    )
    assert predictor.runtime == booster.fmt
    got, got_probabilities = predict_all(predictor, rows, booster.spec)
    expected, expected_probabilities = reference_outputs(booster, X)
    np.testing.assert_array_equal(got, expected)
    if expected_probabilities is not None:
        np.testing.assert_array_equal(got_probabilities, expected_probabilities)


# --- Registered through the API ---------------------------------------------------------------


# The registered model each dataset's boosters go to.
MODEL_OF = {
    "breast-cancer-lightgbm": "cancer",
    "breast-cancer-xgboost": "cancer",
    IRIS.name: "iris",
    DIABETES.name: "diabetes",
}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name",
    [
        "lightgbm-binary",
        "lightgbm-multiclass",
        "lightgbm-regressor",
        "xgboost-binary",
        "xgboost-binary-ubj",
        "xgboost-multiclass",
        "xgboost-regressor-ubj",
    ],
)
def test_staff_register_each_booster_through_the_api_with_an_onnx_twin(
    staff_client, cancer_model, iris_model, diabetes_model, boosters, name
):
    booster = boosters[name]
    model_name = MODEL_OF[booster.spec.name]
    response = upload(staff_client, model_name, booster.path, booster.fmt, spec=booster.spec)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["format"], body["runtime"]) == (booster.fmt, booster.fmt)
    assert body["serving_runtime"] == "onnxruntime (twin)"
    report = body["twin_report"]
    assert report["kept"] is True and report["summary"].startswith("Served by its ONNX twin")
    assert f"{booster.fmt}" in report["summary"] and "Error" not in report["summary"]
    version = ModelVersion.objects.get()
    assert version.artifact.name.endswith(runtimes.FORMATS[booster.fmt].suffix)
    assert Path(version.artifact.path).read_bytes() == booster.path.read_bytes()


# --- Rejections: the schema, labels and task -----------------------------------------------------


def _schema_without_last_feature(spec):
    schema = spec.input_schema[:-1]
    example = {f["name"]: spec.input_example[f["name"]] for f in schema}
    return {"input_schema": json.dumps(schema), "input_example": json.dumps(example)}


def _schema_in_another_order(spec):
    schema = [spec.input_schema[1], spec.input_schema[0], *spec.input_schema[2:]]
    return {"input_schema": json.dumps(schema)}


# (booster, stated format, model, field overrides, code, words in the message)
REFUSALS = {
    "a LightGBM file stated as XGBoost": (
        "lightgbm-binary",
        "xgboost",
        "cancer",
        {},
        "format_mismatch",
        "looks like lightgbm",
    ),
    "an XGBoost file stated as LightGBM": (
        "xgboost-binary-ubj",
        "lightgbm",
        "cancer",
        {},
        "format_mismatch",
        "looks like xgboost",
    ),
    "a LightGBM model with one feature more than the schema": (
        "lightgbm-binary",
        "lightgbm",
        "cancer",
        _schema_without_last_feature(BREAST_CANCER),
        "schema_mismatch",
        "takes 30 features but the schema has 29",
    ),
    "an XGBoost model with one feature more than the schema": (
        "xgboost-binary-ubj",
        "xgboost",
        "cancer",
        _schema_without_last_feature(BREAST_CANCER),
        "schema_mismatch",
        "takes 30 features but the schema has 29",
    ),
    "an XGBoost model whose feature names are in another order": (
        "xgboost-binary",
        "xgboost",
        "cancer",
        _schema_in_another_order(BREAST_CANCER),
        "schema_mismatch",
        "in that order",
    ),
    "a binary LightGBM classifier with three labels": (
        "lightgbm-binary",
        "lightgbm",
        "cancer",
        {"labels": json.dumps(["a", "b", "c"])},
        "labels_mismatch",
        "predicts 2 classes",
    ),
    "a multiclass XGBoost classifier with two labels": (
        "xgboost-multiclass",
        "xgboost",
        "iris",
        {"labels": json.dumps(["setosa", "versicolor"])},
        "labels_mismatch",
        "predicts 3 classes",
    ),
    "a LightGBM regressor for a classification model": (
        "lightgbm-regressor",
        "lightgbm",
        "cancer",
        {"labels": json.dumps(["low", "high"])},
        "task_mismatch",
        "does not fit a classification model",
    ),
    "an XGBoost classifier for a regression model": (
        "xgboost-binary",
        "xgboost",
        "diabetes",
        {"labels": "null"},
        "task_mismatch",
        "does not fit a regression model",
    ),
}


def _upload_refusal(client, boosters, case):
    name, fmt, model, overrides, *_ = REFUSALS[case]
    booster = boosters[name]
    return upload(client, model, booster.path, fmt, spec=booster.spec, **overrides)


@pytest.mark.django_db
@pytest.mark.parametrize("case", REFUSALS)
def test_the_api_refuses_a_booster_that_does_not_fit_its_version(
    staff_client, cancer_model, iris_model, diabetes_model, boosters, media_root, case
):
    *_, code, words = REFUSALS[case]
    error = assert_rejected(_upload_refusal(staff_client, boosters, case), 400, code, media_root)
    assert words in error["message"]


# --- Hostile files ----------------------------------------------------------------------------


def _lgb(booster_name, edit):
    return ("lightgbm", booster_name, lambda data: edit(data.decode()).encode())


def _sub(pattern, replacement):
    """Edit the first line that matches (LightGBM's text is line based)."""
    return lambda text: re.sub(pattern, replacement, text, count=1, flags=re.M)


def _two_parents(text):
    left = re.search(r"^left_child=(-?\d+)", text, flags=re.M).group(1)
    return re.sub(r"^right_child=-?\d+", f"right_child={left}", text, count=1, flags=re.M)


def _xgb(booster_name, edit):
    def mutate(data):
        document = json.loads(data)
        edit(document)
        return json.dumps(document).encode()

    return ("xgboost", booster_name, mutate)


def _tree(document, index=0):
    return document["learner"]["gradient_booster"]["model"]["trees"][index]


def _set(getter, key, value, position=None):
    def edit(document):
        target = getter(document)
        if position is None:
            target[key] = value
        else:
            target[key][position] = value

    return edit


def _learner_param(key, value):
    return _set(lambda d: d["learner"]["learner_model_param"], key, value)


# (stated format, booster, bytes -> hostile bytes, code, words in the message)
HOSTILE = {
    "a truncated LightGBM model": (
        *_lgb("lightgbm-binary", lambda text: text[: len(text) // 2]),
        "invalid_model",
        "truncated",
    ),
    "random bytes stated as LightGBM": (
        "lightgbm",
        "lightgbm-binary",
        lambda data: b"\x00garbage" * 100,
        "format_mismatch",
        "not a valid lightgbm",
    ),
    "LightGBM with num_leaves=10^9": (
        *_lgb("lightgbm-binary", _sub(r"^num_leaves=\d+", "num_leaves=1000000000")),
        "invalid_model",
        "where 999999999 are needed",
    ),
    "LightGBM with a huge tree count": (
        *_lgb("lightgbm-binary", _sub(r"^tree_sizes=.*", "tree_sizes=" + "1 " * 10**6)),
        "invalid_model",
        "lists 1000000 trees but the file holds 100",
    ),
    "LightGBM with max_feature_idx=10^9": (
        *_lgb("lightgbm-binary", _sub(r"^max_feature_idx=\d+", "max_feature_idx=1000000000")),
        "invalid_model",
        "max_feature_idx=1000000000 is out of range",
    ),
    "LightGBM with num_class=10^9": (
        *_lgb("lightgbm-multiclass", _sub(r"^num_class=\d+", "num_class=1000000000")),
        "invalid_model",
        "num_class=1000000000 is out of range",
    ),
    "LightGBM whose objective has more classes than the model": (
        *_lgb("lightgbm-multiclass", _sub(r"num_class:3", "num_class:100000")),
        "invalid_model",
        "num_class does not match",
    ),
    "LightGBM splitting on feature 10^6": (
        *_lgb("lightgbm-binary", _sub(r"^split_feature=\d+", "split_feature=1000000")),
        "invalid_model",
        "split feature 1000000 is out of range",
    ),
    "LightGBM with a child index out of range": (
        *_lgb("lightgbm-binary", _sub(r"^left_child=-?\d+", "left_child=500")),
        "invalid_model",
        "which does not exist",
    ),
    "LightGBM with a node of two parents (a cycle to a crash)": (
        *_lgb("lightgbm-binary", _two_parents),
        "invalid_model",
        "has two parents",
    ),
    "LightGBM with a NaN leaf": (
        *_lgb("lightgbm-binary", _sub(r"^leaf_value=[^ ]+", "leaf_value=nan")),
        "invalid_model",
        "not finite",
    ),
    "LightGBM with a linear tree": (
        *_lgb("lightgbm-binary", _sub(r"^is_linear=0", "is_linear=1")),
        "invalid_model",
        "linear trees are not supported",
    ),
    "a truncated XGBoost JSON model": (
        "xgboost",
        "xgboost-binary",
        lambda data: data[: len(data) // 2],
        "format_mismatch",
        "not a valid xgboost",
    ),
    "a truncated XGBoost UBJSON model": (
        "xgboost",
        "xgboost-binary-ubj",
        lambda data: data[: len(data) // 2],
        "format_mismatch",
        "not a valid xgboost",
    ),
    "deeply nested JSON": (
        "xgboost",
        "xgboost-binary",
        lambda data: b'{"learner": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "format_mismatch",
        "not a valid xgboost",
    ),
    "UBJSON declaring an array of 10^12 floats": (
        "xgboost",
        "xgboost-binary-ubj",
        lambda data: b"{L\x00\x00\x00\x00\x00\x00\x00\x07learner[$d#L"
        + (10**12).to_bytes(8, "big")
        + bytes(16),
        "format_mismatch",
        "not a valid xgboost",
    ),
    "XGBoost splitting on feature 10^6": (
        *_xgb("xgboost-binary", _set(_tree, "split_indices", 10**6, position=0)),
        "invalid_model",
        "split feature 1000000 is out of range",
    ),
    "XGBoost with a child index out of range": (
        *_xgb("xgboost-binary", _set(_tree, "left_children", 10**6, position=0)),
        "invalid_model",
        "which does not exist",
    ),
    "XGBoost with a child link back to the root": (
        *_xgb("xgboost-binary", _set(_tree, "left_children", 0, position=1)),
        "invalid_model",
        "points at node 0",
    ),
    "XGBoost with num_nodes=10^9": (
        *_xgb(
            "xgboost-binary",
            _set(lambda d: _tree(d)["tree_param"], "num_nodes", "1000000000"),
        ),
        "invalid_model",
        "for its 1000000000 nodes",
    ),
    "XGBoost with a huge array": (
        *_xgb(
            "xgboost-binary",
            lambda d: _tree(d)["split_conditions"].extend([0.0] * 10**6),
        ),
        "invalid_model",
        "split_conditions for its",
    ),
    "XGBoost with a tree of an output group that does not exist": (
        *_xgb(
            "xgboost-binary",
            _set(lambda d: d["learner"]["gradient_booster"]["model"], "tree_info", [1000] * 100),
        ),
        "invalid_model",
        "output group 1000 is out of range",
    ),
    "XGBoost whose objective has other classes than the model": (
        *_xgb("xgboost-multiclass", _learner_param("num_class", "1000")),
        "invalid_model",
        "the objective has 3 classes but the model 1000",
    ),
    "XGBoost with num_feature=10^9": (
        *_xgb("xgboost-binary", _learner_param("num_feature", "1000000000")),
        "invalid_model",
        "num_feature",
    ),
    "XGBoost with a NaN split": (
        *_xgb("xgboost-binary", _set(_tree, "split_conditions", float("nan"), position=0)),
        "invalid_model",
        "not a finite number",
    ),
}


def _hostile_file(boosters, case, tmp_path):
    fmt, name, mutate, *_ = HOSTILE[case]
    booster = boosters[name]
    path = tmp_path / "hostile.bin"
    path.write_bytes(mutate(booster.path.read_bytes()))
    return path, fmt, booster.spec


@pytest.mark.django_db
@pytest.mark.parametrize("case", HOSTILE)
def test_the_api_refuses_a_hostile_booster_file_with_a_400_naming_the_problem(
    staff_client, cancer_model, iris_model, boosters, media_root, tmp_path, case
):
    *_, code, words = HOSTILE[case]
    path, fmt, spec = _hostile_file(boosters, case, tmp_path)
    response = upload(staff_client, MODEL_OF[spec.name], path, fmt, spec=spec)
    error = assert_rejected(response, 400, code, media_root)
    assert words in error["message"]


@pytest.mark.parametrize("case", HOSTILE)
def test_the_loader_a_worker_uses_refuses_each_hostile_file(boosters, tmp_path, case):
    path, fmt, spec = _hostile_file(boosters, case, tmp_path)
    with pytest.raises(runtimes.ArtifactError):
        loaded = runtimes.load_predictor(
            path, fmt, task=spec.task, input_schema=spec.input_schema, labels=spec.labels
        )
        loaded.predict([spec.input_example])  # a format mismatch still has to fail cleanly


@pytest.mark.parametrize("fmt", ["lightgbm", "xgboost"])
def test_hundreds_of_randomly_damaged_files_never_crash_or_hang_the_loading_process(fmt, tmp_path):
    import lightgbm
    import xgboost

    _, X, y = demo.dataset(DIABETES.name)
    path = tmp_path / f"small.{fmt}"
    if fmt == "lightgbm":
        lightgbm.LGBMRegressor(n_estimators=5, num_leaves=6, verbose=-1).fit(
            X, y
        ).booster_.save_model(path)
    else:
        booster = xgboost.XGBRegressor(n_estimators=5, max_depth=3).fit(X, y).get_booster()
        path.write_bytes(bytes(booster.save_raw("json")))
    result = subprocess.run(
        [sys.executable, "-m", "tests.support.mutants", str(path), fmt, "10", "400", "7"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    last = result.stdout.strip().splitlines()[-1:] or [""]
    assert result.returncode == 0, f"crashed at mutant {last[0]!r}: {result.stderr[-500:]}"
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 400
    assert sum("refused" in line for line in lines) > 100  # the damage is mostly caught


# --- The admin --------------------------------------------------------------------------------


ADD_URL = "/admin/registry/modelversion/add/"


def admin_form(model, booster, fmt, **overrides):
    spec = booster.spec
    data = {
        "model": model.pk,
        "artifact": SimpleUploadedFile("upload.bin", booster.path.read_bytes()),
        "format": fmt,
        "input_schema": json.dumps(spec.input_schema),
        "input_example": json.dumps(spec.input_example),
        "labels": json.dumps(spec.labels) if spec.labels else "",
        "metrics": "{}",
        "notes": "",
        "sha256": "",
        "timeout_seconds": 60,
        "alias": "",
    }
    data.update(overrides)
    return data


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["lightgbm-binary", "xgboost-binary", "xgboost-binary-ubj"])
def test_staff_register_a_booster_in_the_admin_and_read_its_twin_report(
    admin_client, cancer_model, boosters, name
):
    booster = boosters[name]
    response = admin_client.post(
        ADD_URL, admin_form(cancer_model, booster, booster.fmt, alias="production")
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    version = ModelVersion.objects.get()
    assert (version.format, version.runtime) == (booster.fmt, booster.fmt)
    page = admin_client.get(f"/admin/registry/modelversion/{version.pk}/change/").content.decode()
    assert "Served by its ONNX twin: on 256 sampled rows the twin predicted the same labels" in page


@pytest.mark.django_db
@pytest.mark.parametrize("case", REFUSALS)
def test_the_admin_shows_why_a_booster_was_refused(
    admin_client, cancer_model, iris_model, diabetes_model, boosters, media_root, case
):
    name, fmt, model_name, overrides, _, words = REFUSALS[case]
    model = MLModel.objects.get(name=model_name)
    response = admin_client.post(ADD_URL, admin_form(model, boosters[name], fmt, **overrides))
    assert response.status_code == 200
    page = response.content.decode()
    assert "errorlist" in page and words in page.replace("&#x27;", "'")
    assert ModelVersion.objects.count() == 0 and stored_files(media_root) == []


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(HOSTILE)[:12:3] + list(HOSTILE)[12::3])
def test_the_admin_refuses_a_hostile_booster_file(
    admin_client, cancer_model, iris_model, boosters, media_root, tmp_path, case
):
    *_, words = HOSTILE[case]
    path, fmt, spec = _hostile_file(boosters, case, tmp_path)
    model = MLModel.objects.get(name=MODEL_OF[spec.name])
    booster = Booster("hostile", path, fmt, spec, estimator=None)
    response = admin_client.post(ADD_URL, admin_form(model, booster, fmt))
    assert response.status_code == 200
    assert words in response.content.decode().replace("&#x27;", "'")
    assert ModelVersion.objects.count() == 0 and stored_files(media_root) == []
