"""The structure checks shared by the decision-tree formats (LightGBM, XGBoost).

Their native libraries index node and feature arrays without bounds checks and follow child
links without cycle checks: a hostile file crashes or hangs the process that predicts with it.
So each tree format reads its file in Python first and hands the library only a model that
passed these checks. No Django here.
"""

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from registry.runtimes.base import CLASSIFICATION, ArtifactError, Predictor


def refuse(message: str) -> ArtifactError:
    """The error every structural problem of a tree model raises."""
    return ArtifactError(message, code="invalid_model")


def check_tree(where: str, children: Sequence[tuple[int, int] | None]) -> None:
    """Node 0 is the root; `children[i]` is node i's (left, right), or None for a leaf.

    Passes only a real binary tree: every child index points at another node, no node has two
    parents, and every node is reached from the root. Following child links from the root then
    always ends at a leaf, whatever the input row.
    """
    size = len(children)
    parents = [0] * size
    for node, pair in enumerate(children):
        if pair is None:
            continue
        for child in pair:
            if not 0 < child < size:
                raise refuse(f"{where}: node {node} points at node {child}, which does not exist")
            parents[child] += 1
            if parents[child] > 1:
                raise refuse(f"{where}: node {child} has two parents")
    reached, todo = 1, [0]
    while todo:
        pair = children[todo.pop()]
        if pair is not None:
            reached += 2
            todo.extend(pair)
    if reached != size:
        raise refuse(f"{where}: {size - reached} of its {size} nodes are not reachable")


def check_indexes(where: str, what: str, values: Sequence[int], limit: int) -> None:
    """Every value in [0, limit): feature indexes, class indexes."""
    for value in values:
        if not 0 <= value < limit:
            raise refuse(f"{where}: {what} {value} is out of range (expected 0 to {limit - 1})")


def check_task(objective: str, is_classifier: bool, task: str) -> None:
    """A classifier's objective only for a classification model, a regressor's for regression."""
    if is_classifier != (task == CLASSIFICATION):
        raise ArtifactError(
            f"the model's objective {objective!r} does not fit a {task} model",
            code="task_mismatch",
        )


def check_labels(num_classes: int, labels: list[str] | None) -> None:
    """A booster predicts class indexes 0..k-1, named by position in the stated labels."""
    if labels is None or len(labels) != num_classes:
        raise ArtifactError(
            f"the model predicts {num_classes} classes but the labels are {labels}; "
            "give one label per class, in the order of the class indexes 0 to "
            f"{num_classes - 1}",
            code="labels_mismatch",
        )


def predicted_class(probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(predicted class indexes, probability matrix) from a booster's probabilities: a binary
    model gives P(class 1) alone. The predicted class is the likeliest, the first on a tie, as
    the libraries' own classifiers decide."""
    probabilities = np.asarray(probabilities)
    if probabilities.ndim == 1:  # in its own dtype, as the library's predict_proba computes it
        probabilities = np.column_stack([1 - probabilities, probabilities])
    return probabilities.argmax(axis=1), probabilities


class BoosterPredictor(Predictor):
    """A tree booster: regression is its raw output, classification the likeliest of its
    probabilities. Subclasses set `booster` and run it in `_predict`."""

    booster: Any

    def _predict(self, matrix: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _regress(self, matrix: np.ndarray) -> np.ndarray:
        return self._predict(matrix)

    def _classify(self, matrix: np.ndarray) -> tuple[Sequence[Any], np.ndarray]:
        return predicted_class(self._predict(matrix))

    @classmethod
    def load(cls, path: Path, **kwargs) -> Predictor:
        return cls(Path(path).read_bytes(), **kwargs)


def booster_onnx(convert: Callable, booster: Any, n_inputs: int, **options) -> bytes:
    """A booster converted by onnxmltools' `convert` (its tree converters go up to opset 15)."""
    from onnxmltools.convert.common.data_types import FloatTensorType

    onnx_model = convert(
        booster,
        initial_types=[("input", FloatTensorType([None, n_inputs]))],
        target_opset=15,
        **options,
    )
    return onnx_model.SerializeToString()
