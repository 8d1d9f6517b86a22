"""Single JSON rows are submitted through a lean view; everything it answers must be what the
DRF view (PredictionViewSet.create) answers for the same request."""

import json

import pytest
from rest_framework.response import Response

from tests.conftest import client_for
from tests.predictions.conftest import SETOSA
from tests.predictions.test_operations import labels, scrape

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/predictions/"
VOLATILE = {"id", "created_at"}


def lean(client, body, **headers):
    return client.post(URL, json.dumps(body), content_type="application/json", **headers)


def through_drf(client, body, **headers):
    # A charset parameter is "unusual" for the lean view: the DRF view answers.
    return client.post(
        URL, json.dumps(body), content_type="application/json; charset=utf-8", **headers
    )


def answered_by_drf(response) -> bool:
    # A DRF view's response carries the view in its renderer context; the lean view's do not.
    return isinstance(response, Response) and "view" in (response.renderer_context or {})


def stable(response) -> dict:
    body = response.json()
    return {k: v for k, v in body.items() if k not in VOLATILE} if "id" in body else body


@pytest.mark.parametrize(
    "body",
    [
        {"model": "iris", "input": SETOSA},
        {"model": "iris", "version": 1, "input": SETOSA},
        {"model": "iris", "version": "production", "input": SETOSA},
        {"model": "nope", "input": SETOSA},
        {"model": "iris", "version": 9, "input": SETOSA},
        {"model": "iris", "input": {**SETOSA, "petal_width": "wide"}},
        {"model": "iris", "input": {"sepal_length": 5.1}},
    ],
)
def test_the_lean_view_answers_as_the_drf_view_does(alice_client, iris, body):
    fast, reference = lean(alice_client, body), through_drf(alice_client, body)

    assert not answered_by_drf(fast) and answered_by_drf(reference)
    assert fast.status_code == reference.status_code
    assert stable(fast) == stable(reference)
    for header in ("Content-Type", "Allow", "Retry-After"):
        assert fast.get(header) == reference.get(header)
    if fast.status_code == 202:
        assert fast["Location"] == f"{URL}{fast.json()['id']}/"


def test_an_idempotency_key_means_the_same_in_both_views(alice_client, iris):
    body = {"model": "iris", "input": SETOSA}
    first = lean(alice_client, body, HTTP_IDEMPOTENCY_KEY="k-1")
    again = through_drf(alice_client, body, HTTP_IDEMPOTENCY_KEY="k-1")
    other = lean(alice_client, {**body, "version": 1}, HTTP_IDEMPOTENCY_KEY="k-1")

    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["id"] == first.json()["id"]
    assert other.status_code == 409 and not answered_by_drf(other)
    assert (
        other.json()
        == through_drf(alice_client, {**body, "version": 1}, HTTP_IDEMPOTENCY_KEY="k-1").json()
    )


def test_the_rate_limit_answers_429_with_retry_after_in_the_lean_view(alice_client, iris, settings):
    settings.PREDICTION_RATE_PER_MINUTE = 1
    assert lean(alice_client, {"model": "iris", "input": SETOSA}).status_code == 202

    refused = lean(alice_client, {"model": "iris", "input": SETOSA})

    assert refused.status_code == 429 and not answered_by_drf(refused)
    assert refused.json()["error"]["code"] == "usage_limit_exceeded"
    assert 1 <= int(refused["Retry-After"]) <= 60


@pytest.mark.parametrize(
    "raw, status",
    [
        ('{"model": " iris ", "input": {}}', 400),  # DRF trims; its schema errors follow
        ('{"model": "iris", "input": {"sepal_length": NaN}}', 400),
        ('{"model": "iris", "input": {}, "inputs": []}', 400),
        ('{"model": "iris", "version": null, "input": {}}', 400),
        ("[1, 2]", 400),
        ("{", 400),
    ],
)
def test_anything_unusual_is_left_to_the_drf_view(alice_client, iris, raw, status):
    response = alice_client.post(URL, raw, content_type="application/json")
    assert answered_by_drf(response)
    assert response.status_code == status
    assert set(response.json()["error"]) >= {"code", "message"}


def test_credentials_problems_are_answered_by_the_drf_view_with_its_challenge(api_client, iris):
    body = {"model": "iris", "input": SETOSA}
    for headers in ({}, {"HTTP_AUTHORIZATION": "Bearer not-a-token"}):
        response = lean(api_client, body, **headers)
        assert answered_by_drf(response) and response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_deactivated_user_cannot_submit_through_the_lean_view(alice, iris):
    client = client_for(alice)
    alice.is_active = False
    alice.save()
    response = lean(client, {"model": "iris", "input": SETOSA})
    assert response.status_code == 401


def test_request_metrics_name_the_submit_as_before(client, alice_client, iris):
    def posts() -> float:
        counts = scrape(client).get("django_http_responses_total_by_status_view_method_total", {})
        return counts.get(labels(status="202", view="prediction-list", method="POST"), 0)

    before = posts()
    assert lean(alice_client, {"model": "iris", "input": SETOSA}).status_code == 202
    assert posts() == before + 1
