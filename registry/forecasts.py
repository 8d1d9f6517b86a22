"""Forecast requests, written once: what a forecast version declares (its `input_schema`, the
"forecast spec"), how a request is checked against it, published as JSON Schema, projected to
what a forecaster runs, and read from a CSV line. No Django here.

A forecast spec is a dict:

    {"max_horizon": 30,              # a request asks for 1 to max_horizon steps
     "frequency": "D",               # optional: pandas offset alias of the series' steps
     "lags": [1, 2, 7],              # a lag model: the history values its regressor takes
     "calendar": ["day_of_week"],    # a lag model: date parts of the step it predicts
     "regressors": [feature, ...]}   # optional: future values the model takes, one per step

A Prophet model has no `lags` (it forecasts from the history it was fitted on); a lag model has
them and takes the recent history in each request. A request is a dict:

    {"horizon": 7, "history": [..], "history_end": "2025-03-31", "<regressor>": [7 values]}

`history` (lag models: at least max(lags) values, oldest first) and `history_end` (the date of
the last history value, with a frequency: dates in the answer, and needed by calendar features)
exist only for lag models.
"""

import math
import re
from typing import Any

from registry import features

MAX_HORIZON = 1000  # the global bound on a version's max_horizon
MAX_LAG = 1000
MAX_HISTORY = 10_000  # values a request may send; only the last max(lags) are kept
SPEC_KEYS = frozenset({"max_horizon", "frequency", "lags", "calendar", "regressors"})
HORIZON, HISTORY, HISTORY_END = "horizon", "history", "history_end"
RESERVED = frozenset({HORIZON, HISTORY, HISTORY_END})

# Calendar features a lag model may take: name -> (what the date gives, minimum, maximum).
CALENDAR = {
    "day_of_week": ("day_of_week", 0, 6),  # Monday is 0
    "day_of_month": ("day", 1, 31),
    "day_of_year": ("day_of_year", 1, 366),
    "month": ("month", 1, 12),
    "hour": ("hour", 0, 23),
}
_FREQUENCY_RE = re.compile(r"^[0-9]{0,4}[A-Za-z]{1,5}(-[A-Za-z]{3})?$")

REQUIRED = "This field is required."
UNKNOWN = "Unknown field; this model does not take it."
NOT_AN_OBJECT = "A forecast request must be an object with at least a horizon."


def lag_name(lag: int) -> str:
    return f"lag_{lag}"


def is_lag_model(spec: dict) -> bool:
    return "lags" in spec


def regressors(spec: dict) -> list[dict]:
    return spec.get("regressors") or []


def history_length(spec: dict) -> int:
    """How many history values a lag model's request must send: its longest lag."""
    return max(spec["lags"])


def model_features(spec: dict) -> list[dict]:
    """A lag model's regressor's input schema, in the order it was trained on: one feature per
    lag (`lag_1`, ...), then the calendar features, then the regressors."""
    lags = [{"name": lag_name(lag), "type": features.NUMBER} for lag in spec["lags"]]
    calendar = [
        {"name": name, "type": features.INTEGER, "minimum": low, "maximum": high}
        for name, (_, low, high) in ((n, CALENDAR[n]) for n in spec.get("calendar", []))
    ]
    return [*lags, *calendar, *regressors(spec)]


# --- The declared spec ------------------------------------------------------------------------


def spec_problems(spec: Any, *, lag_model: bool) -> list[str]:
    """What is wrong with a declared forecast spec; [] when it is fine. `lag_model`: the
    version's file is a regressor run step by step (any format but a forecaster's own)."""
    if not isinstance(spec, dict):
        return ["A forecast model's input_schema must be an object with max_horizon."]
    problems = [f"unknown key {key!r}." for key in sorted(set(spec) - SPEC_KEYS, key=str)]
    horizon = spec.get("max_horizon")
    if not (_whole(horizon) and 1 <= horizon <= MAX_HORIZON):
        problems.append(f"max_horizon must be a whole number from 1 to {MAX_HORIZON}.")
    if "frequency" in spec and not _frequency_ok(spec["frequency"]):
        problems.append("frequency must be a pandas offset alias such as 'D', 'h' or 'W-MON'.")
    problems += _lag_problems(spec, lag_model)
    declared = spec.get("regressors", [])
    if not isinstance(declared, list):
        return [*problems, "regressors must be a list of features."]
    seen = set(RESERVED) | {feature["name"] for feature in _derived(spec)}
    for index, feature in enumerate(declared):
        problems += features.declaration_problems(feature, index, seen)
    return problems


def _lag_problems(spec: dict, lag_model: bool) -> list[str]:
    if not lag_model:
        extra = [key for key in ("lags", "calendar") if key in spec]
        return [f"{key} is for lag models; this format forecasts on its own." for key in extra]
    problems = []
    lags = spec.get("lags")
    if not (
        isinstance(lags, list)
        and lags
        and all(_whole(lag) and 1 <= lag <= MAX_LAG for lag in lags)
        and len(set(lags)) == len(lags)
    ):
        problems.append(f"lags must be a non-empty list of distinct whole numbers 1 to {MAX_LAG}.")
    calendar = spec.get("calendar", [])
    if not (isinstance(calendar, list) and all(name in CALENDAR for name in calendar)):
        problems.append(f"calendar must be a list of: {', '.join(CALENDAR)}.")
    elif calendar and "frequency" not in spec:
        problems.append("calendar features need a frequency (the dates of the steps).")
    return problems


def _derived(spec: dict) -> list[dict]:
    """The lag and calendar features a valid lag spec adds (for name clashes); [] otherwise."""
    try:
        return model_features({**spec, "regressors": []}) if is_lag_model(spec) else []
    except (TypeError, KeyError):
        return []


def _whole(value: Any) -> bool:
    return features.is_number(value) and float(value).is_integer()


def _frequency_ok(value: Any) -> bool:
    if not isinstance(value, str) or not _FREQUENCY_RE.match(value):
        return False
    import pandas as pd

    try:
        offset = pd.tseries.frequencies.to_offset(value)
    except ValueError:
        return False
    return offset.n > 0


# --- One request ------------------------------------------------------------------------------


def request_errors(request: Any, spec: dict, *, ignore_extra: bool = False) -> dict[str, str]:
    """Field -> message for everything wrong with one forecast request; {} when valid."""
    if not isinstance(request, dict):
        return {"non_field_errors": NOT_AN_OBJECT}
    errors: dict[str, str] = {}
    horizon = request.get(HORIZON)
    problem = _horizon_problem(horizon, spec["max_horizon"])
    if problem:
        errors[HORIZON] = problem
    if is_lag_model(spec):
        _history_errors(request, spec, errors)
    steps = horizon if problem is None else None
    for feature in regressors(spec):
        name = feature["name"]
        message = _steps_problem(request[name], feature, steps) if name in request else REQUIRED
        if message:
            errors[name] = message
    if not ignore_extra:
        for name in request:
            if name not in _known(spec):
                errors[str(name)[:100]] = UNKNOWN
    if not is_lag_model(spec) and HISTORY in request:
        errors[HISTORY] = "This model forecasts from the history it was fitted on; send none."
    return errors


def _known(spec: dict) -> set[str]:
    names = {HORIZON, *(feature["name"] for feature in regressors(spec))}
    if is_lag_model(spec):
        names |= {HISTORY, HISTORY_END}
    return names


def _horizon_problem(horizon: Any, maximum: int) -> str | None:
    if horizon is None:
        return REQUIRED
    if isinstance(horizon, bool) or not _whole(horizon):
        return "Must be a whole number of steps."
    if horizon < 1:
        return "Must be at least 1."
    if horizon > maximum:
        return f"Must be at most {maximum}: this model forecasts up to {maximum} steps."
    return None


def _history_errors(request: dict, spec: dict, errors: dict[str, str]) -> None:
    needed = history_length(spec)
    history = request.get(HISTORY)
    if history is None:
        errors[HISTORY] = f"{REQUIRED} Send at least the last {needed} values, oldest first."
    elif not isinstance(history, list) or not needed <= len(history) <= MAX_HISTORY:
        errors[HISTORY] = f"Must be a list of {needed} to {MAX_HISTORY} values, oldest first."
    else:
        bad = next((i for i, v in enumerate(history[-needed:]) if not _finite(v)), None)
        if bad is not None:
            errors[HISTORY] = f"Value {len(history) - needed + bad}: must be a finite number."
    end = request.get(HISTORY_END)
    if end is None:
        if spec.get("calendar"):
            errors[HISTORY_END] = f"{REQUIRED} The calendar features need the dates."
    elif "frequency" not in spec:
        errors[HISTORY_END] = "This model has no frequency, so its steps have no dates."
    elif parse_timestamp(end) is None:
        errors[HISTORY_END] = "Must be an ISO 8601 date or date-time, e.g. 2025-03-31."


def _finite(value: Any) -> bool:
    return features.is_number(value) and math.isfinite(value)


def _steps_problem(values: Any, feature: dict, steps: int | None) -> str | None:
    if not isinstance(values, list) or (steps is not None and len(values) != steps):
        count = f"{steps} values" if steps is not None else "values"
        return f"Must be a list of {count}, one per forecast step."
    for step, value in enumerate(values, start=1):
        problem = features.value_problem(value, feature)
        if problem is not None:
            return f"Step {step}: {features.client_message(problem, feature)}"
    return None


def parse_timestamp(text: Any):
    """An ISO 8601 date or date-time as a naive pandas Timestamp; None if it is not one."""
    if not isinstance(text, str) or not 8 <= len(text) <= 40:
        return None
    import pandas as pd

    try:
        stamp = pd.Timestamp(text)
    except (ValueError, OverflowError):
        return None
    if stamp is pd.NaT:
        return None
    return stamp.tz_convert(None) if stamp.tzinfo is not None else stamp


def project_request(request: dict, spec: dict) -> dict:
    """A valid request reduced to what the forecaster runs: the history's needed tail, the
    declared regressors (extras dropped), numbers as floats."""
    projected: dict[str, Any] = {HORIZON: int(request[HORIZON])}
    if is_lag_model(spec):
        projected[HISTORY] = [float(v) for v in request[HISTORY][-history_length(spec) :]]
        if request.get(HISTORY_END) is not None:
            projected[HISTORY_END] = request[HISTORY_END]
    for feature in regressors(spec):
        projected[feature["name"]] = list(request[feature["name"]])
    return projected


def to_json_schema(spec: dict, *, ignore_extra: bool = False) -> dict:
    """A forecast request as JSON Schema (draft 2020-12)."""
    maximum = spec["max_horizon"]
    properties: dict[str, Any] = {
        HORIZON: {
            "type": "integer",
            "minimum": 1,
            "maximum": maximum,
            "description": "How many steps to forecast.",
        }
    }
    required = [HORIZON]
    if is_lag_model(spec):
        needed = history_length(spec)
        properties[HISTORY] = {
            "type": "array",
            "items": {"type": "number"},
            "minItems": needed,
            "maxItems": MAX_HISTORY,
            "description": f"The series' recent values, oldest first; the last {needed} are used.",
        }
        required.append(HISTORY)
        if "frequency" in spec:
            properties[HISTORY_END] = {
                "type": "string",
                "description": "ISO 8601 date of the last history value: the steps get dates.",
            }
            if spec.get("calendar"):
                required.append(HISTORY_END)
    for feature in regressors(spec):
        item = {k: feature[k] for k in ("type", "minimum", "maximum", "enum") if k in feature}
        properties[feature["name"]] = {
            "type": "array",
            "items": item,
            "minItems": 1,
            "maxItems": maximum,
            "description": feature.get("description", "One value per step (as many as horizon)."),
        }
        required.append(feature["name"])
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": ignore_extra,
    }


# --- A CSV line -------------------------------------------------------------------------------


def csv_columns(spec: dict) -> tuple[list[str], list[str]]:
    """(required, optional) CSV columns of a forecast batch: a line is one request; history and
    each regressor hold their values separated by spaces."""
    required = [HORIZON]
    optional = []
    if is_lag_model(spec):
        required.append(HISTORY)
        (required if spec.get("calendar") else optional).append(HISTORY_END)
    required += [feature["name"] for feature in regressors(spec)]
    return required, optional


def request_from_csv(fields: dict[str, str], spec: dict) -> dict:
    """One CSV line (column -> text) as a request; text that does not convert is kept as it
    is, so that request validation names the field."""
    request: dict[str, Any] = {}
    for name, text in fields.items():
        text = text.strip()
        if name == HORIZON:
            request[name] = features.from_text(text, {"type": features.INTEGER})
        elif name == HISTORY:
            request[name] = [features.from_text(v, {"type": features.NUMBER}) for v in text.split()]
        elif name == HISTORY_END:
            if text:
                request[name] = text
        else:
            feature = next((f for f in regressors(spec) if f["name"] == name), None)
            if feature is None:
                continue
            request[name] = [features.from_text(v, feature) for v in text.split()]
    return request
