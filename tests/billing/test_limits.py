"""Per-user usage limits: predictions per minute and rows per UTC day, counted in Redis."""

import pytest
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView
from rest_framework_simplejwt.tokens import RefreshToken

from billing import limits
from billing.authentication import UsageLimitsJWTAuthentication
from billing.models import Account
from billing.services import account_for
from tests.support.api import SETOSA, VIRGINICA, submit
from tests.support.ledger import set_price

pytestmark = pytest.mark.django_db(transaction=True)

ONE = {"model": "iris", "input": SETOSA}


def test_the_submission_past_the_per_minute_limit_is_429_with_retry_after(
    iris, alice_client, bob_client, settings
):
    settings.PREDICTION_RATE_PER_MINUTE = 3
    assert [submit(alice_client, ONE).status_code for _ in range(3)] == [202, 202, 202]

    response = submit(alice_client, ONE)

    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    error = response.json()["error"]
    assert error["code"] == "usage_limit_exceeded"
    assert error["limit"] == "predictions_per_minute"
    assert error["limit_value"] == 3
    assert error["retry_after"] == int(response["Retry-After"])
    assert submit(bob_client, ONE).status_code == 202  # per user


def test_a_per_user_override_replaces_the_default_rate(iris, alice, alice_client, settings):
    settings.PREDICTION_RATE_PER_MINUTE = 100
    Account.objects.filter(pk=account_for(alice).pk).update(rate_per_minute=1)
    assert submit(alice_client, ONE).status_code == 202
    response = submit(alice_client, ONE)
    assert response.status_code == 429
    assert response.json()["error"]["limit_value"] == 1


def test_an_override_of_zero_means_no_limit(iris, alice, alice_client, settings):
    settings.PREDICTION_RATE_PER_MINUTE = 1
    Account.objects.filter(pk=account_for(alice).pk).update(rate_per_minute=0)
    assert [submit(alice_client, ONE).status_code for _ in range(3)] == [202, 202, 202]


def test_rows_past_the_daily_quota_are_429_until_midnight(iris, alice_client, settings):
    settings.PREDICTION_ROWS_PER_DAY = 5
    three = {"model": "iris", "inputs": [SETOSA, VIRGINICA, SETOSA]}
    assert submit(alice_client, three).status_code == 202

    response = submit(alice_client, three)

    assert response.status_code == 429
    error = response.json()["error"]
    assert error["limit"] == "rows_per_day"
    assert error["limit_value"] == 5
    assert 1 <= int(response["Retry-After"]) <= 86400
    two = {"model": "iris", "inputs": [SETOSA, VIRGINICA]}
    assert submit(alice_client, two).status_code == 202  # exactly fills the quota
    assert submit(alice_client, ONE).status_code == 429


def test_a_refused_submission_does_not_use_up_the_daily_quota(iris, alice_client, settings):
    settings.PREDICTION_ROWS_PER_DAY = 1
    set_price(iris, "1000")
    assert submit(alice_client, ONE).status_code == 402
    set_price(iris, "0")
    assert submit(alice_client, ONE).status_code == 202


def test_invalid_input_does_not_use_up_the_daily_quota(iris, alice_client, settings):
    settings.PREDICTION_ROWS_PER_DAY = 1
    assert submit(alice_client, {"model": "iris", "input": {"nope": 1}}).status_code == 400
    assert submit(alice_client, ONE).status_code == 202


def test_the_api_reads_a_users_overrides_along_with_the_user(alice, settings):
    settings.PREDICTION_ROWS_PER_DAY = 1000
    Account.objects.filter(pk=account_for(alice).pk).update(rate_per_minute=7)
    request = APIRequestFactory().get(
        "/", HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(alice).access_token}"
    )
    [authenticator] = APIView().get_authenticators()

    user, _ = authenticator.authenticate(request)
    Account.objects.filter(user=alice).update(rate_per_minute=99)  # too late for this request

    assert isinstance(authenticator, UsageLimitsJWTAuthentication)
    assert limits._limits_for(user) == (7, 1000)
