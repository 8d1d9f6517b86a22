"""LightGBM: a booster's text model (`Booster.save_model`, `model_to_string`).

LightGBM's own reader trusts the text: a truncated file or a wrong size aborts the process, a
child index out of range or a cycle crashes or hangs prediction. So the text is read here first,
every number and index checked, and LightGBM is given a canonical model written from the checked
values (never the uploaded text). Loading runs no code from the file.
"""

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from registry.runtimes import trees as boosters  # what the booster formats share
from registry.runtimes.base import CLASSIFICATION, check_feature_count, check_feature_names
from registry.runtimes.trees import refuse

MAGIC = (b"tree\n", b"tree\r\n")
_VERSIONS = ("v2", "v3", "v4")
_AUTO_NAME = re.compile(r"^Column_\d+$")  # what LightGBM names the columns of a bare matrix
_MAX_CLASSES = 1000

# Objectives whose predictions the service serves, with the parameters their text carries.
_CLASSIFIERS = {"binary": ("sigmoid",), "multiclass": ("num_class",)}
_REGRESSORS = (
    "regression",
    "regression_l1",
    "huber",
    "fair",
    "poisson",
    "quantile",
    "mape",
    "gamma",
    "tweedie",
)

# Per-node arrays: (key, parse, length, required); length 0 = internal nodes, 1 = leaves.
_INTERNAL, _LEAVES = 0, 1
_TREE_ARRAYS = (
    ("split_feature", int, _INTERNAL, True),
    ("split_gain", float, _INTERNAL, False),
    ("threshold", float, _INTERNAL, True),
    ("decision_type", int, _INTERNAL, True),
    ("left_child", int, _INTERNAL, True),
    ("right_child", int, _INTERNAL, True),
    ("leaf_value", float, _LEAVES, True),
    ("leaf_weight", float, _LEAVES, False),
    ("leaf_count", int, _LEAVES, False),
    ("internal_value", float, _INTERNAL, False),
    ("internal_weight", float, _INTERNAL, False),
    ("internal_count", int, _INTERNAL, False),
)
_CATEGORICAL, _MISSING_TYPES = 1, 3  # decision_type bit 0; bits 2-3 hold 0, 1 or 2


@dataclass
class _Model:
    num_class: int = 1
    trees_per_iteration: int = 1
    num_features: int = 0
    objective: str = ""
    average_output: bool = False
    feature_names: list[str] | None = None
    trees: list[dict[str, list]] = field(default_factory=list)

    @property
    def is_classifier(self) -> bool:
        return self.objective.split(" ")[0] in _CLASSIFIERS


def sniff(path: Path) -> bool:
    with open(path, "rb") as file:
        head = file.read(32)
    return any(head.startswith(magic + b"version=") for magic in MAGIC)


def read_model(data: bytes, input_schema: list[dict]) -> _Model:
    """The checked model; ArtifactError naming the first problem found."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise refuse("a LightGBM text model is plain ASCII; this file is not") from None
    lines = text.replace("\r\n", "\n").split("\n")
    if lines[0] != "tree":
        raise refuse("the file does not start like a LightGBM text model ('tree')")
    header, position = _header(lines)
    model = _read_header(header)
    check_feature_count(model.num_features, input_schema)
    if model.feature_names is not None and not all(map(_AUTO_NAME.match, model.feature_names)):
        check_feature_names(model.feature_names, input_schema)
    model.trees = _read_trees(lines, position, model.num_features)
    sizes = header.get("tree_sizes", "").split()
    if "tree_sizes" in header and len(sizes) != len(model.trees):
        raise refuse(f"the header lists {len(sizes)} trees but the file holds {len(model.trees)}")
    if not model.trees or len(model.trees) % model.trees_per_iteration:
        raise refuse(
            f"the file holds {len(model.trees)} trees, not a whole number of iterations of "
            f"{model.trees_per_iteration}"
        )
    return model


def _header(lines: list[str]) -> tuple[dict[str, str], int]:
    header: dict[str, str] = {}
    for position, line in enumerate(lines[1:], start=1):
        if line.startswith("Tree=") or line == "end of trees":
            return header, position
        if line:
            key, _, value = line.partition("=")
            header[key] = value
    raise refuse("the file ends before its first tree (truncated?)")


def _read_header(header: dict[str, str]) -> _Model:
    if header.get("version") not in _VERSIONS:
        raise refuse(f"unknown LightGBM model version {header.get('version')!r}")
    model = _Model(
        num_class=_int(header, "num_class", 1, _MAX_CLASSES),
        trees_per_iteration=_int(header, "num_tree_per_iteration", 1, _MAX_CLASSES),
        num_features=_int(header, "max_feature_idx", 0, 10**6) + 1,
        average_output="average_output" in header,
    )
    if _int(header, "label_index", 0, 0) != 0:
        raise refuse("label_index must be 0")
    model.objective = _objective(header.get("objective", ""), model.num_class)
    expected_per_iteration = model.num_class if model.is_classifier else 1
    if model.trees_per_iteration != expected_per_iteration:
        raise refuse(
            f"num_tree_per_iteration is {model.trees_per_iteration}; "
            f"the objective needs {expected_per_iteration}"
        )
    names = header.get("feature_names", "").split(" ")
    if len(names) != model.num_features:
        raise refuse(
            f"the header names {len(names)} features but max_feature_idx says {model.num_features}"
        )
    model.feature_names = names
    return model


def _int(header: dict[str, str], key: str, low: int, high: int) -> int:
    if key not in header:
        raise refuse(f"the header has no {key}")
    try:
        value = int(header[key])
    except ValueError:
        raise refuse(f"{key} is not a whole number: {header[key][:40]!r}") from None
    if not low <= value <= high:
        raise refuse(f"{key}={value} is out of range ({low} to {high})")
    return value


def _objective(text: str, num_class: int) -> str:
    """The objective written back canonically: its name and the parameters it needs."""
    name, *parameters = text.split(" ")
    if name in _REGRESSORS:
        if num_class != 1 or set(parameters) - {"sqrt"}:
            raise refuse(f"unexpected parameters for the {name} objective: {text[:80]!r}")
        return " ".join([name, *parameters[:1]])
    if name not in _CLASSIFIERS:
        raise refuse(
            f"the objective {name[:40]!r} is not served; use binary or multiclass for a "
            f"classifier, or one of {', '.join(_REGRESSORS)} for a regressor"
        )
    values = dict(p.partition(":")[::2] for p in parameters)
    if set(values) != set(_CLASSIFIERS[name]):
        raise refuse(f"the {name} objective needs exactly {_CLASSIFIERS[name]}: {text[:80]!r}")
    if name == "binary":
        sigmoid = _float(values["sigmoid"], "sigmoid")
        if num_class != 1 or not sigmoid > 0:
            raise refuse(f"a binary objective needs num_class=1 and sigmoid > 0: {text[:80]!r}")
        return f"binary sigmoid:{sigmoid!r}"
    if values["num_class"] != str(num_class) or num_class < 2:
        raise refuse(f"the objective's num_class does not match the header's {num_class}")
    return f"multiclass num_class:{num_class}"


def _float(token: str, what: str) -> float:
    try:
        value = float(token)
    except ValueError:
        raise refuse(f"{what} is not a number: {token[:40]!r}") from None
    if not math.isfinite(value):
        raise refuse(f"{what} is not finite: {token[:40]!r}")
    return value


def _read_trees(lines: list[str], position: int, num_features: int) -> list[dict[str, list]]:
    trees = []
    while position < len(lines) and lines[position] != "end of trees":
        line = lines[position]
        if not line:
            position += 1
            continue
        if line != f"Tree={len(trees)}":
            raise refuse(f"expected Tree={len(trees)}, found {line[:40]!r}")
        block: dict[str, str] = {}
        position += 1
        while position < len(lines) and lines[position]:
            key, _, value = lines[position].partition("=")
            block[key] = value
            position += 1
        trees.append(_read_tree(f"tree {len(trees)}", block, num_features))
    if position >= len(lines):
        raise refuse("the file ends inside its trees (truncated?): no 'end of trees' line")
    return trees


def _read_tree(where: str, block: dict[str, str], num_features: int) -> dict[str, list]:
    if block.get("is_linear", "0") != "0":
        raise refuse(f"{where} is a linear tree; linear trees are not supported")
    num_leaves = _count(where, block, "num_leaves", 1)
    num_cat = _count(where, block, "num_cat", 0)
    lengths = {_INTERNAL: num_leaves - 1, _LEAVES: num_leaves}
    tree: dict[str, Any] = {"num_leaves": num_leaves, "num_cat": num_cat}
    for key, parse, length, required in _TREE_ARRAYS:
        if key in block:
            tree[key] = _array(where, key, block[key], parse, lengths[length])
        elif required and lengths[length] > 0:
            raise refuse(f"{where} has no {key}")
    tree["shrinkage"] = [_float(block.get("shrinkage", "1"), f"{where} shrinkage")]
    if num_leaves > 1:
        _check_splits(where, tree, block, num_features)
    return tree


def _count(where: str, block: dict[str, str], key: str, low: int) -> int:
    try:
        value = int(block.get(key, ""))
    except ValueError:
        raise refuse(f"{where} has no valid {key}") from None
    if value < low:
        raise refuse(f"{where}: {key}={value} is below {low}")
    return value


def _array(where: str, key: str, text: str, parse: Callable, length: int) -> list:
    tokens = text.split(" ") if text else []
    if len(tokens) != length:
        raise refuse(f"{where} lists {len(tokens)} values for {key} where {length} are needed")
    try:
        values = [parse(token) for token in tokens]
    except ValueError:
        raise refuse(f"{where}: {key} holds a value that is not a number") from None
    if parse is float and not all(map(math.isfinite, values)):
        raise refuse(f"{where}: {key} holds a value that is not finite")
    return values


def _check_splits(where: str, tree: dict, block: dict[str, str], num_features: int) -> None:
    internal = tree["num_leaves"] - 1

    # One node space: internal nodes 0..n-1, then leaf k (written ~k, i.e. -k-1) at n + k.
    def node(child: int) -> int:
        if 0 <= child < internal:
            return child
        return internal + ~child if 0 <= ~child < tree["num_leaves"] else -1

    children = [
        (node(left), node(right))
        for left, right in zip(tree["left_child"], tree["right_child"], strict=True)
    ]
    boosters.check_tree(where, children + [None] * tree["num_leaves"])
    boosters.check_indexes(where, "split feature", tree["split_feature"], num_features)
    for node, kind in enumerate(tree["decision_type"]):
        if not 0 <= kind < 16 or (kind >> 2) & 3 == _MISSING_TYPES:
            raise refuse(f"{where}: node {node} has an unknown decision type {kind}")
    categorical = [n for n, kind in enumerate(tree["decision_type"]) if kind & _CATEGORICAL]
    if categorical or tree["num_cat"]:
        _check_categories(where, tree, block, categorical)


def _check_categories(where: str, tree: dict, block: dict, categorical: list[int]) -> None:
    num_cat = tree["num_cat"]
    bounds = _array(where, "cat_boundaries", block.get("cat_boundaries", ""), int, num_cat + 1)
    if bounds[0] != 0 or any(b > a for a, b in zip(bounds[1:], bounds, strict=False)):
        raise refuse(f"{where}: cat_boundaries must rise from 0")
    words = _array(where, "cat_threshold", block.get("cat_threshold", ""), int, bounds[-1])
    if any(not 0 <= word < 2**32 for word in words):
        raise refuse(f"{where}: cat_threshold holds a value out of range")
    for node in categorical:
        index = tree["threshold"][node]
        if not (index.is_integer() and 0 <= index < num_cat):
            raise refuse(f"{where}: node {node} names category set {index}, out of range")
    tree["cat_boundaries"], tree["cat_threshold"] = bounds, words


def canonical_text(model: _Model) -> str:
    """The model written back in LightGBM's text format, from checked values only."""
    blocks = [_tree_text(index, tree) for index, tree in enumerate(model.trees)]
    header = [
        "tree",
        "version=v4",
        f"num_class={model.num_class}",
        f"num_tree_per_iteration={model.trees_per_iteration}",
        "label_index=0",
        f"max_feature_idx={model.num_features - 1}",
        f"objective={model.objective}",
        *(["average_output"] if model.average_output else []),
        "feature_names=" + " ".join(model.feature_names or []),
        "feature_infos=" + " ".join(["none"] * model.num_features),
        "tree_sizes=" + " ".join(str(len(block)) for block in blocks),
        "",
        "",
    ]
    return "\n".join(header) + "".join(blocks) + "end of trees\n"


def _tree_text(index: int, tree: dict) -> str:
    lines = [f"Tree={index}"]
    for key, values in tree.items():
        if isinstance(values, list):
            values = " ".join(repr(v) if isinstance(v, float) else str(v) for v in values)
        lines.append(f"{key}={values}")
    lines.append("is_linear=0")
    return "\n".join(lines) + "\n\n"


class LightGBMPredictor(boosters.BoosterPredictor):
    runtime = "lightgbm"

    def __init__(
        self, data: bytes, *, task: str, input_schema: list[dict], labels: list[str] | None
    ) -> None:
        import lightgbm

        model = read_model(data, input_schema)
        boosters.check_task(model.objective.split(" ")[0], model.is_classifier, task)
        self.num_classes = max(model.num_class, 2) if task == CLASSIFICATION else 0
        if task == CLASSIFICATION:
            boosters.check_labels(self.num_classes, labels)
        self.booster = lightgbm.Booster(model_str=canonical_text(model))
        classes = range(self.num_classes) if task == CLASSIFICATION else None
        super().__init__(task=task, input_schema=input_schema, labels=labels, classes=classes)

    def _predict(self, matrix: np.ndarray) -> np.ndarray:
        # One thread: the worker runs several predictions side by side.
        return self.booster.predict(matrix, num_threads=1)


def to_onnx(predictor: LightGBMPredictor) -> bytes:
    from onnxmltools import convert_lightgbm

    return boosters.booster_onnx(
        convert_lightgbm, predictor.booster, len(predictor.input_schema), zipmap=False
    )


load = LightGBMPredictor.load
