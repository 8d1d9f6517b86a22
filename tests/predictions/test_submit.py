"""POST /api/v1/predictions/ has one path, the DRF viewset. A plain JSON body takes its quick
negotiation and validation; the same request sent with a charset (DRF then parses the media
type to pick its parser) and with an extra key (validated field by field) must be answered
alike, with the API's status, body and headers."""

import json

import pytest
from rest_framework.response import Response

from predictions.models import Prediction
from tests.support.api import SETOSA, client_for, labels, scrape

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/predictions/"
ALLOW = "GET, POST, HEAD, OPTIONS"
VOLATILE = {"id", "created_at"}
PROD, BAD_INPUT = "production", "invalid_input"


def plain(client, body, **headers):
    return client.post(URL, json.dumps(body), content_type="application/json", **headers)


def with_charset(client, body, **headers):
    return client.post(
        URL, json.dumps(body), content_type="application/json; charset=utf-8", **headers
    )


def with_extra_key(client, body, **headers):
    return plain(client, {**body, "note": "ignored"}, **headers)


def answered_by_the_viewset(response) -> bool:
    return isinstance(response, Response) and "view" in (response.renderer_context or {})


def stable(response) -> dict:
    body = response.json()
    return {k: v for k, v in body.items() if k not in VOLATILE} if "id" in body else body


@pytest.mark.parametrize(
    "body, status, expected",
    [
        ({"model": "iris", "input": SETOSA}, 202, {"version": 2, "requested_version": PROD}),
        ({"model": "iris", "version": 1, "input": SETOSA}, 202, {"version": 1}),
        ({"model": "iris", "version": "production", "input": SETOSA}, 202, {"version": 2}),
        ({"model": "nope", "input": SETOSA}, 404, {"code": "model_not_found"}),
        ({"model": "iris", "version": 9, "input": SETOSA}, 404, {"code": "version_not_found"}),
        ({"model": "iris", "input": {**SETOSA, "petal_width": "x"}}, 400, {"code": BAD_INPUT}),
        ({"model": "iris", "input": {"sepal_length": 5.1}}, 400, {"code": BAD_INPUT}),
    ],
)
def test_a_json_submit_is_answered_alike_however_it_is_negotiated_and_validated(
    alice_client, iris, body, status, expected
):
    quick = plain(alice_client, body)
    answers = [quick, with_charset(alice_client, body), with_extra_key(alice_client, body)]

    assert all(answered_by_the_viewset(r) for r in answers)
    assert [r.status_code for r in answers] == [status] * 3
    assert all(stable(r) == stable(quick) for r in answers)
    for response in answers:
        assert response["Content-Type"] == "application/json"
        assert response["Allow"] == ALLOW
    if status == 202:
        assert quick.json()["status"] == "pending" and quick.json()["input"] == SETOSA
        assert {k: quick.json()[k] for k in expected} == expected
        assert all(r["Location"] == f"{URL}{r.json()['id']}/" for r in answers)
        assert Prediction.objects.count() == 3
    else:
        assert quick.json()["error"]["code"] == expected["code"]
        assert not quick.has_header("Location") and not Prediction.objects.exists()


def test_an_idempotency_key_returns_the_first_prediction_and_refuses_another_body(
    alice_client, iris
):
    body = {"model": "iris", "input": SETOSA}
    first = plain(alice_client, body, HTTP_IDEMPOTENCY_KEY="k-1")
    again = with_charset(alice_client, body, HTTP_IDEMPOTENCY_KEY="k-1")
    other = plain(alice_client, {**body, "version": 1}, HTTP_IDEMPOTENCY_KEY="k-1")

    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["id"] == first.json()["id"] and again["Location"] == first["Location"]
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_conflict"
    assert (
        other.json()
        == with_charset(alice_client, {**body, "version": 1}, HTTP_IDEMPOTENCY_KEY="k-1").json()
    )
    assert Prediction.objects.count() == 1


def test_the_rate_limit_answers_429_with_retry_after(alice_client, iris, settings):
    settings.PREDICTION_RATE_PER_MINUTE = 1
    assert plain(alice_client, {"model": "iris", "input": SETOSA}).status_code == 202

    refused = plain(alice_client, {"model": "iris", "input": SETOSA})

    assert refused.status_code == 429 and answered_by_the_viewset(refused)
    assert refused.json()["error"]["code"] == "usage_limit_exceeded"
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused["Allow"] == ALLOW and Prediction.objects.count() == 1


@pytest.mark.parametrize(
    "raw, code",
    [
        ('{"model": " iris ", "input": {}}', "invalid_input"),  # trimmed, then the schema's errors
        ('{"model": "iris", "input": {"sepal_length": NaN}}', "parse_error"),
        ('{"model": "iris", "input": {}, "inputs": []}', "invalid"),
        ('{"model": "iris", "version": null, "input": {}}', "null"),
        ('{"model": "iris", "input": []}', "not_a_dict"),
        ("[1, 2]", "invalid"),
        ("{", "parse_error"),
    ],
)
def test_an_unusual_body_is_a_400_in_the_common_error_shape(alice_client, iris, raw, code):
    response = alice_client.post(URL, raw, content_type="application/json")
    assert answered_by_the_viewset(response)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code and response.json()["error"]["message"]
    assert not Prediction.objects.exists()


def test_missing_or_bad_credentials_are_401_with_the_bearer_challenge(api_client, iris):
    body = {"model": "iris", "input": SETOSA}
    for headers in ({}, {"HTTP_AUTHORIZATION": "Bearer not-a-token"}):
        response = plain(api_client, body, **headers)
        assert answered_by_the_viewset(response) and response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_deactivated_user_cannot_submit(alice, iris):
    client = client_for(alice)
    alice.is_active = False
    alice.save()
    response = plain(client, {"model": "iris", "input": SETOSA})
    assert response.status_code == 401 and not Prediction.objects.exists()


def test_a_client_asking_for_indented_json_gets_it_and_one_asking_for_html_gets_406(
    alice_client, iris
):
    body = {"model": "iris", "input": SETOSA}
    indented = plain(alice_client, body, HTTP_ACCEPT="application/json; indent=2")
    html = plain(alice_client, body, HTTP_ACCEPT="text/html")

    assert indented.status_code == 202 and indented.content.startswith(b'{\n  "id"')
    assert html.status_code == 406 and html.json()["error"]["code"] == "not_acceptable"
    assert Prediction.objects.count() == 1


def test_request_metrics_name_the_submit_by_its_route(client, alice_client, iris):
    def posts() -> float:
        counts = scrape(client).get("django_http_responses_total_by_status_view_method_total", {})
        return counts.get(labels(status="202", view="prediction-list", method="POST"), 0)

    before = posts()
    assert plain(alice_client, {"model": "iris", "input": SETOSA}).status_code == 202
    assert posts() == before + 1
