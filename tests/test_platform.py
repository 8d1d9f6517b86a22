"""The cross-cutting contract: one error shape, health probes, the OpenAPI document."""

import pytest
from django.core.management import call_command
from django.test import override_settings

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_dependencies(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_reports_postgresql_and_redis_ok(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"postgresql": "ok", "redis": "ok"}


def test_readyz_is_503_naming_redis_when_redis_is_unreachable(client):
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["redis"]
    assert response.json()["checks"]["postgresql"] == "ok"


@pytest.mark.parametrize("debug", [False, True])
def test_unknown_api_urls_get_a_json_404(client, debug):
    with override_settings(DEBUG=debug):
        response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not found."}}


def test_a_wrong_method_gets_a_json_405(user_client):
    response = user_client.delete("/api/v1/users/me/")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_malformed_json_gets_a_400_in_the_common_shape(api_client):
    response = api_client.post("/api/v1/users/", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_a_wrong_content_type_gets_a_415(api_client):
    response = api_client.post("/api/v1/users/", data="x", content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_a_crash_in_a_view_is_a_json_500_without_a_traceback(user_client, monkeypatch):
    from accounts import views

    def boom(self, request):
        raise RuntimeError("secret internal detail /srv/app/file.py")

    monkeypatch.setattr(views.UserViewSet, "me", boom)
    user_client.raise_request_exception = False
    response = user_client.get("/api/v1/users/me/")
    assert response.status_code == 500
    body = response.content.decode()
    assert response.json()["error"]["code"] == "server_error"
    assert "secret internal detail" not in body and "Traceback" not in body


def test_the_openapi_schema_builds_without_warnings(tmp_path):
    out = tmp_path / "schema.yml"
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(out))
    assert "/api/v1/auth/token/" in out.read_text()


@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/", "/api/redoc/"])
def test_the_docs_are_public(client, path):
    assert client.get(path).status_code == 200
