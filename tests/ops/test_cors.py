import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db

FRONTEND = "https://app.example.com"


def preflight(client, origin):
    return client.options(
        "/api/v1/predictions/",
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type, idempotency-key",
    )


@override_settings(CORS_ALLOWED_ORIGINS=[FRONTEND])
def test_a_preflight_from_the_configured_frontend_is_allowed(client):
    response = preflight(client, FRONTEND)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == FRONTEND
    assert "POST" in response["Access-Control-Allow-Methods"]
    allowed = response["Access-Control-Allow-Headers"].lower()
    assert {"authorization", "content-type", "idempotency-key"} <= set(allowed.split(", "))


@override_settings(CORS_ALLOWED_ORIGINS=[FRONTEND])
def test_other_origins_get_no_cors_headers(client):
    response = preflight(client, "https://evil.example.net")
    assert "Access-Control-Allow-Origin" not in response


@override_settings(CORS_ALLOWED_ORIGINS=[FRONTEND])
def test_responses_expose_the_request_id_to_the_frontend(client, user_client):
    response = user_client.get("/api/v1/users/me/", HTTP_ORIGIN=FRONTEND)
    assert response["Access-Control-Allow-Origin"] == FRONTEND
    assert "X-Request-ID" in response["Access-Control-Expose-Headers"]
    assert response["X-Request-ID"]
