"""Sending: signed as Standard Webhooks, retried with backoff from the rows, given up after a
day (and the endpoint turned off), never to a private address, never following redirects."""

from datetime import timedelta

import pytest
from django.utils import timezone

from mlservice.redis import redis_connection
from tests.support.webhooks import deliver_until_settled, deliveries, register, run_jobs, serving
from webhooks import queue as webhook_queue
from webhooks import services
from webhooks.models import Delivery, DeliveryStatus, Endpoint

pytestmark = pytest.mark.django_db(transaction=True)


def send_test(client, endpoint) -> dict:
    response = client.post(f"/api/v1/webhooks/{endpoint['id']}/test/")
    assert response.status_code == 202, response.content
    return response.json()


def a_day_passes() -> None:
    """What a day of failing looks like on the rows, without waiting for it."""
    day = timedelta(days=1, seconds=1)
    Endpoint.objects.exclude(failing_since=None).update(failing_since=timezone.now() - day)
    Delivery.objects.update(retry_until=timezone.now())


def test_the_receiver_verifies_the_signature_with_standardwebhooks(
    owner_client, endpoint, receiver, fast_retries
):
    send_test(owner_client, endpoint)
    deliver_until_settled()
    (request,) = receiver.received
    assert request.verified is not None  # Webhook(secret).verify(body, headers) accepted it
    assert set(request.verified) == {"type", "timestamp", "data"}
    headers = {name.lower(): value for name, value in request.headers.items()}
    assert headers["webhook-id"].startswith("msg_")
    assert headers["webhook-signature"].startswith("v1,")
    assert headers["content-type"] == "application/json"
    assert headers["host"] == receiver.url.split("/")[2]  # the name, though sent to the address


def test_a_receiver_failing_twice_then_succeeding_gets_the_event_once_as_a_success(
    owner_client, endpoint, receiver, fast_retries
):
    receiver.script = [500, 503, 200]
    send_test(owner_client, endpoint)
    deliver_until_settled()
    assert [r.answered for r in receiver.received] == [500, 503, 200]
    assert len(receiver.successes) == 1
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1  # one message
    assert all(r.verified for r in receiver.received)
    (delivery,) = deliveries(owner_client, endpoint["id"])
    assert delivery["status"] == "succeeded" and delivery["attempt_count"] == 3
    assert [a["response_status"] for a in delivery["attempts"]] == [500, 503, 200]
    assert delivery["attempts"][0]["error"] == "The endpoint answered 500."
    assert Endpoint.objects.get().failing_since is None  # the success ended the failing spell


def test_a_receiver_that_never_answers_is_retried_then_turned_off(
    owner_client, endpoint, receiver, fast_retries
):
    receiver.script = ["hang"]
    receiver.hang_seconds = 2
    send_test(owner_client, endpoint)
    run_jobs()
    services.deliveries_sweep()
    run_jobs()
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempt_count == 2
    a_day_passes()
    deliver_until_settled()

    (listed,) = deliveries(owner_client, endpoint["id"])
    assert listed["status"] == "failed" and listed["attempt_count"] == 3
    assert len(receiver.received) == 3
    for attempt in listed["attempts"]:
        assert attempt["response_status"] is None
        assert attempt["error"].startswith("No answer from 127.0.0.1:")
    assert listed["last_error"].startswith("Gave up after 3 attempts.")
    shown = owner_client.get(f"/api/v1/webhooks/{endpoint['id']}/").json()
    assert shown["active"] is False
    assert "every delivery since" in shown["disabled_reason"]
    assert "No answer from" in shown["disabled_reason"]


def test_turning_a_disabled_endpoint_back_on_clears_the_reason(
    owner_client, endpoint, receiver, fast_retries
):
    receiver.script = [500]
    send_test(owner_client, endpoint)
    run_jobs()
    a_day_passes()
    deliver_until_settled()
    assert Endpoint.objects.get().active is False
    response = owner_client.patch(
        f"/api/v1/webhooks/{endpoint['id']}/", {"active": True}, format="json"
    )
    assert response.json()["active"] is True and response.json()["disabled_reason"] == ""
    assert response.json()["failing_since"] is None


def test_pending_retries_of_an_endpoint_turned_off_are_abandoned(
    owner_client, endpoint, receiver, fast_retries, settings
):
    settings.WEBHOOKS_BACKOFF_BASE_SECONDS = 3600
    receiver.script = [500]
    send_test(owner_client, endpoint)
    run_jobs()
    assert Delivery.objects.get().next_attempt_at > timezone.now() + timedelta(minutes=59)
    owner_client.patch(f"/api/v1/webhooks/{endpoint['id']}/", {"active": False}, format="json")
    (delivery,) = deliveries(owner_client, endpoint["id"])
    assert delivery["status"] == "abandoned"
    assert delivery["last_error"] == "The endpoint was turned off."


def test_a_url_that_resolves_to_a_private_address_at_send_time_fails_clearly(
    owner_client, endpoint, receiver, fast_retries, settings
):
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = False  # registered while allowed
    send_test(owner_client, endpoint)
    deliver_until_settled()
    assert receiver.received == []
    (delivery,) = deliveries(owner_client, endpoint["id"])
    assert delivery["status"] == "failed" and delivery["attempt_count"] == 1
    message = "Refused: 127.0.0.1 resolves to 127.0.0.1, a loopback address."
    assert delivery["attempts"][0]["error"] == message
    assert delivery["last_error"] == message


def test_redirects_are_not_followed(owner_client, endpoint, receiver, fast_retries):
    receiver.script = [302]
    receiver.extra_headers = {"Location": "http://169.254.169.254/latest/meta-data/"}
    send_test(owner_client, endpoint)
    run_jobs()
    assert len(receiver.received) == 1
    attempt = Delivery.objects.get().attempts.get()
    assert attempt.response_status == 302
    assert attempt.error == "The endpoint answered 302 (redirects are not followed)."


def test_only_a_short_excerpt_of_the_answer_is_kept(
    owner_client, endpoint, receiver, fast_retries, settings
):
    settings.WEBHOOKS_RESPONSE_EXCERPT_CHARS = 20
    receiver.body = b"x" * 100_000
    send_test(owner_client, endpoint)
    run_jobs()
    attempt = Delivery.objects.get().attempts.get()
    assert attempt.response_status == 200 and attempt.response_excerpt == "x" * 20


def test_a_closed_port_is_a_connection_error_that_is_retried(owner_client, settings):
    settings.WEBHOOKS_BACKOFF_BASE_SECONDS = 60
    created = owner_client.post(
        "/api/v1/webhooks/", {"url": "http://127.0.0.1:9/hooks"}, format="json"
    ).json()  # port 9 (discard) is closed here
    owner_client.post(f"/api/v1/webhooks/{created['id']}/test/")
    run_jobs()
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.last_error.startswith("Could not connect to 127.0.0.1:9")
    wait = delivery.next_attempt_at - delivery.attempts.get().started_at
    assert timedelta(seconds=59) < wait < timedelta(seconds=62)


def test_the_backoff_doubles_up_to_its_cap(settings):
    settings.WEBHOOKS_BACKOFF_BASE_SECONDS = 30
    settings.WEBHOOKS_BACKOFF_MAX_SECONDS = 3600
    waits = [services.backoff(n).total_seconds() for n in range(1, 10)]
    assert waits == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert services.backoff(10_000).total_seconds() == 3600


def test_a_delivery_whose_job_was_lost_is_sent_by_the_sweep(
    owner_client, endpoint, receiver, fast_retries
):
    send_test(owner_client, endpoint)
    redis_connection().flushdb()  # the queue lost its job; the row is still pending
    run_jobs()
    assert receiver.received == []
    assert services.deliveries_sweep() == 1
    assert services.deliveries_sweep() == 0  # its job is waiting: not enqueued twice
    run_jobs()
    assert len(receiver.successes) == 1
    assert Delivery.objects.get().status == DeliveryStatus.SUCCEEDED


def test_an_attempt_whose_worker_died_is_retried_after_its_lease(
    owner_client, endpoint, receiver, fast_retries
):
    send_test(owner_client, endpoint)
    delivery = Delivery.objects.get()
    assert Delivery.objects.claim(delivery.pk, lease_seconds=60) is not None
    assert services.deliveries_sweep() == 0  # held by its (dead) attempt for the lease
    Delivery.objects.update(next_attempt_at=timezone.now())  # the lease ran out
    redis_connection().flushdb()
    assert services.deliveries_sweep() == 1
    run_jobs()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.attempt_count == 2
    first, second = delivery.attempts.order_by("number")
    assert first.duration_ms is None and first.response_status is None  # no outcome recorded
    assert second.response_status == 200
    assert len(receiver.successes) == 1


def test_https_is_verified_against_the_name_while_connecting_to_the_checked_address(
    owner_client, certificate, fast_retries
):
    with serving(tls=certificate, host="localhost") as tls_receiver:
        created = register(owner_client, tls_receiver.url).json()
        tls_receiver.secret = created["secret"]
        send_test(owner_client, created)
        run_jobs()
    (request,) = tls_receiver.received
    assert request.verified["type"] == "webhook.test"
    assert Delivery.objects.get().status == DeliveryStatus.SUCCEEDED


def test_a_certificate_for_another_name_fails_the_attempt(owner_client, certificate, fast_retries):
    with serving(tls=certificate, host="127.0.0.1") as tls_receiver:  # the cert says localhost
        created = register(owner_client, tls_receiver.url).json()
        send_test(owner_client, created)
        run_jobs()
    assert tls_receiver.received == []
    attempt = Delivery.objects.get().attempts.get()
    assert attempt.error.startswith("TLS with 127.0.0.1:") and attempt.response_status is None


def test_an_endpoint_deleted_during_an_attempt_leaves_nothing_behind(
    owner_client, endpoint, receiver, fast_retries
):
    receiver.script = [500]
    receiver.during = lambda: owner_client.delete(f"/api/v1/webhooks/{endpoint['id']}/")
    send_test(owner_client, endpoint)
    run_jobs()
    assert len(receiver.received) == 1
    assert not Endpoint.objects.exists() and not Delivery.objects.exists()
    assert not services.deliveries_sweep()
    assert webhook_queue.get_queue().failed_job_registry.count == 0  # the job did not crash
