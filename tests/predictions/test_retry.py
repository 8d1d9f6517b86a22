"""Retrying a prediction: at most one retry at a time, and the Idempotency-Key works as on
submit. Parallel requests run in threads, each with its own database connection."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections

from billing.models import LedgerEntry
from predictions.models import Prediction
from tests.support.api import SETOSA, client_for, submit
from tests.support.ledger import set_price

pytestmark = pytest.mark.django_db(transaction=True)


def cancelled_prediction(client) -> str:
    prediction_id = submit(client, {"model": "iris", "input": SETOSA}).json()["id"]
    assert client.post(f"/api/v1/predictions/{prediction_id}/cancel/").status_code == 200
    return prediction_id


def in_parallel(count: int, request):
    def call(_):
        try:
            return request()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(call, range(count)))


def test_three_parallel_retries_make_one_prediction_reserved_once(iris, alice):
    set_price(iris, "2")
    prediction_id = cancelled_prediction(client_for(alice))

    responses = in_parallel(
        3, lambda: client_for(alice).post(f"/api/v1/predictions/{prediction_id}/retry/")
    )

    assert sorted(r.status_code for r in responses) == [200, 200, 202]
    assert len({r.json()["id"] for r in responses}) == 1
    retried = Prediction.objects.get(retry_of_id=prediction_id)
    assert LedgerEntry.objects.filter(prediction_id=retried.pk, kind="reserve").count() == 1
    assert client_for(alice).get("/api/v1/billing/balance/").json()["reserved"] == "2.0000"


def test_a_retry_while_the_first_retry_is_pending_answers_the_first(iris, alice_client):
    prediction_id = cancelled_prediction(alice_client)
    first = alice_client.post(f"/api/v1/predictions/{prediction_id}/retry/")
    second = alice_client.post(f"/api/v1/predictions/{prediction_id}/retry/")
    assert (first.status_code, second.status_code) == (202, 200)
    assert second.json()["id"] == first.json()["id"]


def test_a_finished_retry_can_be_retried_again_from_the_original(iris, alice_client):
    prediction_id = cancelled_prediction(alice_client)
    first = alice_client.post(f"/api/v1/predictions/{prediction_id}/retry/").json()["id"]
    alice_client.post(f"/api/v1/predictions/{first}/cancel/")
    again = alice_client.post(f"/api/v1/predictions/{prediction_id}/retry/")
    assert again.status_code == 202 and again.json()["id"] != first


def test_the_idempotency_key_on_retry_answers_the_same_prediction(iris, alice_client):
    prediction_id = cancelled_prediction(alice_client)
    url = f"/api/v1/predictions/{prediction_id}/retry/"
    first = alice_client.post(url, HTTP_IDEMPOTENCY_KEY="retry-1")
    alice_client.post(f"/api/v1/predictions/{first.json()['id']}/cancel/")
    again = alice_client.post(url, HTTP_IDEMPOTENCY_KEY="retry-1")
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["id"] == first.json()["id"]
    assert Prediction.objects.filter(retry_of_id=prediction_id).count() == 1


def test_an_idempotency_key_used_for_a_submit_is_a_conflict_on_retry(iris, alice_client):
    prediction_id = cancelled_prediction(alice_client)
    submit(alice_client, {"model": "iris", "input": SETOSA}, HTTP_IDEMPOTENCY_KEY="k")
    response = alice_client.post(
        f"/api/v1/predictions/{prediction_id}/retry/", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_conflict"
