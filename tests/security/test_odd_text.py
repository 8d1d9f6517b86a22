"""Text that is not what a form sends (a superscript digit for a number, an unpaired surrogate,
a NUL) is a 400 in the common error shape wherever it appears, never a 500."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.support.api import SETOSA
from tests.support.models import IRIS

pytestmark = pytest.mark.django_db

LONE_SURROGATE = "\\ud800"  # as JSON writes it: the escape, not a character
NUL = "\\u0000"


def post_json(client, path: str, text: str):
    return client.post(path, text, content_type="application/json")


def assert_400(response, code: str | None = None) -> dict:
    assert response.status_code == 400, response.content[:300]
    error = response.json()["error"]
    assert set(error) <= {"code", "message", "fields"} and error["message"]
    if code is not None:
        assert error["code"] == code
    return error


def prediction_body(**overrides) -> str:
    body = {"model": "iris", "input": SETOSA, **overrides}
    return json.dumps(body)


class TestSuperscriptDigits:
    """`"²".isdigit()` is true, and `int("²")` fails."""

    def test_a_superscript_version_in_a_submit_is_not_found(self, alice_client, iris):
        response = post_json(alice_client, "/api/v1/predictions/", prediction_body(version="²"))
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "version_not_found"

    def test_a_superscript_version_filter_on_the_history_is_a_400(self, alice_client, iris):
        error = assert_400(alice_client.get("/api/v1/predictions/", {"version": "²"}))
        assert error["fields"] == {"version": ["Use a version number."]}

    def test_a_superscript_version_of_the_schema_is_not_found(self, alice_client, iris):
        response = alice_client.get("/api/v1/models/iris/schema/", {"version": "²"})
        assert response.status_code == 404


class TestUnpairedSurrogates:
    """An unpaired surrogate (`\\ud800`) is valid JSON but not text: it cannot be encoded to
    UTF-8 for PostgreSQL, Redis or the error response itself."""

    @pytest.mark.parametrize(
        "body",
        [
            '{"model": "\\ud800", "input": {}}',
            '{"model": "iris", "version": "\\udfff", "input": {}}',
            '{"model": "iris", "input": {"\\ud800": 1}}',
            '{"model": "iris", "input": {"sepal_length": "\\ud800"}}',
            '{"model": "iris", "inputs": [{"a": ["x\\udc00y"]}]}',
        ],
    )
    def test_anywhere_in_a_prediction_is_a_400(self, alice_client, iris, body):
        error = assert_400(post_json(alice_client, "/api/v1/predictions/", body), "parse_error")
        assert "surrogate" in error["message"]

    def test_as_a_login_username_is_a_400(self, api_client):
        body = '{"username": "\\ud800admin", "password": "x"}'
        assert_400(post_json(api_client, "/api/v1/auth/token/", body), "parse_error")

    def test_as_a_new_username_is_a_400(self, api_client):
        body = '{"username": "\\ud800", "email": "a@example.com", "password": "a-long-pass-phrase"}'
        assert_400(post_json(api_client, "/api/v1/users/", body), "parse_error")

    def test_in_a_staff_write_is_a_400(self, staff_client, iris):
        body = '{"title": "Iris \\ud83d", "description": "\\ude00"}'
        response = staff_client.patch("/api/v1/models/iris/", body, content_type="application/json")
        assert_400(response, "parse_error")

    def test_a_surrogate_pair_is_one_character_and_is_fine(self, staff_client, iris):
        body = '{"title": "Iris \\ud83c\\udf38"}'
        response = staff_client.patch("/api/v1/models/iris/", body, content_type="application/json")
        assert response.status_code == 200
        assert response.json()["title"] == "Iris \U0001f338"

    def test_a_backslash_before_u_is_just_text(self, staff_client, iris):
        body = '{"title": "C:\\\\ud800"}'
        response = staff_client.patch("/api/v1/models/iris/", body, content_type="application/json")
        assert response.status_code == 200 and response.json()["title"] == "C:\\ud800"


class TestNulCharacters:
    """PostgreSQL stores no NUL in text or jsonb."""

    def test_a_nul_in_a_json_body_is_a_400(self, alice_client, iris):
        body = '{"model": "iris", "input": {"sepal_length": 5.1}, "note": {"k\\u0000": 1}}'
        error = assert_400(post_json(alice_client, "/api/v1/predictions/", body), "parse_error")
        assert "NUL" in error["message"]

    @pytest.mark.parametrize(
        "query",
        [
            {"model": "ir\x00is"},
            {"status": "pending\x00"},
            {"created_after": "2024-01-01\x00"},
        ],
    )
    def test_a_nul_in_a_query_parameter_is_a_400(self, alice_client, iris, query):
        error = assert_400(alice_client.get("/api/v1/predictions/", query))
        assert "NUL" in error["message"]

    def test_a_nul_in_the_version_of_the_schema_endpoint_is_a_400(self, alice_client, iris):
        assert_400(alice_client.get("/api/v1/models/iris/schema/", {"version": "\x00"}))


class TestUploadFields:
    """The JSON-valued fields of a version upload are JSON text in a multipart form: they are
    held to the same rule as a JSON body."""

    @pytest.mark.parametrize(
        ("field", "text"),
        [
            ("labels", '["setosa", "versicolor", "\\ud800"]'),
            ("metrics", '{"accuracy\\ud800": 0.9}'),
            ("metrics", '{"note": "a\\u0000b"}'),
        ],
    )
    def test_unstorable_text_in_a_json_field_is_a_400_naming_it(
        self, staff_client, iris, artifacts, field, text
    ):
        body = {
            "artifact": SimpleUploadedFile("m.skops", artifacts.iris_skops.read_bytes()),
            "format": "skops",
            "input_schema": json.dumps(IRIS.input_schema),
            "input_example": json.dumps(IRIS.input_example),
            "labels": json.dumps(IRIS.labels),
            field: text,
        }
        response = staff_client.post("/api/v1/models/iris/versions/", body, format="multipart")
        error = assert_400(response)
        assert list(error["fields"]) == [field]
