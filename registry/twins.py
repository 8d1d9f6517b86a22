"""ONNX twins: serve a scikit-learn version from onnxruntime when that changes nothing.

When a skops or joblib version is registered, we try converting its estimator with skl2onnx.
The twin is kept only if it agrees with the original on the input example and on sampled rows:
identical labels and probabilities within 1e-5 for classifiers, values within 1e-5 (relative)
for regressors. Otherwise the version is served by scikit-learn as uploaded, and the report
says why. No Django here.
"""

import numpy as np

from registry import runtimes

SAMPLE_ROWS = 256
TOLERANCE = 1e-5
ONNX_TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}


def sample_rows(input_schema: list[dict], example: dict, count: int, seed: int = 0) -> list:
    """Rows spread over each feature's declared range (or around the example's value)."""
    rng = np.random.default_rng(seed)
    rows = [dict(example)]
    for _ in range(count - 1):
        row = {}
        for feature in input_schema:
            name, value = feature["name"], example[feature["name"]]
            if feature["type"] == "boolean":
                row[name] = bool(rng.integers(0, 2))
                continue
            if "enum" in feature:
                row[name] = feature["enum"][int(rng.integers(0, len(feature["enum"])))]
                continue
            spread = max(abs(float(value)), 1.0)
            low = feature.get("minimum", float(value) - spread)
            high = feature.get("maximum", float(value) + spread)
            # Sample near the example as well as across the range: the range may be loose.
            if rng.random() < 0.5:
                low, high = max(low, value - spread / 2), min(high, value + spread / 2)
            number = float(rng.uniform(low, high))
            row[name] = round(number) if feature["type"] == "integer" else number
        rows.append(row)
    return rows


def make_twin(
    predictor: runtimes.Predictor,
    *,
    task: str,
    input_schema: list[dict],
    labels: list[str] | None,
    input_example: dict,
) -> tuple[bytes | None, dict]:
    """(ONNX bytes, report) when the twin agrees with the original; (None, report) if not."""
    estimator = getattr(predictor, "model", None)
    if estimator is None:
        return None, {"kept": False, "reason": "not a scikit-learn model"}
    try:
        from skl2onnx import to_onnx
        from skl2onnx.common.data_types import FloatTensorType
        from sklearn.base import is_classifier

        options = {id(estimator): {"zipmap": False}} if is_classifier(estimator) else None
        onnx_model = to_onnx(
            estimator,
            initial_types=[("input", FloatTensorType([None, len(input_schema)]))],
            options=options,
            target_opset=ONNX_TARGET_OPSET,
        )
        data = onnx_model.SerializeToString()
        twin = runtimes.OnnxPredictor(data, task=task, input_schema=input_schema, labels=labels)
    except Exception as exc:  # no converter for this estimator, or the result does not load
        return None, {
            "kept": False,
            "reason": f"conversion failed: {type(exc).__name__}: {str(exc)[:200]}",
        }
    rows = sample_rows(input_schema, input_example, SAMPLE_ROWS)
    try:
        expected, got = predictor.predict(rows), twin.predict(rows)
    except Exception as exc:
        return None, {"kept": False, "reason": f"twin failed to run: {type(exc).__name__}"}
    report = compare(expected, got, task=task, labels=labels)
    report["rows_compared"] = len(rows)
    return (data if report["kept"] else None), report


def compare(expected: list[dict], got: list[dict], *, task: str, labels) -> dict:
    if task == runtimes.CLASSIFICATION:
        mismatched = sum(a["label"] != b["label"] for a, b in zip(expected, got, strict=True))
        diff = max(
            abs(a["probabilities"][label] - b["probabilities"][label])
            for a, b in zip(expected, got, strict=True)
            for label in labels
        )
        kept = mismatched == 0 and diff <= TOLERANCE
        report = {"kept": kept, "label_mismatches": mismatched, "max_probability_diff": diff}
    else:
        a = np.array([o["value"] for o in expected])
        b = np.array([o["value"] for o in got])
        relative = float(np.max(np.abs(a - b) / np.maximum(np.abs(a), 1.0)))
        kept = relative <= TOLERANCE
        report = {"kept": kept, "max_relative_diff": relative}
    if not kept:
        report["reason"] = "outputs differ beyond tolerance"
    return report
