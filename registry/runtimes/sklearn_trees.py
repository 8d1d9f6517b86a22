"""The trees inside a scikit-learn model (from a skops file), checked before the model runs.

Compiled code walks a tree's arrays without bounds checks: in a file loaded without running its
code (skops), children that point outside the arrays, a feature past the input's width or a
child that points back up would make `predict` read outside memory or loop forever. So every
tree reachable from the model is checked once, when the model loads: decision trees
(`sklearn.tree._tree.Tree`), HistGradientBoosting's `TreePredictor` and the neighbour searches'
`BallTree` and `KDTree`; so are the widths an ensemble hands its members. A child always comes
after its parent in scikit-learn's decision trees, which is what makes every walk from the root
end at a leaf. The checks are numpy's over whole arrays (a forest holds millions of nodes);
`trees` holds the same rules for the formats whose files are read node by node.
"""

from collections.abc import Iterator
from typing import Any

import numpy as np
from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
from sklearn.neighbors import BallTree, KDTree
from sklearn.tree._tree import TREE_LEAF, TREE_UNDEFINED, Tree

from registry.runtimes.base import ArtifactError
from registry.runtimes.trees import refuse

_MEMBER_LISTS = (list, tuple)


def check_trees(model: Any) -> int:
    """Raise ArtifactError (`invalid_model`, as `trees.refuse`) naming the first tree or ensemble
    whose arrays are out of range or inconsistent; return how many trees were checked."""
    checked = 0
    for where, item, holder in _walk(model):
        if isinstance(item, Tree):
            _check_tree(item, holder, where)
            checked += 1
        elif isinstance(item, TreePredictor):
            _check_predictor(item, holder, where)
            checked += 1
        elif isinstance(item, (BallTree, KDTree)):
            _check_neighbours(item, holder, where)
            checked += 1
        elif hasattr(item, "estimators_") and hasattr(item, "n_features_in_"):
            _check_members(item, where)
    return checked


def _walk(model: Any) -> Iterator[tuple[str, Any, Any]]:
    """(path, object, the nearest object holding it) for every object reachable from `model`
    through attributes, lists, tuples, dicts and object arrays, each once."""
    pending: list[tuple[str, Any, Any]] = [("model", model, None)]
    seen: set[int] = set()
    while pending:
        where, item, holder = pending.pop()
        if id(item) in seen or isinstance(item, (str, bytes, int, float, bool, type(None))):
            continue
        seen.add(id(item))
        yield where, item, holder
        if isinstance(item, dict):
            children = [(f"{where}[{key!r}]", value) for key, value in item.items()]
        elif isinstance(item, _MEMBER_LISTS):
            children = [(f"{where}[{i}]", value) for i, value in enumerate(item)]
        elif isinstance(item, np.ndarray):
            flat = item.ravel().tolist() if item.dtype == object else []
            children = [(f"{where}.flat[{i}]", value) for i, value in enumerate(flat)]
        elif hasattr(item, "__dict__"):
            children = [(f"{where}.{name}", value) for name, value in vars(item).items()]
        else:
            children = []
        inner = holder if isinstance(item, (dict, *_MEMBER_LISTS, np.ndarray)) else item
        pending.extend((path, value, inner) for path, value in reversed(children))


def _invalid(where: str, problem: str) -> ArtifactError:
    return refuse(f"the model's tree at {where} is invalid: {problem}")


def _check_tree(tree: Tree, holder: Any, where: str) -> None:
    count = tree.node_count
    # The arrays below are views of `count` nodes: a count past the capacity would read beyond.
    if not 0 < count <= tree.capacity:
        raise _invalid(where, f"it counts {count} nodes but holds {tree.capacity}")
    width = tree.n_features
    if hasattr(holder, "n_features_in_") and width != holder.n_features_in_:
        raise _invalid(where, f"it takes {width} features, its estimator {holder.n_features_in_}")
    left, right, feature = tree.children_left, tree.children_right, tree.feature
    leaf = left == TREE_LEAF
    problem = _node_problem(leaf, right == TREE_LEAF, left, right, count)
    if problem is None and not ((feature[~leaf] >= 0) & (feature[~leaf] < width)).all():
        problem = f"a split uses a feature outside 0..{width - 1}"
    if problem is None and not (feature[leaf] == TREE_UNDEFINED).all():
        problem = "a leaf names a feature"
    if problem is None and not np.isfinite(tree.threshold).all():
        problem = "a threshold is not a finite number"
    if problem is None:
        problem = _value_problem(tree, count)
    if problem is not None:
        raise _invalid(where, problem)


def _node_problem(
    leaf: np.ndarray, right_leaf: np.ndarray, left: np.ndarray, right: np.ndarray, count: int
) -> str | None:
    """What is wrong with the children of `count` nodes (`leaf`: the nodes without children)."""
    if (leaf != right_leaf).any():
        return "a node has one child"
    index = np.arange(count)[~leaf]
    for children in (left[~leaf], right[~leaf]):
        if not ((children > index) & (children < count)).all():
            return f"a child is not a later node of its {count}"
    return None


def _value_problem(tree: Tree, count: int) -> str | None:
    n_classes = np.asarray(tree.n_classes)
    outputs = tree.n_outputs
    if n_classes.shape != (outputs,) or (n_classes < 1).any():
        return f"its classes per output {n_classes.tolist()} do not match {outputs} outputs"
    if tree.max_n_classes != n_classes.max():
        return "its largest class count is not its classes' largest"
    if tree.value.shape != (count, outputs, tree.max_n_classes):
        return f"its values have the shape {tree.value.shape}"
    if not np.isfinite(tree.value).all():
        return "a value is not a finite number"
    return None


def _check_predictor(predictor: TreePredictor, holder: Any, where: str) -> None:
    nodes = predictor.nodes
    count = len(nodes)
    leaf = nodes["is_leaf"].astype(bool)
    if count == 0:
        raise _invalid(where, "it has no nodes")
    problem = _node_problem(leaf, leaf, nodes["left"], nodes["right"], count)
    width = getattr(holder, "n_features_in_", None)
    features = nodes["feature_idx"][~leaf]
    if problem is None and width is not None and not (features < width).all():
        problem = f"a split uses a feature outside 0..{width - 1}"
    categorical = nodes["is_categorical"].astype(bool) & ~leaf
    bitsets = len(predictor.raw_left_cat_bitsets)
    if problem is None and not (nodes["bitset_idx"][categorical] < bitsets).all():
        problem = f"a categorical split points outside its {bitsets} category sets"
    if problem is not None:
        raise _invalid(where, problem)


def _check_neighbours(tree: BallTree | KDTree, holder: Any, where: str) -> None:
    """A binary tree over the training rows: node i's children are 2i+1 and 2i+2, and each node
    covers `idx_array[idx_start:idx_end]`, indexes of `data`."""
    data, indexes, nodes, bounds, _, levels, count, *_ = tree.__getstate__()
    rows = len(data)
    width = getattr(holder, "n_features_in_", data.shape[-1])
    starts, ends = nodes["idx_start"], nodes["idx_end"]
    inner = np.flatnonzero(nodes["is_leaf"] == 0)
    if data.ndim != 2 or data.shape[1] != width:
        problem = f"its data has the shape {data.shape} for {width} features"
    elif indexes.shape != (rows,) or not ((indexes >= 0) & (indexes < rows)).all():
        problem = f"an index points outside its {rows} rows"
    elif len(nodes) != count or count != 2**levels - 1 or bounds.shape[1:] != (count, width):
        problem = f"its {len(nodes)} nodes do not match its depth {levels} and bounds"
    elif not ((starts >= 0) & (starts <= ends) & (ends <= rows)).all():
        problem = "a node covers rows outside its index"
    elif (2 * inner + 2 >= count).any():
        problem = "a node that is not a leaf has no children"
    else:
        return
    raise _invalid(where, problem)


def _check_members(ensemble: Any, where: str) -> None:
    """An ensemble hands each member its whole input (or, when bagging features, the columns
    in `estimators_features_`): a member's width must be that one."""
    members = np.asarray(ensemble.estimators_, dtype=object).ravel().tolist()
    subsets = getattr(ensemble, "estimators_features_", None)
    for index, member in enumerate(members):
        width = getattr(member, "n_features_in_", None)
        if width is None:
            continue
        expected = ensemble.n_features_in_ if subsets is None else len(subsets[index])
        if width != expected:
            raise refuse(
                f"the model's ensemble at {where} hands its member {index} {expected} features, "
                f"but the member takes {width}"
            )
