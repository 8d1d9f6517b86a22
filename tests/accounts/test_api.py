import time
from datetime import timedelta

import jwt
import pytest
from django.conf import settings
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.models import User
from tests.support.api import client_for
from tests.support.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

STRONG = "a-long-and-unusual-passphrase-42"


def register(client, **overrides):
    body = {"username": "ada", "email": "ada@example.com", "password": STRONG, **overrides}
    return client.post("/api/v1/users/", body, format="json")


def login(client, username, password=DEFAULT_PASSWORD):
    return client.post(
        "/api/v1/auth/token/", {"username": username, "password": password}, format="json"
    )


def assert_error(response, status, code=None):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code:
        assert body["error"]["code"] == code
    return body["error"]


class TestRegistration:
    def test_it_creates_a_user_and_never_returns_the_password(self, api_client):
        response = register(api_client)
        assert response.status_code == 201
        body = response.json()
        assert body["username"] == "ada" and body["email"] == "ada@example.com"
        assert body["is_staff"] is False
        assert "password" not in body
        assert User.objects.get(username="ada").check_password(STRONG)

    def test_it_rejects_a_bad_email_naming_the_field(self, api_client):
        error = assert_error(register(api_client, email="not-an-email"), 400)
        assert "email" in error["fields"]

    def test_it_rejects_a_weak_password_with_django_validators(self, api_client):
        error = assert_error(register(api_client, password="123"), 400)
        assert "password" in error["fields"]
        assert any("too short" in m for m in error["fields"]["password"])
        assert not User.objects.filter(username="ada").exists()

    def test_it_rejects_a_duplicate_username(self, api_client):
        UserFactory(username="ada")
        error = assert_error(register(api_client, email="other@example.com"), 400, "unique")
        assert list(error["fields"]) == ["username"]

    def test_it_reports_every_missing_field(self, api_client):
        error = assert_error(api_client.post("/api/v1/users/", {}, format="json"), 400)
        assert set(error["fields"]) == {"username", "email", "password"}

    def test_it_ignores_is_staff_in_the_body(self, api_client):
        assert register(api_client, is_staff=True).json()["is_staff"] is False
        assert User.objects.get(username="ada").is_staff is False


class TestLogin:
    def test_it_returns_an_access_and_a_refresh_token(self, api_client, user):
        response = login(api_client, user.username)
        assert response.status_code == 200
        access = AccessToken(response.json()["access"])
        assert str(access["user_id"]) == str(user.pk)
        assert access.lifetime == timedelta(minutes=5)
        assert RefreshToken(response.json()["refresh"]).lifetime == timedelta(days=1)

    def test_a_wrong_password_is_401(self, api_client, user):
        assert_error(login(api_client, user.username, "wrong"), 401, "no_active_account")

    def test_an_unknown_user_is_401(self, api_client, db):
        assert_error(login(api_client, "nobody"), 401)

    def test_login_is_throttled_per_username_with_retry_after(self, api_client, user):
        for _ in range(10):
            assert login(api_client, user.username, "wrong").status_code == 401
        response = login(api_client, user.username)
        error = assert_error(response, 429, "throttled")
        assert int(response["Retry-After"]) > 0
        assert error["retry_after"] == int(response["Retry-After"])

    def test_a_spoofed_forwarded_for_header_does_not_reset_the_ip_throttle(self, api_client, db):
        for i in range(30):
            response = api_client.post(
                "/api/v1/auth/token/",
                {"username": f"guess{i}", "password": "x"},
                format="json",
                HTTP_X_FORWARDED_FOR=f"10.0.0.{i}",
            )
            assert response.status_code == 401
        response = api_client.post(
            "/api/v1/auth/token/",
            {"username": "guess-last", "password": "x"},
            HTTP_X_FORWARDED_FOR="10.9.9.9",
            format="json",
        )
        assert_error(response, 429)

    def test_the_signing_key_is_separate_from_the_secret_key(self):
        assert settings.SIMPLE_JWT["SIGNING_KEY"] != settings.SECRET_KEY


class TestRefreshAndLogout:
    def test_refresh_rotates_the_pair_and_the_old_refresh_stops_working(self, api_client, user):
        tokens = login(api_client, user.username).json()
        response = api_client.post(
            "/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json"
        )
        assert response.status_code == 200
        assert set(response.json()) == {"access", "refresh"}
        assert response.json()["refresh"] != tokens["refresh"]
        again = api_client.post(
            "/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json"
        )
        assert_error(again, 401, "token_not_valid")

    def test_logout_blacklists_the_refresh_token(self, api_client, user):
        tokens = login(api_client, user.username).json()
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
        response = api_client.post(
            "/api/v1/auth/logout/", {"refresh": tokens["refresh"]}, format="json"
        )
        assert response.status_code == 204
        api_client.credentials()
        again = api_client.post(
            "/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json"
        )
        assert_error(again, 401, "token_not_valid")

    def test_logout_refuses_another_users_refresh_token(self, user_client, db):
        other = UserFactory()
        response = user_client.post(
            "/api/v1/auth/logout/", {"refresh": str(RefreshToken.for_user(other))}, format="json"
        )
        assert_error(response, 400, "token_not_valid")

    def test_logout_needs_authentication(self, api_client, user):
        refresh = str(RefreshToken.for_user(user))
        assert_error(api_client.post("/api/v1/auth/logout/", {"refresh": refresh}), 401)


class TestTokensThatMustNotWork:
    def me_with(self, api_client, token):
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return api_client.get("/api/v1/users/me/")

    def test_an_expired_access_token_is_401(self, api_client, user):
        token = AccessToken.for_user(user)
        token.set_exp(lifetime=timedelta(seconds=-1))
        assert_error(self.me_with(api_client, token), 401, "token_not_valid")

    def test_a_tampered_access_token_is_401(self, api_client, user):
        other = UserFactory()
        header, payload, signature = str(AccessToken.for_user(user)).split(".")
        forged_payload = str(AccessToken.for_user(other)).split(".")[1]
        assert_error(self.me_with(api_client, f"{header}.{forged_payload}.{signature}"), 401)

    def test_a_token_signed_with_another_key_is_401(self, api_client, user):
        claims = dict(AccessToken.for_user(user).payload)
        forged = jwt.encode(claims, "not-the-key", algorithm="HS256")
        assert_error(self.me_with(api_client, forged), 401)

    def test_an_unsigned_alg_none_token_is_401(self, api_client, user):
        claims = dict(AccessToken.for_user(user).payload)
        forged = jwt.encode(claims, None, algorithm="none")
        assert_error(self.me_with(api_client, forged), 401)

    def test_a_refresh_token_used_as_access_is_401(self, api_client, user):
        assert_error(self.me_with(api_client, RefreshToken.for_user(user)), 401)

    def test_a_token_in_the_query_string_is_ignored(self, api_client, user):
        token = AccessToken.for_user(user)
        assert_error(api_client.get(f"/api/v1/users/me/?token={token}"), 401)

    def test_a_token_for_a_deactivated_user_is_401(self, api_client, user):
        token = AccessToken.for_user(user)
        user.is_active = False
        user.save()
        assert_error(self.me_with(api_client, token), 401)

    def test_a_token_that_worked_is_refused_once_it_expires(self, api_client, user):
        token = AccessToken.for_user(user)
        # exp is a whole second, so a 1 s lifetime could be over before the first request.
        token.set_exp(lifetime=timedelta(seconds=3))
        assert self.me_with(api_client, token).status_code == 200  # now remembered as valid
        time.sleep(max(0.0, token["exp"] - time.time()) + 0.2)
        assert_error(self.me_with(api_client, token), 401, "token_not_valid")

    def test_a_token_that_worked_is_refused_once_its_user_is_deactivated(self, api_client, user):
        token = AccessToken.for_user(user)
        assert self.me_with(api_client, token).status_code == 200
        User.objects.filter(pk=user.pk).update(is_active=False)
        assert_error(self.me_with(api_client, token), 401)


class TestCurrentUser:
    def test_it_shows_the_current_user(self, user_client, user):
        response = user_client.get("/api/v1/users/me/")
        assert response.status_code == 200
        assert response.json() == {
            "id": user.pk,
            "username": user.username,
            "email": user.email,
            "is_staff": False,
            "date_joined": response.json()["date_joined"],
        }
        assert response.json()["date_joined"].startswith(str(user.date_joined.year))

    def test_it_updates_the_email(self, user_client, user):
        response = user_client.patch("/api/v1/users/me/", {"email": "new@example.com"})
        assert response.status_code == 200 and response.json()["email"] == "new@example.com"
        user.refresh_from_db()
        assert user.email == "new@example.com"

    def test_patch_cannot_make_a_user_staff(self, user_client, user):
        user_client.patch("/api/v1/users/me/", {"email": "x@example.com", "is_staff": True})
        user.refresh_from_db()
        assert user.is_staff is False

    def test_it_changes_the_password_when_the_old_one_is_right(self, user_client, user, api_client):
        response = user_client.post(
            "/api/v1/users/me/password/",
            {"old_password": DEFAULT_PASSWORD, "new_password": STRONG},
        )
        assert response.status_code == 204
        assert login(api_client, user.username, STRONG).status_code == 200
        assert login(api_client, user.username, DEFAULT_PASSWORD).status_code == 401

    def test_it_refuses_a_password_change_with_a_wrong_old_password(self, user_client, user):
        error = assert_error(
            user_client.post(
                "/api/v1/users/me/password/", {"old_password": "nope", "new_password": STRONG}
            ),
            400,
        )
        assert "old_password" in error["fields"]
        user.refresh_from_db()
        assert user.check_password(DEFAULT_PASSWORD)

    def test_it_refuses_a_weak_new_password(self, user_client):
        error = assert_error(
            user_client.post(
                "/api/v1/users/me/password/",
                {"old_password": DEFAULT_PASSWORD, "new_password": "password"},
            ),
            400,
        )
        assert "new_password" in error["fields"]

    def test_anonymous_requests_are_401(self, api_client, db):
        assert_error(api_client.get("/api/v1/users/me/"), 401, "not_authenticated")


class TestUserList:
    def test_staff_can_list_users_paginated(self, staff_client, user):
        response = staff_client.get("/api/v1/users/")
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"count", "next", "previous", "results"}
        assert {u["username"] for u in body["results"]} == {"staff", user.username}

    def test_ordinary_users_get_403(self, user_client):
        assert_error(user_client.get("/api/v1/users/"), 403, "permission_denied")

    def test_anonymous_users_get_401(self, api_client, db):
        assert_error(api_client.get("/api/v1/users/"), 401)


def test_access_tokens_expire_after_their_lifetime(api_client, user, settings):
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=timedelta(seconds=1))
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api_client.get("/api/v1/users/me/").status_code == 200
    time.sleep(1.1)
    assert api_client.get("/api/v1/users/me/").status_code == 401


def test_a_client_for_helper_authenticates(user):
    assert client_for(user).get("/api/v1/users/me/").status_code == 200
