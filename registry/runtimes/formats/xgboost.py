"""XGBoost: a booster saved as JSON or UBJSON (`save_model("m.json")`, `save_model("m.ubj")`),
run by the CPU-only `xgboost-cpu` wheel.

XGBoost's reader checks array sizes but not the indexes in them: a split on a feature or a child
node that does not exist, or a child link that loops, crashes or hangs prediction. So the
document is parsed here first (the standard json module, or py-ubjson), every tree is checked,
and XGBoost is given canonical JSON written from the parsed document (never the uploaded bytes,
so both readers always see the same keys). Loading runs no code from the file.
"""

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from registry.runtimes import trees as boosters  # what the booster formats share
from registry.runtimes.base import CLASSIFICATION, check_feature_count, check_feature_names
from registry.runtimes.trees import refuse

# A JSON or UBJSON object; in UBJSON the length type of the first key follows.
MAGIC = (b"{",)
_CLASSIFIERS = ("binary:logistic", "multi:softprob")
_REGRESSORS = (
    "reg:squarederror",
    "reg:linear",
    "reg:squaredlogerror",
    "reg:pseudohubererror",
    "reg:absoluteerror",
    "reg:quantileerror",
    "reg:logistic",
    "reg:gamma",
    "reg:tweedie",
    "count:poisson",
)
_NUMBER = (int, float)
_NODE_ARRAYS = {
    "left_children": int,
    "right_children": int,
    "parents": int,
    "split_indices": int,
    "split_conditions": _NUMBER,
    "split_type": int,
    "default_left": int,
    "base_weights": _NUMBER,
    "loss_changes": _NUMBER,
    "sum_hessian": _NUMBER,
}
_CATEGORY_ARRAYS = ("categories", "categories_nodes", "categories_segments", "categories_sizes")
_NO_PARENT = 2**31 - 1
_NUMERIC_TYPES = ("float", "int", "q", "i")


def parse_document(data: bytes) -> dict | None:
    """The JSON or UBJSON document; None if the bytes are neither."""
    try:
        if data[1:64].lstrip()[:1] in (b'"', b"}"):  # JSON, maybe pretty-printed
            document = json.loads(data)
        else:
            import ubjson

            # py-ubjson reads an array of uint8 (XGBoost's flags) as bytes; JSON has a list.
            document = ubjson.loadb(data, object_hook=_bytes_as_lists)
    except (ValueError, RecursionError, MemoryError, EOFError, TypeError, OverflowError):
        return None  # py-ubjson's DecoderException is a ValueError
    return document if isinstance(document, dict) else None


def _bytes_as_lists(obj: dict) -> dict:
    return {key: list(v) if isinstance(v, bytes) else v for key, v in obj.items()}


def sniff(path: Path) -> bool:
    document = parse_document(Path(path).read_bytes())
    return (
        document is not None and isinstance(document.get("learner"), dict) and "version" in document
    )


def read_model(data: bytes, *, input_schema: list[dict]) -> dict:
    """The checked document; ArtifactError naming the first problem found."""
    document = parse_document(data)
    if document is None or not isinstance(document.get("learner"), dict):
        raise refuse("the file is not an XGBoost model saved as JSON or UBJSON")
    learner = document["learner"]
    params = _dict(learner, "learner_model_param")
    num_features = _int(params, "num_feature", 1, 10**6)
    check_feature_count(num_features, input_schema)
    names = _list(learner, "feature_names", str, required=False)
    check_feature_names(names or None, input_schema)
    types = _list(learner, "feature_types", str, required=False)
    if types and any(kind not in _NUMERIC_TYPES for kind in types):
        raise refuse("categorical features are not supported: train on numeric features")
    if _int(params, "num_target", 1, 1) != 1:
        raise refuse("multi-output models are not supported")
    _check_base_score(params)
    booster = _dict(learner, "gradient_booster")
    if booster.get("name") != "gbtree":
        raise refuse(f"only tree boosters (gbtree) are supported, not {booster.get('name')!r}")
    _check_trees(_dict(booster, "model"), num_features, _outputs(learner, params))
    return document


def _outputs(learner: dict, params: dict) -> int:
    """How many output groups the trees add up to: the classes of a multiclass model, else 1."""
    objective = _dict(learner, "objective")
    name = objective.get("name")
    if name not in _CLASSIFIERS + _REGRESSORS:
        raise refuse(
            f"the objective {str(name)[:40]!r} is not served; use binary:logistic or "
            "multi:softprob for a classifier, or a reg: objective for a regressor"
        )
    num_class = _int(params, "num_class", 0, 1000)
    if name == "multi:softprob":
        stated = _int(_dict(objective, "softmax_multiclass_param"), "num_class", 2, 1000)
        if stated != num_class:
            raise refuse(f"the objective has {stated} classes but the model {num_class}")
        return num_class
    if num_class not in (0, 1):
        raise refuse(f"a {name} model has no num_class (it is {num_class})")
    return 1


def objective_of(document: dict) -> str:
    return document["learner"]["objective"]["name"]


def _check_base_score(params: dict) -> None:
    text = str(params.get("base_score", "0.5")).strip()
    try:
        values = json.loads(text if text.startswith("[") else f"[{text}]")
    except ValueError:
        raise refuse(f"base_score is not a number: {text[:40]!r}") from None
    if not (0 < len(values) <= 1000 and all(_is_finite(v) for v in values)):
        raise refuse(f"base_score is not a list of finite numbers: {text[:40]!r}")


def _check_trees(model: dict, num_features: int, outputs: int) -> None:
    trees = _list(model, "trees", dict)
    stated = _int(_dict(model, "gbtree_model_param"), "num_trees", 1, 10**7)
    if stated != len(trees):
        raise refuse(f"the model says it has {stated} trees but holds {len(trees)}")
    tree_info = _list(model, "tree_info", int)
    if len(tree_info) != len(trees):
        raise refuse(f"tree_info lists {len(tree_info)} trees, the model holds {len(trees)}")
    boosters.check_indexes("tree_info", "output group", tree_info, outputs)
    indptr = _list(model, "iteration_indptr", int, required=False)
    if indptr and (
        indptr[0] != 0
        or indptr[-1] != len(trees)
        or any(b < a for a, b in zip(indptr, indptr[1:], strict=False))
    ):
        raise refuse("iteration_indptr does not divide the trees into rounds")
    if any(_dict(model, "cats", required=False).get(key) for key in ("enc", "feature_segments")):
        raise refuse("categorical features are not supported: train on numeric features")
    for index, tree in enumerate(trees):
        _check_tree(f"tree {index}", index, tree, num_features)


def _check_tree(where: str, index: int, tree: dict, num_features: int) -> None:
    params = _dict(tree, "tree_param")
    size = _int(params, "num_nodes", 1, 2**31 - 2)
    if str(params.get("size_leaf_vector", "1")) not in ("0", "1"):
        raise refuse(f"{where} has vector leaves; multi-output models are not supported")
    if tree.get("id") != index:
        raise refuse(f"{where} has the id {tree.get('id')!r}")
    arrays = {key: _list(tree, key, kind, where=where) for key, kind in _NODE_ARRAYS.items()}
    for key, values in arrays.items():
        if len(values) != size:
            raise refuse(f"{where} lists {len(values)} {key} for its {size} nodes")
    if any(_list(tree, key, _NUMBER, where=where, required=False) for key in _CATEGORY_ARRAYS):
        raise refuse(f"{where} has categorical splits; train on numeric features")
    if any(kind != 0 for kind in arrays["split_type"]):
        raise refuse(f"{where} has categorical splits; train on numeric features")
    left, right = arrays["left_children"], arrays["right_children"]
    children = [None if pair == (-1, -1) else pair for pair in zip(left, right, strict=True)]
    boosters.check_tree(where, children)
    _check_parents(where, children, arrays["parents"])
    boosters.check_indexes(where, "split feature", arrays["split_indices"], num_features)
    for key in ("split_conditions", "base_weights", "loss_changes", "sum_hessian"):
        if not all(map(_is_finite, arrays[key])):
            raise refuse(f"{where}: {key} holds a value that is not a finite number")
    if any(flag not in (0, 1) for flag in arrays["default_left"]):
        raise refuse(f"{where}: default_left holds a value other than 0 or 1")


def _check_parents(where: str, children: list, parents: list) -> None:
    expected = [_NO_PARENT] * len(children)
    for node, pair in enumerate(children):
        for child in pair or ():
            expected[child] = node
    if list(parents) != expected:
        raise refuse(f"{where}: its parent links do not match its child links")


def _is_finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _dict(parent: dict, key: str, *, required: bool = True) -> dict:
    value = parent.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise refuse(f"the model has no {key} object")
    return value


def _list(parent: dict, key: str, kind, *, required: bool = True, where: str = "the model"):
    value = parent.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list) or not all(
        isinstance(v, kind) and not isinstance(v, bool) for v in value
    ):
        raise refuse(f"{where}: {key} is not a list of the expected values")
    return value


def _int(parent: dict, key: str, low: int, high: int) -> int:
    """XGBoost writes its parameters as strings of digits."""
    text = str(parent.get(key, ""))
    if not text.lstrip("-").isdigit() or not low <= int(text) <= high:
        raise refuse(f"{key} is {text[:40]!r}, expected a whole number from {low} to {high}")
    return int(text)


class XGBoostPredictor(boosters.BoosterPredictor):
    runtime = "xgboost"

    def __init__(
        self, data: bytes, *, task: str, input_schema: list[dict], labels: list[str] | None
    ) -> None:
        import xgboost

        document = read_model(data, input_schema=input_schema)
        objective = objective_of(document)
        boosters.check_task(objective, objective in _CLASSIFIERS, task)
        classes = None
        if task == CLASSIFICATION:
            num_class = int(document["learner"]["learner_model_param"]["num_class"])
            classes = range(max(num_class, 2))
            boosters.check_labels(len(classes), labels)
        self.booster = xgboost.Booster()
        self.booster.load_model(bytearray(json.dumps(document).encode()))
        # One thread: the worker runs several predictions side by side.
        self.booster.set_param({"nthread": 1})
        super().__init__(task=task, input_schema=input_schema, labels=labels, classes=classes)

    def _predict(self, matrix: np.ndarray) -> np.ndarray:
        return self.booster.inplace_predict(matrix, validate_features=False)


def to_onnx(predictor: XGBoostPredictor) -> bytes:
    from onnxmltools import convert_xgboost

    # The converter reads split features from XGBoost's dump, where it expects no names.
    booster = predictor.booster.copy()
    booster.feature_names = None
    return boosters.booster_onnx(convert_xgboost, booster, len(predictor.input_schema))


load = XGBoostPredictor.load
