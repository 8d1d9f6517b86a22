"""The HTML pages (admin, staff dashboard, Swagger UI, ReDoc) send a Content-Security-Policy that
allows scripts from this origin only, and none of them needs an inline script.
tests/browser/test_csp.py shows the pages still work under it in a real browser."""

import re

import pytest
from django.test import Client

from tests.support.factories import UserFactory

pytestmark = pytest.mark.django_db


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {
        name: values
        for name, *values in (part.split() for part in header.split(";") if part.strip())
    }


@pytest.fixture
def staff_browser():
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.mark.parametrize(
    "path", ["/admin/", "/admin/dashboard/", "/admin/accounts/user/", "/admin/login/"]
)
def test_admin_pages_allow_scripts_from_this_origin_only(staff_browser, path):
    browser = Client() if path == "/admin/login/" else staff_browser
    response = browser.get(path)
    assert response.status_code == 200
    directives = policy(response)
    assert directives["script-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_api_docs_allow_scripts_from_this_origin_and_have_no_inline_script(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert policy(response)["script-src"] == ["'self'"]
    html = response.content.decode()
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []  # nothing inline to block


def test_swagger_ui_gets_its_start_up_script_from_this_origin(client):
    html = client.get("/api/docs/").content.decode()
    (start_up,) = [src for src in re.findall(r'<script src="([^"]+)"', html) if "script" in src]
    script = client.get(start_up)
    assert script.status_code == 200
    assert "SwaggerUIBundle" in script.content.decode()


@pytest.mark.parametrize("path", ["/api/v1/users/me/", "/healthz", "/api/schema/"])
def test_json_endpoints_carry_no_policy(client, path):
    assert "Content-Security-Policy" not in client.get(path)
