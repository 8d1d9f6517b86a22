"""Reserve at submit, capture on success, release in full on failure or cancel: end to end,
through the API and a real (burst) worker."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from billing.models import LedgerEntry
from billing.services import CAPTURE_STATUS, RELEASE_STATUSES, settle
from predictions import housekeeping
from predictions.models import TERMINAL, Prediction, Status
from tests.support.api import SETOSA, VIRGINICA, get, submit
from tests.support.ledger import account, kinds, ledger_sums, set_price
from tests.support.workers import run_worker

pytestmark = pytest.mark.django_db(transaction=True)


def balance(client) -> dict:
    return client.get("/api/v1/billing/balance/").json()


def settlements(prediction_id) -> list[str]:
    return list(
        LedgerEntry.objects.filter(prediction_id=prediction_id)
        .exclude(kind="reserve")
        .values_list("kind", flat=True)
    )


def test_a_batch_reserves_price_times_rows_and_captures_it_on_success(iris, alice, alice_client):
    set_price(iris, "1.5")
    response = submit(alice_client, {"model": "iris", "inputs": [SETOSA, VIRGINICA, SETOSA]})
    assert response.status_code == 202
    assert response.json()["cost"] == "4.5000"
    assert balance(alice_client) == {"available": "95.5000", "reserved": "4.5000"}

    run_worker()

    prediction = get(alice_client, response.json()["id"]).json()
    assert prediction["status"] == "succeeded"
    assert prediction["cost"] == "4.5000"
    assert balance(alice_client) == {"available": "95.5000", "reserved": "0.0000"}
    assert kinds(alice) == ["grant", "reserve", "capture"]
    assert ledger_sums(alice) == (Decimal("95.5"), Decimal(0))


def test_a_single_row_prediction_is_captured_on_success(iris, alice, alice_client):
    set_price(iris, "2")
    response = submit(alice_client, {"model": "iris", "input": SETOSA})
    run_worker()
    assert get(alice_client, response.json()["id"]).json()["status"] == "succeeded"
    assert balance(alice_client) == {"available": "98.0000", "reserved": "0.0000"}
    assert settlements(response.json()["id"]) == ["capture"]
    call_command("audit_ledger")


def test_free_models_cost_nothing_and_write_no_ledger_entries(iris, alice, alice_client):
    response = submit(alice_client, {"model": "iris", "input": SETOSA})
    assert response.json()["cost"] == "0.0000"
    run_worker()
    assert balance(alice_client) == {"available": "100.0000", "reserved": "0.0000"}
    assert kinds(alice) == ["grant"]


def test_a_failed_prediction_is_refunded_in_full(exploding, alice, alice_client):
    set_price(exploding, "7")
    response = submit(alice_client, {"model": "exploding", "input": {"x": 1000, "y": 2}})
    assert balance(alice_client)["available"] == "93.0000"
    run_worker()
    assert get(alice_client, response.json()["id"]).json()["status"] == "failed"
    assert balance(alice_client) == {"available": "100.0000", "reserved": "0.0000"}
    assert kinds(alice) == ["grant", "reserve", "release"]


def test_a_cancelled_prediction_is_refunded_in_full(iris, alice, alice_client):
    set_price(iris, "5")
    prediction_id = submit(alice_client, {"model": "iris", "input": SETOSA}).json()["id"]
    cancelled = alice_client.post(f"/api/v1/predictions/{prediction_id}/cancel/")
    assert cancelled.json()["status"] == "cancelled"
    assert balance(alice_client) == {"available": "100.0000", "reserved": "0.0000"}
    run_worker()  # the job finds the row cancelled: nothing more happens
    assert alice_client.post(f"/api/v1/predictions/{prediction_id}/cancel/").status_code == 409
    assert settlements(prediction_id) == ["release"]
    assert kinds(alice) == ["grant", "reserve", "release"]


def test_a_retry_is_charged_as_a_new_prediction_and_never_twice(exploding, alice, alice_client):
    set_price(exploding, "10")
    first = submit(alice_client, {"model": "exploding", "input": {"x": 1000, "y": 2}}).json()["id"]
    run_worker()
    retried = alice_client.post(f"/api/v1/predictions/{first}/retry/")
    assert retried.status_code == 202
    assert retried.json()["cost"] == "10.0000"
    assert balance(alice_client)["available"] == "90.0000"
    run_worker()

    assert balance(alice_client) == {"available": "100.0000", "reserved": "0.0000"}
    for prediction_id in (first, retried.json()["id"]):
        assert settlements(prediction_id) == ["release"]
        assert LedgerEntry.objects.filter(prediction_id=prediction_id, kind="reserve").count() == 1
    call_command("audit_ledger")


def test_an_idempotent_resubmit_is_charged_once(iris, alice, alice_client):
    set_price(iris, "3")
    body = {"model": "iris", "input": SETOSA}
    first = submit(alice_client, body, HTTP_IDEMPOTENCY_KEY="order-1")
    again = submit(alice_client, body, HTTP_IDEMPOTENCY_KEY="order-1")
    assert (first.status_code, again.status_code) == (202, 200)
    assert first.json()["id"] == again.json()["id"]
    assert balance(alice_client) == {"available": "97.0000", "reserved": "3.0000"}
    assert kinds(alice) == ["grant", "reserve"]


def _orphan(prediction_id: str, *, attempts: int) -> Prediction:
    """The state a worker leaves behind when it dies mid-run: running, lease expired."""
    prediction = Prediction.objects.get(pk=prediction_id)
    assert prediction.mark_running(lease_seconds=60)
    Prediction.objects.filter(pk=prediction_id).update(
        attempts=attempts, lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    return prediction


def test_reconcile_runs_never_charge_a_requeued_prediction_twice(iris, alice, alice_client):
    set_price(iris, "4")
    prediction_id = submit(alice_client, {"model": "iris", "input": SETOSA}).json()["id"]
    _orphan(prediction_id, attempts=1)

    assert housekeeping.reconcile()["requeued"] == 1
    housekeeping.reconcile()
    assert settlements(prediction_id) == []  # back to pending: still reserved, not settled
    run_worker()
    housekeeping.reconcile()

    assert Prediction.objects.get(pk=prediction_id).status == "succeeded"
    assert settlements(prediction_id) == ["capture"]
    assert balance(alice_client) == {"available": "96.0000", "reserved": "0.0000"}
    call_command("audit_ledger")


def test_reconcile_refunds_a_prediction_whose_worker_died_too_often_once(
    iris, alice, alice_client, settings
):
    set_price(iris, "4")
    prediction_id = submit(alice_client, {"model": "iris", "input": SETOSA}).json()["id"]
    _orphan(prediction_id, attempts=settings.PREDICTION_MAX_ATTEMPTS)

    assert housekeeping.reconcile()["failed"] == 1
    assert housekeeping.reconcile()["failed"] == 0

    assert get(alice_client, prediction_id).json()["error"]["code"] == "worker_lost"
    assert settlements(prediction_id) == ["release"]
    assert balance(alice_client) == {"available": "100.0000", "reserved": "0.0000"}
    call_command("audit_ledger")


def test_insufficient_credit_is_402_with_balance_and_price_and_creates_nothing(
    iris, alice, alice_client
):
    set_price(iris, "30")
    body = {"model": "iris", "inputs": [SETOSA, VIRGINICA]}
    assert submit(alice_client, body).status_code == 202  # 60 of 100

    response = submit(alice_client, body)

    assert response.status_code == 402
    error = response.json()["error"]
    assert error["code"] == "insufficient_credits"
    assert error["balance"] == "40.0000"
    assert error["price"] == "60.0000"
    assert error["price_per_row"] == "30.0000"
    assert error["rows"] == 2
    assert "60.0000" in error["message"] and "40.0000" in error["message"]
    assert Prediction.objects.filter(user=alice).count() == 1
    assert kinds(alice) == ["grant", "reserve"]
    assert account(alice).available == Decimal(40)


def test_rows_run_together_settle_each_on_its_own(exploding, alice, alice_client):
    set_price(exploding, "1")
    good = [
        submit(alice_client, {"model": "exploding", "input": {"x": i, "y": 1}}).json()["id"]
        for i in range(3)
    ]
    bad = submit(alice_client, {"model": "exploding", "input": {"x": 500, "y": 1}}).json()["id"]
    run_worker()

    for prediction_id in good:
        assert settlements(prediction_id) == ["capture"]
    assert settlements(bad) == ["release"]
    assert balance(alice_client) == {"available": "97.0000", "reserved": "0.0000"}
    call_command("audit_ledger")


def test_billing_settles_on_exactly_the_final_statuses_of_a_prediction():
    # billing may not import predictions, so it keeps its own copy of the statuses it settles on.
    assert CAPTURE_STATUS == Status.SUCCEEDED
    assert {CAPTURE_STATUS, *RELEASE_STATUSES} == set(TERMINAL)


def test_settling_a_prediction_that_has_not_finished_is_refused(iris, alice, alice_client):
    set_price(iris, "2")
    prediction_id = submit(alice_client, {"model": "iris", "input": SETOSA}).json()["id"]
    with pytest.raises(ValueError, match="terminal status"):
        settle(prediction_id=prediction_id, status=Status.RUNNING)
    assert settlements(prediction_id) == []
