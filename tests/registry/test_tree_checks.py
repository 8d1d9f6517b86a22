"""A skops file's trees are checked before the model runs: a hand-corrupted tree (a child out of
range or pointing back up, a feature past the input, a node count that leaves children out) is
refused with a 400 and never reaches compiled code, which would read outside memory or loop
forever."""

import io
import itertools
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import skops.io
from django.core.files.uploadedfile import SimpleUploadedFile
from sklearn.ensemble import (
    AdaBoostClassifier,
    BaggingRegressor,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.tree import DecisionTreeRegressor

from registry import demo
from registry.models import ModelVersion
from registry.runtimes import ArtifactError, validate_artifact
from tests.support.models import DIABETES, IRIS, stored_files

TREE = "Tree"
_FRESH_IDS = itertools.count(1)


def fitted_file(tmp_path: Path, estimator, spec=IRIS) -> Path:
    _, X, y = demo.dataset(spec.name)
    path = tmp_path / "model.skops"
    skops.io.dump(estimator.fit(X, y), path)
    return path


def edit_objects(path: Path, cls: str, edit: Callable[[int, dict], None]) -> None:
    """Rewrite the skops file at `path`: `edit(i, fields)` changes the stored fields (numbers
    and arrays, by name or position) of the i-th object of class `cls`, as a hand would."""
    with zipfile.ZipFile(path) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    schema = json.loads(files["schema.json"])
    for index, node in enumerate(_objects(schema, cls)):
        entries = node["content"]["content"]
        keys = range(len(entries)) if isinstance(entries, list) else list(entries)
        fields = {key: _value(entries[key], files) for key in keys}
        edit(index, fields)
        for key in keys:
            _store(entries[key], fields[key], files)
    files["schema.json"] = json.dumps(schema).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)


def _objects(node, cls: str):
    if isinstance(node, dict):
        if node.get("__class__") == cls:
            yield node
        for value in node.values():
            yield from _objects(value, cls)
    elif isinstance(node, list):
        for value in node:
            yield from _objects(value, cls)


def _value(entry: dict, files: dict):
    if entry.get("__loader__") == "NdArrayNode":
        return np.load(io.BytesIO(files[entry["file"]]), allow_pickle=False)
    if entry.get("__loader__") == "JsonNode":
        return json.loads(entry["content"])
    return None


def _store(entry: dict, value, files: dict) -> None:
    if entry.get("__loader__") == "NdArrayNode":
        buffer = io.BytesIO()
        np.save(buffer, value, allow_pickle=False)
        files[entry["file"]] = buffer.getvalue()
    elif entry.get("__loader__") == "JsonNode" and json.dumps(value) != entry["content"]:
        entry["content"] = json.dumps(value)
        # skops reuses what it loaded for an id (small ints share one): a new value, a new id.
        entry["__id__"] = next(_FRESH_IDS)


def refusal(path: Path, spec=IRIS) -> ArtifactError:
    with pytest.raises(ArtifactError) as caught:
        validate_artifact(
            path,
            "skops",
            task=spec.task,
            input_schema=spec.input_schema,
            labels=spec.labels,
            input_example=spec.input_example,
            max_bytes=10**8,
        )
    return caught.value


def first_split(nodes) -> int:
    return int(np.flatnonzero(nodes["left_child"] != -1)[0])


def second_tree(change: Callable[[dict], None]) -> Callable[[int, dict], None]:
    def edit(index, fields):
        if index == 1:
            change(fields)

    return edit


@pytest.fixture
def forest(tmp_path) -> Path:
    return fitted_file(tmp_path, RandomForestClassifier(n_estimators=3, random_state=0))


CORRUPTIONS = {
    "a child past the last node": lambda f: f["nodes"]["left_child"].__setitem__(0, 10**6),
    "a child that points back to the root": lambda f: f["nodes"]["right_child"].__setitem__(
        int(np.flatnonzero(f["nodes"]["right_child"] != -1)[-1]), 0
    ),
    "a node with one child": lambda f: f["nodes"]["right_child"].__setitem__(0, -1),
    "a negative child": lambda f: f["nodes"]["left_child"].__setitem__(0, -7),
    "a split on feature 999": lambda f: f["nodes"]["feature"].__setitem__(0, 999),
    "a leaf that names a feature": lambda f: f["nodes"]["feature"].__setitem__(-1, 0),
    "a threshold that is not a number": lambda f: f["nodes"]["threshold"].__setitem__(0, np.nan),
    "a node count that leaves children out": lambda f: f.__setitem__("node_count", 3),
    "a value that is not a number": lambda f: f["values"].__setitem__((0, 0, 0), np.inf),
}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_a_forest_with_a_corrupted_tree_is_refused(forest, corruption):
    edit_objects(forest, TREE, second_tree(CORRUPTIONS[corruption]))

    error = refusal(forest)

    assert error.code == "invalid_model"
    assert "estimators_[1].tree_" in error.message


def test_a_corrupted_forest_upload_is_a_400_and_nothing_is_stored(
    staff_client, iris_model, forest, media_root
):
    edit_objects(forest, TREE, second_tree(CORRUPTIONS["a child past the last node"]))
    body = {
        "artifact": SimpleUploadedFile("forest.skops", forest.read_bytes()),
        "format": "skops",
        "input_schema": json.dumps(IRIS.input_schema),
        "input_example": json.dumps(IRIS.input_example),
        "labels": json.dumps(IRIS.labels),
    }

    response = staff_client.post("/api/v1/models/iris/versions/", body, format="multipart")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_model"
    assert error["message"].startswith("the model's tree at model.estimators_[1].tree_ is invalid")
    assert not ModelVersion.objects.exists() and stored_files(media_root) == []


def test_a_member_of_a_forest_that_takes_another_width_is_refused(forest):
    def widen(index, fields):
        if fields.get("n_features_in_") and index == 3:  # the forest's template comes first
            fields["n_features_in_"] = 40

    edit_objects(forest, "DecisionTreeClassifier", widen)

    error = refusal(forest)

    assert error.code == "invalid_model"
    assert "member 1" in error.message


def test_a_histogram_boosting_tree_with_a_child_out_of_range_is_refused(tmp_path):
    path = fitted_file(tmp_path, HistGradientBoostingClassifier(max_iter=2))

    def corrupt(index, fields):
        nodes = fields["nodes"]
        nodes["right"][int(np.flatnonzero(nodes["is_leaf"] == 0)[0])] = 5000

    edit_objects(path, "TreePredictor", corrupt)

    assert refusal(path).code == "invalid_model"


@pytest.mark.parametrize("algorithm", ["ball_tree", "kd_tree"])
def test_a_neighbour_search_tree_with_an_index_out_of_range_is_refused(tmp_path, algorithm):
    path = fitted_file(tmp_path, KNeighborsClassifier(algorithm=algorithm))
    cls = "BallTree" if algorithm == "ball_tree" else "KDTree"
    edit_objects(path, cls, lambda index, fields: fields[1].__setitem__(3, 10**9))

    assert refusal(path).code == "invalid_model"


@pytest.mark.parametrize(
    ("estimator", "spec"),
    [
        (RandomForestClassifier(n_estimators=5, random_state=0), IRIS),
        (GradientBoostingClassifier(n_estimators=3), IRIS),
        (AdaBoostClassifier(n_estimators=3), IRIS),
        (HistGradientBoostingClassifier(max_iter=3), IRIS),
        (KNeighborsClassifier(algorithm="kd_tree"), IRIS),
        (DecisionTreeRegressor(max_depth=4), DIABETES),
        (ExtraTreesRegressor(n_estimators=3), DIABETES),
        (BaggingRegressor(DecisionTreeRegressor(), n_estimators=3, max_features=0.5), DIABETES),
        (KNeighborsRegressor(algorithm="ball_tree"), DIABETES),
    ],
)
def test_real_tree_models_pass_their_checks_and_predict(tmp_path, estimator, spec):
    path = fitted_file(tmp_path, estimator, spec)
    labels = spec.labels

    result = validate_artifact(
        path,
        "skops",
        task=spec.task,
        input_schema=spec.input_schema,
        labels=labels,
        input_example=spec.input_example,
        max_bytes=10**8,
    )

    assert result["runtime"] == "sklearn"
