"""Input schemas: checking a version's declared schema, publishing it as JSON Schema, and
validating input rows against it (at submit, before anything reaches a worker)."""

import math
import re
from typing import Any

FEATURE_TYPES = ("number", "integer", "boolean")
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,99}$")
MAX_FEATURES = 10_000


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_input_schema(schema: Any) -> list[str]:
    """Problems with a declared input schema (a list of feature dicts); [] when it is fine."""
    if not isinstance(schema, list) or not schema:
        return ["input_schema must be a non-empty list of features."]
    if len(schema) > MAX_FEATURES:
        return [f"input_schema has more than {MAX_FEATURES} features."]
    problems, seen = [], set()
    for i, feature in enumerate(schema):
        where = f"feature {i}"
        if not isinstance(feature, dict):
            problems.append(f"{where} must be an object with name and type.")
            continue
        unknown = set(feature) - {"name", "type", "minimum", "maximum", "enum", "description"}
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
        if feature.get("type") not in FEATURE_TYPES:
            problems.append(f"{where} type must be one of {', '.join(FEATURE_TYPES)}.")
        for bound in ("minimum", "maximum"):
            if bound in feature and not (
                _is_number(feature[bound]) and math.isfinite(feature[bound])
            ):
                problems.append(f"{where} {bound} must be a finite number.")
        if (
            _is_number(feature.get("minimum"))
            and _is_number(feature.get("maximum"))
            and feature["minimum"] > feature["maximum"]
        ):
            problems.append(f"{where} minimum is greater than its maximum.")
        if "enum" in feature and not (
            isinstance(feature["enum"], list)
            and feature["enum"]
            and all(_is_number(v) or isinstance(v, bool) for v in feature["enum"])
        ):
            problems.append(f"{where} enum must be a non-empty list of numbers.")
    return problems


def to_json_schema(schema: list[dict], *, ignore_extra: bool = False) -> dict:
    """The input row as JSON Schema (draft 2020-12), for a frontend to build a form from."""
    properties = {}
    for feature in schema:
        prop: dict[str, Any] = {"type": feature["type"]}
        for key in ("minimum", "maximum", "enum", "description"):
            if key in feature:
                prop[key] = feature[key]
        properties[feature["name"]] = prop
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": properties,
        "required": [feature["name"] for feature in schema],
        "additionalProperties": ignore_extra,
    }


def row_errors(row: Any, schema: list[dict], *, ignore_extra: bool = False) -> dict[str, str]:
    """Field -> message for everything wrong with one input row; {} when valid."""
    if not isinstance(row, dict):
        return {"non_field_errors": "Each input row must be an object of feature: value."}
    errors: dict[str, str] = {}
    for feature in schema:
        name = feature["name"]
        if name not in row:
            errors[name] = "This feature is required."
            continue
        message = _value_error(row[name], feature)
        if message:
            errors[name] = message
    if not ignore_extra:
        known = {feature["name"] for feature in schema}
        for name in row:
            if name not in known:
                errors[str(name)[:100]] = "Unknown feature; this model does not take it."
    return errors


def _value_error(value: Any, feature: dict) -> str | None:
    kind = feature["type"]
    if kind == "boolean":
        return None if isinstance(value, bool) else "Must be true or false."
    if not _is_number(value):
        return f"Must be a {'whole number' if kind == 'integer' else 'number'}."
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an int beyond what a float (and so the model) can hold
        return "Must be a number within the range of a 64-bit float."
    if not finite:
        return "Must be a finite number (not NaN or Infinity)."
    if kind == "integer" and not float(value).is_integer():
        return "Must be a whole number."
    if "minimum" in feature and value < feature["minimum"]:
        return f"Must be at least {feature['minimum']}."
    if "maximum" in feature and value > feature["maximum"]:
        return f"Must be at most {feature['maximum']}."
    if "enum" in feature and value not in feature["enum"]:
        return f"Must be one of {feature['enum']}."
    return None


def project_row(row: dict, schema: list[dict]) -> dict:
    """Only the declared features, in schema order (drops ignored extras)."""
    return {feature["name"]: row[feature["name"]] for feature in schema}
