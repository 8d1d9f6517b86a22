"""Fields a client must not set are ignored (tests/predictions and tests/accounts cover status,
output, user and is_staff on predictions, registration and PATCH /users/me/)."""

import pytest

from accounts.models import User
from predictions.models import Prediction
from tests.support.api import SETOSA, submit

pytestmark = pytest.mark.django_db(transaction=True)

PRIVILEGES = {"is_staff": True, "is_superuser": True, "is_active": False, "id": 999_999}


def test_registration_ignores_privilege_and_id_fields(api_client):
    body = {"username": "mallory", "email": "m@example.com", "password": "long-unusual-pass-42"}
    response = api_client.post("/api/v1/users/", {**body, **PRIVILEGES}, format="json")
    assert response.status_code == 201
    user = User.objects.get(username="mallory")
    assert (user.is_staff, user.is_superuser, user.is_active) == (False, False, True)
    assert user.pk != 999_999


def test_patching_me_changes_the_email_only(user_client, user):
    body = {"email": "new@example.com", "username": "admin", "date_joined": "2000-01-01T00:00Z"}
    response = user_client.patch("/api/v1/users/me/", {**body, **PRIVILEGES}, format="json")
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.email == "new@example.com" and user.username != "admin"
    assert (user.is_staff, user.is_superuser, user.is_active) == (False, False, True)
    assert user.date_joined.year != 2000


def test_a_prediction_ignores_attempts_ids_errors_and_privileges(alice_client, iris):
    body = {
        "model": "iris",
        "input": SETOSA,
        "id": "00000000-0000-4000-8000-000000000000",
        "attempts": 99,
        "error": {"code": "none"},
        "progress": 1.0,
        "created_at": "2000-01-01T00:00:00Z",
        **PRIVILEGES,
    }
    response = submit(alice_client, body)
    assert response.status_code == 202
    prediction = Prediction.objects.get()
    assert str(prediction.pk) != body["id"] and prediction.attempts == 0
    assert prediction.error is None and prediction.progress == 0.0
    assert prediction.created_at.year != 2000
    assert prediction.user.is_staff is False
