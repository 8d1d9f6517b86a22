"""JWT checks beyond tests/accounts/test_api.py (which covers alg=none, a wrong key, expiry,
refresh-as-access, an edited payload, a query-string token and a reused rotated token)."""

import threading
from datetime import timedelta

import jwt
import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from tests.support.factories import UserFactory

REFRESH = "/api/v1/auth/token/refresh/"


def refresh_with(token) -> int:
    return APIClient().post(REFRESH, {"refresh": str(token)}, format="json").status_code


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_refreshes_with_one_token_give_at_most_one_new_pair():
    refresh = str(RefreshToken.for_user(UserFactory()))
    barrier = threading.Barrier(20)
    codes = []

    def attempt():
        barrier.wait()
        try:
            codes.append(refresh_with(refresh))
        finally:
            connection.close()  # each thread has its own connection

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(codes) == 20
    assert codes.count(200) == 1, codes
    assert set(codes) == {200, 401}


@pytest.mark.django_db
def test_an_access_token_signed_with_another_hmac_algorithm_is_401(api_client):
    claims = dict(AccessToken.for_user(UserFactory()).payload)
    forged = jwt.encode(claims, settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS512")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {forged}")
    assert api_client.get("/api/v1/users/me/").status_code == 401


@pytest.mark.django_db
def test_a_refresh_token_with_an_edited_user_id_is_401():
    victim = UserFactory()
    header, _, signature = str(RefreshToken.for_user(UserFactory())).split(".")
    forged_payload = str(RefreshToken.for_user(victim)).split(".")[1]
    assert refresh_with(f"{header}.{forged_payload}.{signature}") == 401


@pytest.mark.django_db
def test_an_expired_refresh_token_is_401():
    token = RefreshToken.for_user(UserFactory())
    token.set_exp(lifetime=timedelta(seconds=-1))
    assert refresh_with(token) == 401


@pytest.mark.django_db
def test_a_refresh_token_of_a_deleted_user_is_401_not_500():
    user = UserFactory()
    token = RefreshToken.for_user(user)
    user.delete()
    response = APIClient().post(REFRESH, {"refresh": str(token)}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "no_active_account"


@pytest.mark.django_db
def test_a_refresh_token_of_a_deactivated_user_is_401():
    user = UserFactory()
    token = RefreshToken.for_user(user)
    user.is_active = False
    user.save()
    assert refresh_with(token) == 401


@pytest.mark.django_db
def test_a_rotated_refresh_token_works_again_with_its_successor_only():
    first = APIClient().post(
        REFRESH, {"refresh": str(RefreshToken.for_user(UserFactory()))}, format="json"
    )
    successor = first.json()["refresh"]
    assert refresh_with(successor) == 200
    assert refresh_with(successor) == 401
