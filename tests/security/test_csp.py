"""The HTML pages (admin, staff dashboard, Swagger UI, ReDoc) send a Content-Security-Policy that
allows scripts from this origin only, plus the inline start-up script that carries its nonce.
tests/browser/test_csp.py shows the pages still work under it in a real browser."""

import re

import pytest
from django.test import Client

from tests.factories import UserFactory

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
def test_api_docs_allow_no_inline_script_without_the_nonce(client, path):
    response = client.get(path)
    assert response.status_code == 200
    scripts = policy(response)["script-src"]
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
    html = response.content.decode()
    nonces = [s.removeprefix("'nonce-").rstrip("'") for s in scripts if s.startswith("'nonce-")]
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", html)
    for attributes in inline:  # every inline script carries this response's nonce
        assert nonces and f'nonce="{nonces[0]}"' in attributes
    assert "fonts.googleapis.com" not in html


def test_the_nonce_changes_with_every_response(client):
    first, second = (policy(client.get("/api/docs/"))["script-src"] for _ in range(2))
    assert first != second


@pytest.mark.parametrize("path", ["/api/v1/users/me/", "/healthz", "/api/schema/"])
def test_json_endpoints_carry_no_policy(client, path):
    assert "Content-Security-Policy" not in client.get(path)
