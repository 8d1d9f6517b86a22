"""ONNX twins: serve a version from onnxruntime when that changes nothing.

When a version is registered in a format that converts to ONNX (its `to_onnx` in the table of
formats: skops and joblib through skl2onnx, LightGBM and XGBoost through onnxmltools), we try
converting it. The twin is kept only if it
agrees with the original on the input example and on sampled rows: identical labels and
probabilities within 1e-5 for classifiers, values within 1e-5 (relative) for regressors.
Otherwise the version is served by its own runtime as uploaded, and the report says why. No
Django here.
"""

import numpy as np

from registry import features, runtimes
from registry.runtimes.formats.onnx import OnnxPredictor

SAMPLE_ROWS = 256
TOLERANCE = 1e-5


def sample_rows(input_schema: list[dict], example: dict, count: int, seed: int = 0) -> list:
    """Rows spread over each feature's declared range (or around the example's value)."""
    rng = np.random.default_rng(seed)
    rows = [dict(example)]
    for _ in range(count - 1):
        row = {}
        for feature in input_schema:
            name, value = feature["name"], example[feature["name"]]
            if features.kind_of(feature) == features.BOOLEAN:
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
            row[name] = features.nearest(number, feature)
        rows.append(row)
    return rows


def make_twin(
    predictor: runtimes.Predictor, *, fmt: runtimes.Format, input_example: dict
) -> tuple[bytes | None, dict]:
    """(ONNX bytes, report) when the twin agrees with the original; (None, report) if not.
    The report's `summary` says what happened in a sentence a staff user reads."""
    task, input_schema, labels = predictor.task, predictor.input_schema, predictor.labels
    try:
        data = fmt.to_onnx(predictor)
        twin = OnnxPredictor(data, task=task, input_schema=input_schema, labels=labels)
    except Exception as exc:  # no converter for this model, or the result does not load
        return None, _refused(
            "conversion failed", "the model could not be converted", exc, predictor.runtime
        )
    rows = sample_rows(input_schema, input_example, SAMPLE_ROWS)
    try:
        expected, got = predictor.predict(rows), twin.predict(rows)
    except Exception as exc:
        return None, _refused(
            "twin failed to run",
            "the converted model failed on sampled rows",
            exc,
            predictor.runtime,
        )
    report = compare(expected, got, task=task, labels=labels)
    report["rows_compared"] = len(rows)
    report["summary"] = _summary(report, predictor.runtime)
    return (data if report["kept"] else None), report


def _first_line(exc: Exception) -> str:
    """An exception's message as a staff user reads it: its first line, without the class."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _refused(reason: str, what: str, exc: Exception, runtime: str) -> dict:
    """The report of a twin given up before any comparison."""
    problem = _first_line(exc)
    return {
        "kept": False,
        "reason": f"{reason}: {problem}",
        "summary": f"No ONNX twin: {what} ({problem}); served by {runtime} as uploaded.",
    }


def _summary(report: dict, runtime: str) -> str:
    rows, tolerance = report["rows_compared"], f"{TOLERANCE:g}"
    if "label_mismatches" in report:
        diff = f"{report['max_probability_diff']:.1e}"
        if report["kept"]:
            return (
                f"Served by its ONNX twin: on {rows} sampled rows the twin predicted the same "
                f"labels as {runtime}, with probabilities at most {diff} apart "
                f"(tolerance {tolerance})."
            )
        return (
            f"No ONNX twin: on {rows} sampled rows the twin predicted another label than "
            f"{runtime} for {report['label_mismatches']} rows, with probabilities up to {diff} "
            f"apart (tolerance {tolerance}); served by {runtime} as uploaded."
        )
    diff = f"{report['max_relative_diff']:.1e}"
    if report["kept"]:
        return (
            f"Served by its ONNX twin: on {rows} sampled rows its values were at most {diff} "
            f"(relative) from {runtime}'s (tolerance {tolerance})."
        )
    return (
        f"No ONNX twin: on {rows} sampled rows its values differed from {runtime}'s by up to "
        f"{diff} (relative; tolerance {tolerance}); served by {runtime} as uploaded."
    )


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
