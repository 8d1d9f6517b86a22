"""The true outcome of a prediction, written once: what a truth must be for a version's task,
how it is read from CSV text, and the metric columns of a feedback row it gives with the
prediction's output. No Django here beyond the version it is given.

- classification: one of the version's labels;
- regression: a finite number;
- forecast: a list of finite numbers, one per step forecast (in CSV: separated by spaces).
"""

import math
from typing import Any

from registry import features
from registry.models import ModelVersion, Task

# The probability a log loss takes for a true label given (almost) none: the loss stays finite.
MIN_PROBABILITY = 1e-15


def _finite(value: Any) -> bool:
    if not features.is_number(value):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond a float
        return False


def problem(truth: Any, version: ModelVersion, output: dict) -> str | None:
    """What is wrong with `truth` for a prediction of `version` whose output was `output`;
    None when it is fine."""
    task = version.model.task
    if task == Task.CLASSIFICATION:
        labels = version.labels or []
        if not isinstance(truth, str) or truth not in labels:
            return f"Must be one of the version's labels: {', '.join(map(str, labels))}."
        return None
    if task == Task.REGRESSION:
        return None if _finite(truth) else "Must be a finite number."
    steps = len(output.get("forecast", []))
    if (
        not isinstance(truth, list)
        or len(truth) != steps
        or not all(_finite(value) for value in truth)
    ):
        return f"Must be a list of {steps} finite numbers, one per step forecast."
    return None


def from_text(text: str, version: ModelVersion) -> Any:
    """A truth written in a CSV field, as `problem` checks it (text that does not convert is
    returned as it is, for `problem` to name)."""
    text = text.strip()
    task = version.model.task
    if task == Task.CLASSIFICATION:
        return text
    try:
        values = [float(part) for part in text.split()]
    except ValueError:
        return text
    if task == Task.REGRESSION:
        return values[0] if len(values) == 1 else text
    return values


def metric_columns(truth: Any, version: ModelVersion, output: dict) -> dict:
    """The feedback row's metric columns (`evidence.models.Feedback`) for a checked truth."""
    task = version.model.task
    if task == Task.CLASSIFICATION:
        probability = output.get("probabilities", {}).get(truth)
        return {
            "truth_label": truth,
            "predicted_label": str(output["label"]),
            "truth_probability": None if probability is None else float(probability),
        }
    if task == Task.REGRESSION:
        return {"truth_value": float(truth), "value_error": float(output["value"]) - float(truth)}
    pairs = [
        (float(actual), float(step["value"]))
        for actual, step in zip(truth, output["forecast"], strict=True)
        if actual != 0
    ]
    return {
        "ape_sum": sum(abs(predicted - actual) / abs(actual) for actual, predicted in pairs),
        "steps": len(pairs),
    }


def metric_columns_sql(task: str, output: str) -> dict[str, str]:
    """`metric_columns` as SQL expressions, for an output read in a query (`output`, a jsonb
    expression) against the truth of a feedback row (its `truth`, `truth_label` and
    `truth_value` columns): the columns that depend on the output, by name."""
    if task == Task.CLASSIFICATION:
        return {
            "predicted_label": f"{output}->>'label'",
            "truth_probability": f"({output}->'probabilities'->>truth_label)::float8",
        }
    if task == Task.REGRESSION:
        return {"value_error": f"({output}->>'value')::float8 - truth_value"}
    # The steps paired as `zip` pairs them, those whose truth is not 0 counted.
    steps = f"""FROM jsonb_array_elements_text(truth) WITH ORDINALITY t(actual, i)
        JOIN jsonb_array_elements({output}->'forecast') WITH ORDINALITY o(step, i) USING (i)
        WHERE t.actual::float8 <> 0"""
    error = "abs((o.step->>'value')::float8 - t.actual::float8) / abs(t.actual::float8)"
    return {
        "ape_sum": f"(SELECT coalesce(sum({error}), 0) {steps})",
        "steps": f"(SELECT count(*) {steps})",
    }
