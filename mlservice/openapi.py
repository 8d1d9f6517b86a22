"""The OpenAPI contract as generated clients need it.

drf-spectacular describes the views; `AutoSchema` and the postprocessing hook below add what it
cannot see: one tag per resource, operation ids that read as methods, the common error shape on
every status an operation can answer, typed JSON payloads where the views hand out plain JSON,
and one name for the model path parameter. Core: it names paths and components, never imports
an app.
"""

import re

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import get_doc
from rest_framework import viewsets

API_V1 = "/api/v1/"


class AutoSchema(SpectacularAutoSchema):
    def get_description(self):
        """An action's own docstring, or an APIView's; a viewset's class docstring describes the
        resource, not each operation, so it is not repeated on every one."""
        method = getattr(self.view, getattr(self.view, "action", self.method.lower()), None)
        action_doc = get_doc(method)
        if action_doc or isinstance(self.view, viewsets.ViewSetMixin):
            return action_doc
        return get_doc(self.view.__class__)

    def get_tags(self):
        return [resource_of(self.path)]


def resource_of(path: str) -> str:
    """The tag of a path: the first segment after /api/v1/ (auth, users, models, ...), or of
    the path itself outside it."""
    rest = path[len(API_V1) :] if path.startswith(API_V1) else path.lstrip("/")
    return rest.split("/", 1)[0] or "ops"


# drf-spectacular's id (without the `v1_` prefix) -> (operation id, summary).
OPERATIONS = {
    "auth_token_create": ("auth_login", "Log in: a username and password for a token pair"),
    "auth_token_refresh_create": ("auth_refresh", "Trade a refresh token for a new pair"),
    "auth_logout_create": ("auth_logout", "End one refresh token"),
    "auth_logout_all_create": ("auth_logout_all", "End every refresh token of yours"),
    "users_list": ("users_list", "List users (staff)"),
    "users_create": ("users_register", "Register a new account"),
    "users_me_retrieve": ("users_me", "Your profile"),
    "users_me_partial_update": ("users_me_update", "Edit your profile"),
    "users_me_password_create": ("users_me_password_change", "Change your password"),
    "models_list": ("models_list", "List models"),
    "models_create": ("models_create", "Create a model (staff)"),
    "models_retrieve": ("models_retrieve", "Read a model"),
    "models_partial_update": ("models_update", "Edit a model (staff)"),
    "models_destroy": ("models_archive", "Archive a model (staff)"),
    "models_schema_retrieve": ("models_schema", "The input a version expects"),
    "models_versions_list": ("models_versions_list", "List a model's versions"),
    "models_versions_create": ("models_versions_upload", "Upload a version (staff)"),
    "models_versions_retrieve": ("models_versions_retrieve", "Read a version"),
    "models_aliases_list": ("models_aliases_list", "List a model's aliases"),
    "models_aliases_update": ("models_aliases_move", "Point an alias at a version (staff)"),
    "models_aliases_rollback_create": ("models_aliases_rollback", "Roll an alias back (staff)"),
    "models_aliases_history_list": ("models_aliases_history", "An alias's moves"),
    "models_aliases_shadows_create": ("models_aliases_shadow_add", "Add a shadow version (staff)"),
    "models_aliases_shadows_destroy": (
        "models_aliases_shadow_remove",
        "Remove a shadow version (staff)",
    ),
    "models_aliases_split_update": ("models_aliases_split_set", "Split an alias's traffic (staff)"),
    "models_aliases_split_destroy": ("models_aliases_split_end", "End a split (staff)"),
    "models_aliases_promote_create": ("models_aliases_promote", "Promote a candidate (staff)"),
    "models_compare_retrieve": ("models_compare", "Compare a candidate version (staff)"),
    "predictions_list": ("predictions_list", "Your prediction history"),
    "predictions_create": ("predictions_create", "Submit a prediction (JSON rows or a CSV)"),
    "predictions_retrieve": ("predictions_retrieve", "Read a prediction, optionally waiting"),
    "predictions_cancel_create": ("predictions_cancel", "Cancel an unfinished prediction"),
    "predictions_retry_create": ("predictions_retry", "Retry a failed prediction"),
    "predictions_result_retrieve": ("predictions_result", "Download a batch's results"),
    "predictions_feedback_retrieve": ("predictions_feedback_list", "Feedback on a prediction"),
    "predictions_feedback_create": ("predictions_feedback_create", "Give a prediction's truth"),
    "predictions_feedback_update": ("predictions_feedback_correct", "Correct a truth (staff)"),
    "predictions_feedback_import": ("predictions_feedback_import", "Truths from a CSV"),
    "models_quality_retrieve": ("models_quality", "Live quality per version (staff)"),
    "models_drift_retrieve": ("models_drift", "Input drift against the reference (staff)"),
    "models_versions_reference_retrieve": ("models_versions_reference", "Reference histograms"),
    "models_versions_reference_create": ("models_versions_reference_upload", "Upload a reference"),
    "billing_balance_retrieve": ("billing_balance", "Your credits"),
    "billing_transactions_list": ("billing_transactions_list", "Your ledger"),
    "billing_topup_create": ("billing_topup", "Add credits to your account"),
    "billing_adjustments_create": ("billing_adjustments_create", "Adjust a user's credits (staff)"),
}

# Statuses beyond the generic ones (see `_error_statuses`), by operation id.
EXTRA_ERRORS = {
    "auth_login": (401, 429),
    "auth_refresh": (401,),
    "users_register": (409, 429),
    "users_list": (403,),
    "models_create": (403, 409),
    "models_update": (403,),
    "models_archive": (403,),
    "models_versions_upload": (403, 409),
    "models_aliases_move": (403, 409),
    "models_aliases_rollback": (403, 409),
    "models_aliases_shadow_add": (403, 409),
    "models_aliases_shadow_remove": (403, 409),
    "models_aliases_split_set": (403, 409),
    "models_aliases_split_end": (403, 409),
    "models_aliases_promote": (403, 409),
    "models_compare": (403,),
    "predictions_create": (402, 409, 429),
    "predictions_retry": (402, 409, 429),
    "predictions_cancel": (409,),
    "predictions_result": (409,),
    "predictions_feedback_create": (409,),
    "predictions_feedback_correct": (403,),
    "predictions_feedback_import": (409,),
    "models_quality": (403,),
    "models_drift": (403,),
    "models_versions_reference": (403,),
    "models_versions_reference_upload": (403,),
    "billing_topup": (403,),
    "billing_adjustments_create": (403, 409),
}

ERROR_DESCRIPTIONS = {
    400: "Invalid input; `fields` names each wrong field.",
    401: "Missing, expired or invalid credentials.",
    402: "Not enough credits; `balance` and `price` say by how much.",
    403: "Not allowed for this account.",
    404: "No such resource, or not yours.",
    409: "Conflicts with the current state (a duplicate, an Idempotency-Key reused with another "
    "body, a prediction not in a state for this).",
    413: "The request body is too large.",
    415: "A body in a content type the operation does not accept.",
    429: "Too many requests; retry after `retry_after` seconds (also the Retry-After header).",
}

REF = "#/components/schemas/"


def _ref(name: str) -> dict:
    return {"$ref": REF + name}


def _nullable(name: str) -> dict:
    return {"oneOf": [_ref(name)], "nullable": True}


def _object(required: list[str], properties: dict, **extra) -> dict:
    return {"type": "object", "required": required, "properties": properties, **extra}


FEATURE_VALUE = {
    "oneOf": [{"type": "number"}, {"type": "string"}, {"type": "boolean"}],
    "nullable": True,
}
# A feature's bounds, allowed values and description: the same in its JSON Schema property.
FEATURE_RULES = {
    "minimum": {"type": "number"},
    "maximum": {"type": "number"},
    "enum": {"type": "array", "items": FEATURE_VALUE},
    "description": {"type": "string"},
}

COMPONENTS = {
    "ErrorDetail": _object(
        ["code", "message"],
        {
            "code": {"type": "string", "description": "Stable, machine-readable."},
            "message": {"type": "string", "description": "For people."},
            "fields": {
                "type": "object",
                "additionalProperties": {},
                "description": "Field -> messages (nested for rows: `inputs[i].feature`).",
            },
            "retry_after": {"type": "integer", "description": "429: seconds to wait."},
            "limit": {"type": "string", "description": "429: which usage limit was reached."},
            "limit_value": {"type": "integer", "description": "429: that limit's value."},
            "balance": {"type": "string", "format": "decimal", "description": "402: credits."},
            "price": {"type": "string", "format": "decimal", "description": "402: the cost."},
            "price_per_row": {"type": "string", "format": "decimal"},
            "rows": {"type": "integer", "description": "402: rows priced."},
        },
    ),
    "Error": _object(
        ["error"], {"error": _ref("ErrorDetail")}, description="The one error shape of the API."
    ),
    "FeatureRow": {
        "type": "object",
        "additionalProperties": FEATURE_VALUE,
        "description": "One input row: feature name -> value.",
    },
    "ClassificationOutput": _object(
        ["label", "probabilities"],
        {
            "label": {"type": "string"},
            "probabilities": {
                "type": "object",
                "additionalProperties": {"type": "number"},
                "description": "Label -> probability.",
            },
        },
    ),
    "RegressionOutput": _object(["value"], {"value": {"type": "number"}}),
    "ForecastStep": _object(
        ["step", "value"],
        {
            "step": {"type": "integer", "description": "1 for the first step after the history."},
            "timestamp": {
                "type": "string",
                "format": "date",
                "description": "The step's date, when the model's series has a frequency.",
            },
            "value": {"type": "number"},
            "lower": {"type": "number", "description": "Lower bound, where the model gives one."},
            "upper": {"type": "number", "description": "Upper bound, where the model gives one."},
        },
    ),
    "ForecastOutput": _object(
        ["forecast"],
        {
            "forecast": {
                "type": "array",
                "items": _ref("ForecastStep"),
                "description": "One item per step of the requested horizon, in order.",
            }
        },
    ),
    "ForecastRequest": _object(
        ["horizon"],
        {
            "horizon": {"type": "integer", "minimum": 1},
            "history": {"type": "array", "items": {"type": "number"}},
            "history_end": {"type": "string", "format": "date"},
        },
        description="One forecast request (a forecast model's row): the horizon; for a lag "
        "model the recent `history` (oldest first) and `history_end` (its last date); and one "
        "value per step for each regressor the model takes, under the regressor's name.",
        # A regressor's values (an array); the union also admits the named properties' types,
        # which TypeScript requires of an index signature.
        additionalProperties={
            "oneOf": [
                {"type": "array", "items": FEATURE_VALUE},
                {"type": "number"},
                {"type": "string"},
            ]
        },
    ),
    "ForecastSpec": _object(
        ["max_horizon"],
        {
            "max_horizon": {"type": "integer", "minimum": 1},
            "frequency": {"type": "string"},
            "lags": {"type": "array", "items": {"type": "integer", "minimum": 1}},
            "calendar": {"type": "array", "items": {"type": "string"}},
            "regressors": {"type": "array", "items": _ref("Feature")},
        },
        description="What a forecast model takes: the longest horizon, the series' step "
        "(a pandas offset alias), a lag model's lags and calendar parts, and its regressors.",
    ),
    "RowInput": {
        "oneOf": [_ref("FeatureRow"), _ref("ForecastRequest")],
        "description": "A classifier's or regressor's feature row, or a forecast request.",
    },
    "RowOutput": {
        "oneOf": [_ref("ClassificationOutput"), _ref("RegressionOutput"), _ref("ForecastOutput")],
        "description": "A classifier's label and probabilities, a regressor's value, or a "
        "forecast's steps.",
    },
    "PredictionError": _object(
        ["code", "message"], {"code": {"type": "string"}, "message": {"type": "string"}}
    ),
    "FeatureJsonSchema": _object(
        ["type", "properties", "required"],
        {
            "type": {"type": "string", "enum": ["object"]},
            "properties": {
                "type": "object",
                "additionalProperties": _ref("FeatureJsonSchemaProperty"),
            },
            "required": {"type": "array", "items": {"type": "string"}},
        },
        # `additionalProperties` (a boolean) and `$schema` are left undeclared: generators map
        # a property of that name onto their own catch-all attribute and break.
        description="The input row as JSON Schema (draft 2020-12); its boolean "
        "`additionalProperties` says whether extra features are ignored.",
    ),
    "FeatureJsonSchemaProperty": _object(["type"], {"type": {"type": "string"}, **FEATURE_RULES}),
    "Feature": _object(
        ["name", "type"],
        {
            "name": {"type": "string"},
            "type": {"type": "string", "enum": ["number", "integer", "boolean"]},
            **FEATURE_RULES,
        },
        description="One input feature of a version, in the order rows are read.",
    ),
    "TwinReport": {
        "type": "object",
        "description": "Whether an ONNX twin serves the version, and why; empty when none was "
        "tried.",
        "properties": {
            "kept": {"type": "boolean"},
            "summary": {"type": "string"},
            "reason": {"type": "string"},
            "rows_compared": {"type": "integer"},
            "label_mismatches": {"type": "integer"},
            "max_probability_diff": {"type": "number"},
            "max_relative_diff": {"type": "number"},
        },
    },
    "TokenPair": _object(
        ["access", "refresh"],
        {
            "access": {"type": "string", "description": "Send as `Authorization: Bearer ...`."},
            "refresh": {"type": "string", "description": "For auth_refresh; works once."},
        },
    ),
    "BatchResult": _object(
        ["id", "model", "version", "row_count", "outputs"],
        {
            "id": {"type": "string", "format": "uuid"},
            "model": {"type": "string"},
            "version": {"type": "integer"},
            "row_count": {"type": "integer"},
            "outputs": {"type": "array", "items": _ref("RowOutput")},
        },
    ),
}

PREDICTION_OUTPUT = {
    "oneOf": [
        _ref("ClassificationOutput"),
        _ref("RegressionOutput"),
        _ref("ForecastOutput"),
        {"type": "array", "items": _ref("RowOutput")},
    ],
    "nullable": True,
    "readOnly": True,
    "description": "A single row's output; a batch's outputs in order when it is small enough "
    "to show inline (else null: download them from `result_url`); null until it succeeds.",
}

METRICS = {
    "type": "object",
    "additionalProperties": {},
    "readOnly": True,
    "description": "Evaluation figures as uploaded.",
}

TRUTH = {
    "oneOf": [
        {"type": "string", "description": "A classifier's label."},
        {"type": "number", "description": "A regressor's value."},
        {"type": "array", "items": {"type": "number"}, "description": "A forecast's values."},
    ],
    "description": "The true outcome: one of the labels (classifier), a number (regressor), or "
    "one number per forecast step (forecaster).",
}

# (component, property) -> schema, for properties the views fill with plain JSON.
TYPED_PROPERTIES = {
    ("FeedbackInputRequest", "truth"): TRUTH,
    ("Disagreement", "input"): {"allOf": [_ref("RowInput")], "readOnly": True},
    ("Disagreement", "output"): {
        "allOf": [_ref("RowOutput")],
        "readOnly": True,
        "description": "The primary's answer, the one the user got.",
    },
    ("Disagreement", "shadow_output"): {
        "allOf": [_ref("RowOutput")],
        "readOnly": True,
        "description": "What the candidate would have answered.",
    },
    ("Feedback", "truth"): {**TRUTH, "readOnly": True},
    ("Prediction", "input"): {**_nullable("RowInput"), "readOnly": True},
    ("Prediction", "inputs"): {
        "type": "array",
        "items": _ref("RowInput"),
        "nullable": True,
        "readOnly": True,
        "description": "A small batch's rows, in order; null for single rows and large batches.",
    },
    ("Prediction", "output"): PREDICTION_OUTPUT,
    ("Prediction", "error"): {**_nullable("PredictionError"), "readOnly": True},
    ("PredictionList", "input"): {**_nullable("RowInput"), "readOnly": True},
    ("PredictionList", "output"): PREDICTION_OUTPUT,
    ("PredictionList", "error"): {**_nullable("PredictionError"), "readOnly": True},
    ("PredictionCreateRequest", "input"): {
        "allOf": [_ref("RowInput")],
        "description": "One row (for a forecast model, one forecast request).",
    },
    ("PredictionCreateRequest", "inputs"): {
        "type": "array",
        "items": _ref("RowInput"),
        "description": "Many rows, in order.",
    },
    ("InputSchema", "json_schema"): _ref("FeatureJsonSchema"),
    ("Version", "input_schema"): {
        "oneOf": [{"type": "array", "items": _ref("Feature")}, _ref("ForecastSpec")],
        "readOnly": True,
        "description": "Ordered features (name, type, bounds/enum); a forecast model's spec.",
    },
    ("Version", "input_example"): {"allOf": [_ref("RowInput")], "readOnly": True},
    ("Version", "labels"): {
        "type": "array",
        "items": {"type": "string"},
        "nullable": True,
        "readOnly": True,
        "description": "A classifier's class labels in output order.",
    },
    ("Version", "twin_report"): {"allOf": [_ref("TwinReport")], "readOnly": True},
    ("Version", "metrics"): METRICS,
    ("VersionSummary", "metrics"): METRICS,
    ("InputSchema", "example"): _ref("RowInput"),
}

_JSON_TEXT = "JSON text (a multipart field is a string): "
UPLOAD_JSON_FIELDS = {
    "input_schema": 'a list of features, e.g. `[{"name": "x", "type": "number", "minimum": 0}]` '
    '(a forecast model: its spec, e.g. `{"max_horizon": 30, "frequency": "D"}`).',
    "input_example": 'one valid row, e.g. `{"x": 1.5}` (a forecast model: `{"horizon": 7}`).',
    "labels": 'a classifier\'s class labels in output order, e.g. `["a", "b"]`.',
    "metrics": 'an object of evaluation figures, e.g. `{"accuracy": 0.97}`.',
}

MODEL_PARAM = "model_name"
# A canonical UUID, as the views' lookup_value_regex spells it: described as `format: uuid`.
UUID_PATTERN = "^[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$"

# Bodies drf-spectacular cannot see (streamed by hand, or from simplejwt), by operation id.
STREAMED = {
    "auth_login": {
        "200": {
            "description": "A token pair.",
            "content": {"application/json": {"schema": _ref("TokenPair")}},
        }
    },
    "predictions_result": {
        "200": {
            "description": "`?format=json` (default): the batch's outputs in row order. "
            "`?format=csv`: the input columns then the output columns (`value`, or `label` and "
            "`probability_<label>` per class), one line per row.",
            "content": {
                "application/json": {"schema": _ref("BatchResult")},
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    },
}


def postprocess(result, generator, request, public):
    """SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]: the contract's finishing touches."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for component in schemas.values():
        # A serializer's docstring: its first paragraph is for clients, the rest for us.
        if "description" in component:
            component["description"] = component["description"].split("\n\n", 1)[0]
    schemas.update(COMPONENTS)
    _type_payloads(schemas)
    paths = {}
    for path, operations in result.get("paths", {}).items():
        path = _one_model_param(path, operations)
        for method, operation in operations.items():
            if isinstance(operation, dict) and "responses" in operation:
                _finish_operation(path, method, operation)
        paths[path] = operations
    result["paths"] = paths
    used = {tag for ops in paths.values() for op in ops.values() for tag in op.get("tags", [])}
    result["tags"] = [{"name": tag, "description": text} for tag, text in TAGS.items()] + [
        {"name": tag} for tag in sorted(used - TAGS.keys())
    ]
    return result


TAGS = {
    "auth": "Tokens: log in, refresh, log out.",
    "users": "Registration and your profile.",
    "models": "The model registry: models, versions, aliases, input schemas.",
    "predictions": "Submit predictions, read them, history, results.",
    "billing": "Credits and the ledger.",
    "ops": "Health and operations.",
}


def _type_payloads(schemas: dict) -> None:
    for (component, prop), schema in TYPED_PROPERTIES.items():
        if component in schemas and prop in schemas[component].get("properties", {}):
            schemas[component]["properties"][prop] = schema
    upload = schemas.get("VersionUploadRequest", {}).get("properties", {})
    for name, text in UPLOAD_JSON_FIELDS.items():
        if name in upload:
            upload[name] = {"type": "string", "description": _JSON_TEXT + text}


def _one_model_param(path: str, operations: dict) -> str:
    """`/models/{name}/...` -> `/models/{model_name}/...`: the same parameter under one name."""
    if not path.startswith(API_V1 + "models/{name}/"):
        return path
    for operation in operations.values():
        for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
            if parameter.get("in") == "path" and parameter.get("name") == "name":
                parameter["name"] = MODEL_PARAM
    return path.replace("{name}", "{" + MODEL_PARAM + "}", 1)


def _finish_operation(path: str, method: str, operation: dict) -> None:
    old = re.sub(r"^(api_)?v1_", "", operation.get("operationId", ""))
    operation_id, summary = OPERATIONS.get(old, (old, None))
    operation["operationId"] = operation_id
    if summary:
        operation["summary"] = summary
    for parameter in operation.get("parameters", []):
        if parameter.get("schema", {}).get("pattern") == UUID_PATTERN:
            parameter["schema"] = {"type": "string", "format": "uuid"}
    if {} in operation.get("security", []):
        operation["security"] = []  # open to anyone: credentials are neither needed nor used
    responses = operation["responses"]
    responses.update(STREAMED.get(operation_id, {}))
    for code in _error_statuses(path, method, operation):
        responses.setdefault(
            str(code),
            {
                "description": ERROR_DESCRIPTIONS[code],
                "content": {"application/json": {"schema": _ref("Error")}},
            },
        )


def _error_statuses(path: str, method: str, operation: dict) -> list[int]:
    codes = set(EXTRA_ERRORS.get(operation["operationId"], ()))
    has_query = any(p.get("in") == "query" for p in operation.get("parameters", []))
    if "requestBody" in operation or has_query:
        codes.add(400)
    if "requestBody" in operation:
        codes.update((413, 415))
    security = operation.get("security")
    if security and {} not in security:
        codes.add(401)
    if "{" in path:
        codes.add(404)
    return sorted(codes)
