"""The served contract itself, as a client generator reads it."""

import re

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

MULTIPART = {
    "predictions_create",
    "models_versions_upload",
    "predictions_feedback_import",
    "models_versions_reference_upload",
}
RESOURCES = {"auth", "users", "models", "predictions", "billing", "ops"}


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    with django_db_blocker.unblock():
        response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_json_bodies_only_except_where_a_file_is_uploaded(schema):
    for _path, _method, operation in operations(schema):
        content = set(operation.get("requestBody", {}).get("content", {}))
        if operation["operationId"] in MULTIPART:
            assert "multipart/form-data" in content
            assert "application/x-www-form-urlencoded" not in content
        else:
            assert content <= {"application/json"}, operation["operationId"]


def test_every_error_status_has_the_one_error_shape(schema):
    seen = set()
    for _path, _method, operation in operations(schema):
        for status, response in operation["responses"].items():
            if status.startswith("4"):
                seen.add(status)
                body = response["content"]["application/json"]["schema"]
                assert body == {"$ref": "#/components/schemas/Error"}, operation["operationId"]
    assert {"400", "401", "402", "403", "404", "409", "413", "429"} <= seen
    detail = schema["components"]["schemas"]["ErrorDetail"]["properties"]
    assert detail["retry_after"]["type"] == "integer"
    assert detail["balance"]["format"] == detail["price"]["format"] == "decimal"


def test_submit_answers_402_and_429_and_explains_200_against_202(schema):
    submit = schema["paths"]["/api/v1/predictions/"]["post"]
    assert {"200", "202", "400", "402", "409", "429"} <= set(submit["responses"])
    assert "Idempotency-Key" in submit["responses"]["200"]["description"]


def test_operation_ids_read_as_methods_and_tags_name_resources(schema):
    ids = [operation["operationId"] for _p, _m, operation in operations(schema)]
    assert len(ids) == len(set(ids))
    assert {"predictions_create", "models_versions_upload", "auth_login"} <= set(ids)
    for path, _method, operation in operations(schema):
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", operation["operationId"])
        assert not operation["operationId"].startswith("v1_")
        if path.startswith("/api/v1/"):
            assert operation["tags"][0] in RESOURCES | {path.split("/")[3]}


def test_the_model_path_parameter_has_one_name_and_ids_are_uuids(schema):
    for path, _method, operation in operations(schema):
        if path.startswith("/api/v1/models/{"):
            assert path.startswith("/api/v1/models/{model_name}/"), path
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path" and parameter["name"] == "id":
                assert parameter["schema"]["format"] == "uuid"


def test_prediction_payloads_are_typed(schema):
    prediction = schema["components"]["schemas"]["Prediction"]["properties"]
    refs = str(prediction["output"])
    assert "ClassificationOutput" in refs and "RegressionOutput" in refs
    assert "ForecastOutput" in refs
    assert "PredictionError" in str(prediction["error"])
    assert "RowInput" in str(prediction["input"])
    row_input = schema["components"]["schemas"]["RowInput"]
    assert [one["$ref"].rsplit("/", 1)[1] for one in row_input["oneOf"]] == [
        "FeatureRow",
        "ForecastRequest",
    ]
    step = schema["components"]["schemas"]["ForecastStep"]
    assert step["required"] == ["step", "value"] and {"lower", "upper"} <= set(step["properties"])
    upload = schema["components"]["schemas"]["VersionUploadRequest"]["properties"]
    assert upload["input_schema"]["type"] == "string"  # JSON text in a multipart field
    result = schema["paths"]["/api/v1/predictions/{id}/result/"]["get"]["responses"]["200"]
    assert set(result["content"]) == {"application/json", "text/csv"}
