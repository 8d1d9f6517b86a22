"""Open Inference Protocol (V2) tensors <-> this service's rows and outputs. No Django here.

A request's inputs are either one tensor per feature (named after it, shape `[N]` or `[N, 1]`)
or one `[N, features]` tensor in schema order (any name). Values are taken as their datatype says
(BYTES as text, read as a CSV field is) and then checked by the schema's own rules downstream.
Outputs: `label` (BYTES) and `probabilities` (FP64, `[N, labels]`) for a classifier, `value`
(FP64) for a regressor.
"""

import math
from collections.abc import Iterator

import numpy as np

from registry import features

NUMERIC = frozenset(
    {"UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64"}
    | {"FP16", "FP32", "FP64"}
)
DATATYPES = NUMERIC | {"BOOL", "BYTES"}
FEATURE_DATATYPES = {features.NUMBER: "FP64", features.INTEGER: "INT64", features.BOOLEAN: "BOOL"}
# MLServer's scikit-learn runtime names its outputs so; clients written for it ask for them.
OUTPUT_ALIASES = {"predict": ("label", "value"), "predict_proba": ("probabilities",)}


class TensorError(ValueError):
    """The request's tensors cannot be read; the message says why, for the client."""


def input_metadata(schema: list[dict]) -> list[dict]:
    return [
        {"name": f["name"], "datatype": FEATURE_DATATYPES[features.kind_of(f)], "shape": [-1]}
        for f in schema
    ]


def output_names(task_is_regression: bool) -> tuple[str, ...]:
    return ("value",) if task_is_regression else ("label", "probabilities")


def output_metadata(task_is_regression: bool, labels: list | None) -> list[dict]:
    if task_is_regression:
        return [{"name": "value", "datatype": "FP64", "shape": [-1]}]
    return [
        {"name": "label", "datatype": "BYTES", "shape": [-1]},
        {"name": "probabilities", "datatype": "FP64", "shape": [-1, len(labels or [])]},
    ]


# --- Request ----------------------------------------------------------------------------------


def read_rows(body, schema: list[dict]) -> list[dict]:
    """The rows (feature -> value) a V2 inference request's `inputs` hold."""
    if not isinstance(body, dict):
        raise TensorError("The request body must be a JSON object with `inputs`.")
    for key, kind in (("id", str), ("parameters", dict), ("outputs", list)):
        if key in body and not isinstance(body[key], kind):
            raise TensorError(f"`{key}` must be a {'string' if kind is str else kind.__name__}.")
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise TensorError("`inputs` must be a non-empty list of tensors.")
    tensors = [_tensor(item, index) for index, item in enumerate(inputs)]
    names = {f["name"]: f for f in schema}
    if all(t["name"] in names for t in tensors):
        return _rows_by_feature(tensors, names)
    if len(tensors) == 1:
        return _rows_of_matrix(tensors[0], schema)
    unknown = ", ".join(t["name"] for t in tensors if t["name"] not in names)
    raise TensorError(
        f"Unknown input(s): {unknown}. Send one tensor per feature "
        f"({', '.join(names)}) or one [N, {len(schema)}] tensor in that order."
    )


def _tensor(item, index: int) -> dict:
    where = f"inputs[{index}]"
    if not isinstance(item, dict):
        raise TensorError(f"{where} must be an object with name, shape, datatype and data.")
    name, shape, datatype = item.get("name"), item.get("shape"), item.get("datatype")
    if not isinstance(name, str) or not name:
        raise TensorError(f"{where}.name must be a non-empty string.")
    where = f"input {name!r}"
    if not isinstance(shape, list) or not shape or not all(_is_dim(d) for d in shape):
        raise TensorError(f"{where}: shape must be a list of non-negative integers.")
    if datatype not in DATATYPES:
        raise TensorError(f"{where}: datatype must be one of {', '.join(sorted(DATATYPES))}.")
    if "binary_data_size" in (item.get("parameters") or {}):
        raise TensorError(f"{where}: binary tensor data is not supported; send `data` as JSON.")
    if "data" not in item:
        raise TensorError(f"{where}: `data` is required.")
    data = list(_flat(item["data"]))
    if len(data) != math.prod(shape):
        raise TensorError(
            f"{where}: shape {shape} holds {math.prod(shape)} values, got {len(data)}."
        )
    return {"name": name, "shape": shape, "datatype": datatype, "data": data}


def _is_dim(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _flat(data) -> Iterator:
    """Row-major values of a flat or nested list (V2 allows both)."""
    if not isinstance(data, list):
        yield data
        return
    stack = [iter(data)]
    while stack:
        for value in stack[-1]:
            if isinstance(value, list):
                stack.append(iter(value))
                break
            yield value
        else:
            stack.pop()


def _rows_by_feature(tensors: list[dict], names: dict) -> list[dict]:
    counts = set()
    for tensor in tensors:
        if math.prod(tensor["shape"][1:]) != 1:
            raise TensorError(
                f"input {tensor['name']!r}: a feature's tensor has shape [N] or [N, 1], "
                f"got {tensor['shape']}."
            )
        counts.add(tensor["shape"][0])
    if len(counts) != 1:
        raise TensorError("Every feature's tensor must hold the same number of rows.")
    if len({t["name"] for t in tensors}) != len(tensors):
        raise TensorError("Each feature may be sent once.")
    columns = {
        t["name"]: [_value(v, t["datatype"], names[t["name"]]) for v in t["data"]] for t in tensors
    }
    names_in_order = list(columns)
    return [
        dict(zip(names_in_order, values, strict=True))
        for values in zip(*columns.values(), strict=True)
    ]


def _rows_of_matrix(tensor: dict, schema: list[dict]) -> list[dict]:
    shape, width = tensor["shape"], len(schema)
    if len(shape) == 1 and shape[0] == width:
        shape = [1, width]  # one row, as a plain vector
    if len(shape) != 2 or shape[1] != width:
        raise TensorError(
            f"input {tensor['name']!r} is not a feature; as a matrix it must have shape "
            f"[N, {width}] (features in schema order: {', '.join(f['name'] for f in schema)}), "
            f"got {tensor['shape']}."
        )
    data, datatype = tensor["data"], tensor["datatype"]
    return [
        {
            feature["name"]: _value(data[start + column], datatype, feature)
            for column, feature in enumerate(schema)
        }
        for start in range(0, len(data), width)
    ]


def _value(value, datatype: str, feature: dict):
    """A tensor element as the row value the schema checks: BYTES read as text is, a 0/1 for a
    boolean feature as true/false; anything else as sent, for the schema to judge."""
    if datatype == "BYTES" and isinstance(value, str):
        return features.from_text(value, feature)
    if (
        features.kind_of(feature) == features.BOOLEAN
        and datatype in NUMERIC
        and features.is_number(value)
        and value in (0, 1)
    ):
        return bool(value)
    return value


def requested_outputs(body: dict, available: tuple[str, ...]) -> list[tuple[str, str]]:
    """(name as asked, our output) for each output the request names; all of ours if none."""
    asked = body.get("outputs")
    if not asked:
        return [(name, name) for name in available]
    chosen = []
    for index, item in enumerate(asked):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str):
            raise TensorError(f"outputs[{index}].name must be a string.")
        ours = next((n for n in OUTPUT_ALIASES.get(name, (name,)) if n in available), None)
        if ours is None:
            raise TensorError(f"Unknown output {name!r}; this model has {', '.join(available)}.")
        chosen.append((name, ours))
    return chosen


# --- Response ---------------------------------------------------------------------------------


def output_tensors(
    chosen: list[tuple[str, str]], results: np.ndarray, labels: list | None
) -> list[dict]:
    """V2 outputs from a results matrix: per row the value, or the label's index then one
    probability per label (the matrix predictors return)."""
    rows = len(results)
    full = {
        "value": lambda: ("FP64", [rows], results[:, 0].tolist()),
        "label": lambda: (
            "BYTES",
            [rows],
            [str(labels[i]) for i in results[:, 0].astype(np.intp).tolist()],
        ),
        "probabilities": lambda: (
            "FP64",
            [rows, len(labels or [])],
            results[:, 1:].ravel().tolist(),
        ),
    }
    tensors = []
    for name, ours in chosen:
        datatype, shape, data = full[ours]()
        tensor = {"name": name, "datatype": datatype, "shape": shape, "data": data}
        if ours == "probabilities":
            tensor["parameters"] = {"labels": [str(label) for label in labels]}
        tensors.append(tensor)
    return tensors


def results_of_output(output: dict, labels: list | None) -> np.ndarray:
    """A single prediction's stored output as a one-row results matrix."""
    if "value" in output:
        return np.array([[output["value"]]], dtype=np.float64)
    probabilities = [output["probabilities"][str(label)] for label in labels]
    index = [str(label) for label in labels].index(str(output["label"]))
    return np.array([[index, *probabilities]], dtype=np.float64)
