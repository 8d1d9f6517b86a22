"""Predictions that finish are sent to their owner's endpoints: the prediction as the API shows
it, once per event, recorded in the same transaction as the finish."""

import pytest
from django.db import connection, transaction

from predictions.models import Prediction, Status
from tests.support.api import SETOSA, VIRGINICA, client_for, submit
from tests.support.factories import UserFactory
from tests.support.webhooks import deliver_until_settled, deliveries, register
from tests.support.workers import run_worker
from webhooks import services
from webhooks.models import Delivery

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_succeeded_prediction_is_sent_as_the_api_shows_it(
    owner_client, endpoint, receiver, iris, fast_retries
):
    prediction = submit(owner_client, {"model": "iris", "input": SETOSA}).json()
    run_worker()
    deliver_until_settled()
    (request,) = receiver.received
    event = request.verified
    assert event["type"] == "prediction.succeeded"
    shown = owner_client.get(f"/api/v1/predictions/{prediction['id']}/").json()
    assert event["data"] == shown
    assert event["data"]["output"]["label"] == "setosa"
    (delivery,) = deliveries(owner_client, endpoint["id"])
    assert delivery["prediction_id"] == prediction["id"] and delivery["status"] == "succeeded"


def test_a_batch_is_sent_with_its_rows(owner_client, endpoint, receiver, iris, fast_retries):
    prediction = submit(owner_client, {"model": "iris", "inputs": [SETOSA, VIRGINICA]}).json()
    run_worker()
    deliver_until_settled()
    data = receiver.received[0].verified["data"]
    assert data["id"] == prediction["id"] and data["status"] == "succeeded"
    assert [row["label"] for row in data["output"]] == ["setosa", "virginica"]


def test_predictions_finished_together_each_get_their_event(
    owner_client, endpoint, receiver, iris, fast_retries
):
    ids = {submit(owner_client, {"model": "iris", "input": SETOSA}).json()["id"] for _ in range(5)}
    run_worker()  # single rows of one version run as one batch, stored in one statement
    deliver_until_settled()
    sent = {r.verified["data"]["id"] for r in receiver.received}
    assert sent == ids and len(receiver.received) == 5


def test_a_failed_prediction_goes_to_endpoints_that_subscribe_to_failures_only(
    owner_client, receiver, exploding, fast_retries
):
    failures = register(owner_client, receiver.url, events=["prediction.failed"]).json()
    register(owner_client, receiver.url, events=["prediction.succeeded"])
    receiver.secret = failures["secret"]
    prediction = submit(owner_client, {"model": "exploding", "input": {"x": 1000, "y": 2}}).json()
    run_worker()
    deliver_until_settled()
    (request,) = receiver.received
    assert request.verified["type"] == "prediction.failed"
    assert request.verified["data"]["id"] == prediction["id"]
    assert request.verified["data"]["error"]["code"]


def test_a_cancelled_prediction_is_sent_as_cancelled(
    owner_client, endpoint, receiver, iris, fast_retries
):
    prediction = submit(owner_client, {"model": "iris", "input": SETOSA}).json()
    assert owner_client.post(f"/api/v1/predictions/{prediction['id']}/cancel/").status_code == 200
    deliver_until_settled()
    (request,) = receiver.received
    assert request.verified["type"] == "prediction.cancelled"
    assert request.verified["data"]["status"] == "cancelled"


def test_other_users_predictions_are_not_sent(owner_client, endpoint, receiver, iris):
    stranger = client_for(UserFactory(username="stranger"))
    submit(stranger, {"model": "iris", "input": SETOSA})
    run_worker()
    assert not Delivery.objects.exists()


def test_a_turned_off_endpoint_gets_no_events(owner_client, endpoint, receiver, iris):
    owner_client.patch(f"/api/v1/webhooks/{endpoint['id']}/", {"active": False}, format="json")
    submit(owner_client, {"model": "iris", "input": SETOSA})
    run_worker()
    assert not Delivery.objects.exists()


def test_an_event_is_recorded_only_if_the_finish_commits(owner_client, endpoint, iris):
    prediction_id = submit(owner_client, {"model": "iris", "input": SETOSA}).json()["id"]
    prediction = Prediction.objects.get(pk=prediction_id)
    with pytest.raises(RuntimeError), transaction.atomic():
        assert prediction.mark_cancelled()
        assert Delivery.objects.count() == 1  # written with the finish, in its transaction
        raise RuntimeError("the finish rolls back")
    assert Prediction.objects.get(pk=prediction_id).status == Status.PENDING
    assert not Delivery.objects.exists()


def test_a_failure_in_webhooks_never_undoes_a_finish(owner_client, endpoint, iris, monkeypatch):
    def broken(**kwargs):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 / 0")  # a database error inside the finish's transaction

    monkeypatch.setattr(services, "deliveries_create_for_finished", broken)
    prediction_id = submit(owner_client, {"model": "iris", "input": SETOSA}).json()["id"]
    run_worker()
    shown = owner_client.get(f"/api/v1/predictions/{prediction_id}/").json()
    assert shown["status"] == "succeeded" and shown["output"]["label"] == "setosa"
    assert not Delivery.objects.exists()  # logged (webhooks.receivers), not sent
