"""A worker killed while it sends a webhook loses no event: the delivery row stays pending and
the next worker's periodic sweep sends it once the dead attempt's lease has run out."""

import signal

import pytest

from tests.support.api import SETOSA, submit
from tests.support.faults import figure, log_of, wait_until
from webhooks.models import Delivery, DeliveryStatus

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

# Workers that serve both queues, sweep every second, and give up on a silent receiver fast:
# an attempt's lease is its timeouts (1 + 2 x 1 s, plus 2) and 1 s of grace.
FAST_WEBHOOKS = {
    "RECONCILE_INTERVAL_SECONDS": 1,
    "WEBHOOKS_CONNECT_TIMEOUT_SECONDS": 1,
    "WEBHOOKS_READ_TIMEOUT_SECONDS": 1,
    "WEBHOOKS_LEASE_GRACE_SECONDS": 1,
}
QUEUES = ("predictions", "default")


def test_a_worker_killed_mid_delivery_loses_no_event(
    owner_client, endpoint, receiver, iris, processes
):
    receiver.script = ["hang", 200]  # the first attempt is in flight when the worker dies
    receiver.hang_seconds = 30
    prediction_id = submit(owner_client, {"model": "iris", "input": SETOSA}).json()["id"]
    first = processes.worker(queues=QUEUES, **FAST_WEBHOOKS)
    if not receiver.arrived.wait(60):
        pytest.fail(f"the event never reached the receiver:\n{log_of(first)}")
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempt_count == 1

    second = processes.worker(queues=QUEUES, **FAST_WEBHOOKS)
    took = wait_until(
        lambda: Delivery.objects.get().status == DeliveryStatus.SUCCEEDED,
        60,
        f"the next worker never delivered the event:\n{log_of(second)}",
    )
    first_try, second_try = receiver.received
    assert first_try.answered is None and second_try.answered == 200
    assert first_try.headers["webhook-id"] == second_try.headers["webhook-id"]
    assert second_try.verified["data"]["id"] == prediction_id
    assert second_try.verified["type"] == "prediction.succeeded"
    attempts = list(Delivery.objects.get().attempts.order_by("number"))
    assert [a.response_status for a in attempts] == [None, 200]
    figure("webhook delivered after the kill, from the next worker's start (s)", round(took, 1))
