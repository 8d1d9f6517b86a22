"""No response under /api/ shows a traceback, a server path or a secret, even when the view
crashes with DEBUG on, and `check --deploy` is clean with production settings."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.support.api import client_for

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def leaks(text: str) -> list[str]:
    secrets = [settings.SECRET_KEY, settings.SIMPLE_JWT["SIGNING_KEY"]]
    markers = ["Traceback", 'File "', str(ROOT), "site-packages", *secrets]
    return [marker for marker in markers if marker in text]


def crash(*args, **kwargs):
    raise RuntimeError(f"secret {settings.SECRET_KEY} at {__file__}")


@pytest.mark.parametrize("debug", [False, True])
def test_errors_never_show_internals(user, monkeypatch, settings, debug):
    settings.DEBUG = debug
    client = client_for(user)
    responses = [
        client.get("/api/v1/nowhere/"),
        client.delete("/api/v1/users/me/"),
        client.post("/api/v1/predictions/", b"{not json", content_type="application/json"),
        client.post("/api/v1/predictions/", {"model": "nope", "input": {}}, format="json"),
        client.get("/api/v1/predictions/not-a-uuid/"),
        client.get("/api/v1/predictions/?created_after=yesterday"),
    ]
    from predictions import views

    monkeypatch.setattr(views.PredictionViewSet, "list", crash)
    crashed = client.get("/api/v1/predictions/")
    assert crashed.status_code == 500
    for response in [*responses, crashed]:
        assert response.status_code >= 400
        assert response["Content-Type"].startswith("application/json")
        assert leaks(response.content.decode()) == [], response.content


def test_check_deploy_is_clean_with_production_settings():
    # The same environment as `make check-deploy`.
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mlservice.settings",
        "DEBUG": "false",
        "SECRET_KEY": "x" * 20 + "production-like-secret-key-0123456789-abcdefghijkl",
        "JWT_SIGNING_KEY": "y" * 20 + "production-like-jwt-signing-key-0123456789-abcdefgh",
        "SECURE_SSL_REDIRECT": "true",
        "SECURE_HSTS_SECONDS": "31536000",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
        "SECURE_HSTS_PRELOAD": "true",
        "ALLOWED_HOSTS": "ml.example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_the_jwt_signing_key_is_not_the_secret_key_in_production_settings():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "mlservice.settings", "DEBUG": "false",
           "SECRET_KEY": "s" * 60, "JWT_SIGNING_KEY": ""}  # fmt: skip
    code = "from django.conf import settings; settings.SIMPLE_JWT"
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    # Without its own key, production refuses to start rather than sign with SECRET_KEY.
    assert result.returncode != 0 and "JWT_SIGNING_KEY" in result.stderr, result.stderr
