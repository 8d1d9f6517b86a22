"""A login session (a refresh-token chain) ends when the password changes, when its owner logs
out everywhere, and at the latest a refresh lifetime after the login that started it."""

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from tests.support.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LIFETIME = settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"]
NEW_PASSWORD = "a-long-and-unusual-passphrase-42"


def login(user) -> dict:
    response = APIClient().post(
        "/api/v1/auth/token/",
        {"username": user.username, "password": DEFAULT_PASSWORD},
        format="json",
    )
    assert response.status_code == 200, response.content
    return response.json()


def refresh(token: str):
    return APIClient().post("/api/v1/auth/token/refresh/", {"refresh": token}, format="json")


def authed(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def aged(token: str, seconds: int) -> str:
    """The same session as `token`, as if its login had happened `seconds` earlier."""
    old = RefreshToken(token, verify=False)
    old["auth_time"] = old["auth_time"] - seconds
    old["iat"] = old["iat"] - seconds
    return str(old)


def test_changing_the_password_ends_every_refresh_token_of_the_user():
    user = UserFactory()
    phone, laptop = login(user), login(user)
    other = login(UserFactory())
    response = authed(phone["access"]).post(
        "/api/v1/users/me/password/",
        {"old_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
        format="json",
    )
    assert response.status_code == 204
    for session in (phone, laptop):
        assert refresh(session["refresh"]).status_code == 401
    assert refresh(other["refresh"]).status_code == 200  # other users keep theirs


def test_a_password_set_by_an_operator_ends_the_sessions_too():
    user = UserFactory()
    session = login(user)
    user.set_password(NEW_PASSWORD)
    user.save()  # as the admin's password form and `manage.py changepassword` do
    assert refresh(session["refresh"]).status_code == 401


def test_a_rotated_token_does_not_survive_the_password_change():
    user = UserFactory()
    rotated = refresh(login(user)["refresh"]).json()
    user.set_password(NEW_PASSWORD)
    user.save()
    assert refresh(rotated["refresh"]).status_code == 401


def test_log_out_everywhere_ends_every_refresh_token_of_the_user():
    user = UserFactory()
    phone, laptop = login(user), login(user)
    laptop = refresh(laptop["refresh"]).json()
    response = authed(phone["access"]).post("/api/v1/auth/logout-all/")
    assert response.status_code == 204
    assert refresh(phone["refresh"]).status_code == 401
    assert refresh(laptop["refresh"]).status_code == 401
    assert refresh(login(user)["refresh"]).status_code == 200  # a new login works


def test_log_out_everywhere_needs_authentication():
    assert APIClient().post("/api/v1/auth/logout-all/").status_code == 401


def test_rotation_keeps_the_end_of_the_session_fixed():
    user = UserFactory()
    first = login(user)["refresh"]
    ends = RefreshToken(first)["exp"]
    token = aged(first, 3600)  # logged in an hour ago: the session ends an hour earlier
    for _ in range(3):
        token = refresh(token).json()["refresh"]
        assert RefreshToken(token)["exp"] == ends - 3600


def test_a_session_older_than_the_refresh_lifetime_is_refused_even_if_the_token_is_fresh():
    user = UserFactory()
    token = login(user)["refresh"]
    old = RefreshToken(aged(token, int(LIFETIME.total_seconds()) + 5), verify=False)
    old.set_exp(lifetime=timedelta(hours=1))  # as the old rotation made it: one more day
    response = refresh(str(old))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_not_valid"


def test_a_session_shortly_before_its_end_still_refreshes_up_to_that_end():
    token = aged(login(UserFactory())["refresh"], int(LIFETIME.total_seconds()) - 5)
    response = refresh(token)
    assert response.status_code == 200
    assert RefreshToken(response.json()["refresh"])["exp"] <= time.time() + 5


def test_changepassword_command_path_also_ends_sessions(monkeypatch):
    user = UserFactory()
    session = login(user)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": NEW_PASSWORD)
    call_command("changepassword", user.username, stdout=None)
    assert refresh(session["refresh"]).status_code == 401
