"""The rules of one input feature, written once: its declaration (name, type, bounds, enum), how a
value of each type is checked and converted, how a column of values is checked with numpy, read
from CSV text and turned back into typed values. Schemas, row and column validation, CSV reading
and column typing all call this module. No Django here.

A feature is a dict: `{"name", "type": number | integer | boolean, "minimum"?, "maximum"?,
"enum"?, "description"?}`. Bounds and enums apply to numeric types only.
"""

import math
import numbers
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

NUMBER, INTEGER, BOOLEAN = "number", "integer", "boolean"
FEATURE_TYPES = (NUMBER, INTEGER, BOOLEAN)
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,99}$")
KEYS = frozenset({"name", "type", "minimum", "maximum", "enum", "description"})
BOUNDS = ("minimum", "maximum")
TRUE, FALSE = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no"})

# What is wrong with a value, as (what an API client reads, what a failed prediction says).
# Both are formatted with the feature (`name`, bounds, `enum`); the second also with the `value`.
MESSAGES = {
    "missing": ("This feature is required.", "feature '{name}' is missing"),
    "not_boolean": (
        "Must be true or false.",
        "feature '{name}' must be true or false, got {value!r}",
    ),
    "not_number": ("Must be a number.", "feature '{name}' must be a number, got {value!r}"),
    "not_integer": ("Must be a whole number.", "feature '{name}' must be a number, got {value!r}"),
    "too_large": (
        "Must be a number within the range of a 64-bit float.",
        "feature '{name}' must be finite, got {value!r}",
    ),
    "not_finite": (
        "Must be a finite number (not NaN or Infinity).",
        "feature '{name}' must be finite, got {value!r}",
    ),
    "not_whole": ("Must be a whole number.", "feature '{name}' must be an integer, got {value!r}"),
    "below": ("Must be at least {minimum}.", "feature '{name}' must be >= {minimum}"),
    "above": ("Must be at most {maximum}.", "feature '{name}' must be <= {maximum}"),
    "not_in_enum": ("Must be one of {enum}.", "feature '{name}' must be one of {enum}"),
}
UNKNOWN_FEATURE = "Unknown feature; this model does not take it."
NOT_AN_OBJECT = (
    "Each input row must be an object of feature: value.",
    "expected an object of feature values",
)


def is_number(value: Any) -> bool:
    """A JSON number: an int or float, not a bool (which Python counts as an int)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def kind_of(feature: dict) -> str:
    return feature.get("type", NUMBER)


def is_float(feature: dict) -> bool:
    """Whether the feature's values are floats (not whole numbers or booleans)."""
    return kind_of(feature) == NUMBER


# --- Declaration ------------------------------------------------------------------------------


def declaration_problems(feature: dict, index: int, seen: set[str]) -> list[str]:
    """What is wrong with the declaration of the schema's feature `index`; [] when it is fine.
    `seen` holds the names declared before it, and gets this one's."""
    where = f"feature {index}"
    if not isinstance(feature, dict):
        return [f"{where} must be an object with name and type."]
    problems = []
    unknown = set(feature) - KEYS
    if unknown:
        problems.append(f"{where} has unknown keys: {', '.join(sorted(unknown))}.")
    name = feature.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        problems.append(f"{where} needs a name of letters, digits, '_', '.', '-'.")
    elif name in seen:
        problems.append(f"feature {name!r} is declared twice.")
    else:
        seen.add(name)
        where = f"feature {name!r}"
    return problems + _value_rule_problems(feature, where)


def _value_rule_problems(feature: dict, where: str) -> list[str]:
    problems = []
    if feature.get("type") not in FEATURE_TYPES:
        problems.append(f"{where} type must be one of {', '.join(FEATURE_TYPES)}.")
    for bound in BOUNDS:
        if bound in feature and not (is_number(feature[bound]) and math.isfinite(feature[bound])):
            problems.append(f"{where} {bound} must be a finite number.")
    if (
        is_number(feature.get("minimum"))
        and is_number(feature.get("maximum"))
        and feature["minimum"] > feature["maximum"]
    ):
        problems.append(f"{where} minimum is greater than its maximum.")
    if "enum" in feature and not (
        isinstance(feature["enum"], list)
        and feature["enum"]
        and all(is_number(v) or isinstance(v, bool) for v in feature["enum"])
    ):
        problems.append(f"{where} enum must be a non-empty list of numbers.")
    return problems


# --- One value --------------------------------------------------------------------------------


def value_problem(value: Any, feature: dict, lenient: bool = False) -> str | None:
    """The code (a key of MESSAGES) of what is wrong with `value` for `feature`; None if fine.

    Strict for JSON from API clients: numbers are ints and floats, booleans true and false.
    `lenient` is for rows built in Python (what a predictor is given): any real number (numpy's
    too), and 0 or 1 for a boolean. This runs for every value of a row-by-row check, so it is
    one function, with the types' branches inline.
    """
    kind = feature.get("type", NUMBER)
    if kind == BOOLEAN:
        if isinstance(value, bool) or (lenient and isinstance(value, int) and value in (0, 1)):
            return None
        return "not_boolean"
    if isinstance(value, _BOOLS) or not isinstance(value, _REALS if lenient else _JSON_NUMBERS):
        return "not_integer" if kind == INTEGER else "not_number"
    try:
        if not math.isfinite(value):
            return "not_finite"
    except OverflowError:  # an int beyond what a float (and so the model) can hold
        return "too_large"
    if kind == INTEGER and not float(value).is_integer():
        return "not_whole"
    if (bound := feature.get("minimum")) is not None and value < bound:
        return "below"
    if (bound := feature.get("maximum")) is not None and value > bound:
        return "above"
    if (allowed := feature.get("enum")) is not None and value not in allowed:
        return "not_in_enum"
    return None


_BOOLS = (bool, np.bool_)  # Python counts True as an int; neither is a number here
_JSON_NUMBERS = (int, float)
_REALS = numbers.Real


def client_message(problem: str, feature: dict) -> str:
    """The message an API client reads for `problem` in a row's `feature`."""
    return MESSAGES[problem][0].format(**feature)


def model_message(problem: str, feature: dict, value: Any = None) -> str:
    """The message of the ValueError a predictor raises for `problem` (without the row)."""
    return MESSAGES[problem][1].format(value=value, **feature)


def to_float(row: Mapping[str, Any], feature: dict, index: int) -> float:
    """The feature's value in `row` as the float a model receives; ValueError naming the row and
    the feature if it is missing or does not fit (checked leniently, as rows built in Python)."""
    name = feature["name"]
    if name not in row:
        raise ValueError(f"row {index}: {model_message('missing', feature)}")
    value = row[name]
    problem = value_problem(value, feature, True)
    if problem is not None:
        raise ValueError(f"row {index}: {model_message(problem, feature, value)}")
    return float(value)


def from_text(text: str, feature: dict) -> Any:
    """A CSV field as the feature's type (surrounding spaces ignored); text that does not
    convert is returned as is, so that row validation reports it with its field and row."""
    text = text.strip()
    kind = feature.get("type", NUMBER)
    if kind == BOOLEAN:
        lowered = text.lower()
        return True if lowered in TRUE else False if lowered in FALSE else text
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if kind == INTEGER and number.is_integer() else number


def column_from_text(texts: Sequence[str], feature: dict) -> np.ndarray | None:
    """A column of CSV fields as floats (booleans 1 and 0), converted as `from_text` converts
    one field but at C speed; None when a field does not convert or a value does not fit the
    feature (type, bounds, enum), which `from_text` and `value_problem` then name."""
    if feature.get("type", NUMBER) == BOOLEAN:
        words = np.strings.lower(np.strings.strip(np.array(texts, dtype=str)))
        true = np.isin(words, list(TRUE))
        return true.astype(np.float64) if (true | np.isin(words, list(FALSE))).all() else None
    try:
        column = np.fromiter(map(float, texts), dtype=np.float64, count=len(texts))
    except ValueError:
        return None
    return column if np.isfinite(column).all() and column_within(column, feature) else None


def nearest(number: float, feature: dict) -> Any:
    """The value of the feature's (numeric) type closest to `number`."""
    return round(number) if kind_of(feature) == INTEGER else number


# --- A column ---------------------------------------------------------------------------------


def column_within(column: np.ndarray, feature: dict) -> bool:
    """Whether every (finite) value of `column` fits the feature's type, bounds and enum,
    checked with numpy. Always False for a boolean: a matrix cannot tell 1 from true, so those
    values are checked one by one."""
    kind = feature.get("type", NUMBER)
    if kind == BOOLEAN or (kind == INTEGER and not (column == np.round(column)).all()):
        return False
    if feature.get("minimum") is not None and (column < feature["minimum"]).any():
        return False
    if feature.get("maximum") is not None and (column > feature["maximum"]).any():
        return False
    return feature.get("enum") is None or bool(np.isin(column, feature["enum"]).all())


def typed_column(column: np.ndarray, feature: dict) -> list:
    """A stored float column as the Python values of the feature's type."""
    kind = kind_of(feature)
    if kind == INTEGER:
        return column.astype(np.int64).tolist()
    if kind == BOOLEAN:
        return (column != 0).tolist()
    return column.tolist()
