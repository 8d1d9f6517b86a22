"""Webhook endpoints and deliveries: registering, recording events, sending, retrying."""

import json
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone
from rest_framework import serializers
from standardwebhooks.webhooks import Webhook

from mlservice import rawsql
from mlservice.errors import Conflict, ServiceError
from predictions.models import Prediction
from predictions.queue import existing_job_ids
from predictions.serializers import PredictionSerializer
from webhooks import addresses, queue, sender
from webhooks.models import (
    EVENT_OF_STATUS,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Endpoint,
    Event,
    new_secret,
)

logger = logging.getLogger(__name__)

_TIMESTAMP = serializers.DateTimeField()


class URLRefused(ServiceError, code="url_refused"):
    default_detail = "Webhooks cannot be sent to this URL."


class TooManyEndpoints(ServiceError, status_code=409, code="too_many_endpoints"):
    default_detail = "You have as many webhook endpoints as allowed; delete one first."


def retry_for() -> timedelta:
    return timedelta(seconds=settings.WEBHOOKS_RETRY_FOR_SECONDS)


def _checked_url(url: str) -> str:
    try:
        addresses.resolve(url)
    except addresses.URLRefused as exc:
        raise URLRefused(str(exc), fields={"url": [str(exc)]})
    return url


# --- Endpoints -----------------------------------------------------------------------------


def endpoint_create(*, owner, url: str, events: list[str], active: bool = True) -> Endpoint:
    """A new endpoint with a fresh secret (the caller shows it once)."""
    if Endpoint.objects.filter(owner=owner).count() >= settings.WEBHOOKS_MAX_ENDPOINTS_PER_USER:
        raise TooManyEndpoints()
    return Endpoint.objects.create(
        owner=owner, url=_checked_url(url), events=list(dict.fromkeys(events)), active=active
    )


@transaction.atomic
def endpoint_update(
    *, endpoint: Endpoint, url: str | None = None, events=None, active: bool | None = None
) -> Endpoint:
    """Change the URL, events or active flag. Turning an endpoint on clears why it was off;
    turning it off abandons its pending deliveries."""
    if url is not None:
        endpoint.url = _checked_url(url)
    if events is not None:
        endpoint.events = list(dict.fromkeys(events))
    if active is True and not endpoint.active:
        endpoint.active, endpoint.disabled_reason, endpoint.failing_since = True, "", None
    elif active is False and endpoint.active:
        endpoint.active = False
        Delivery.objects.filter(endpoint=endpoint).abandon("The endpoint was turned off.")
    endpoint.save()
    return endpoint


def endpoint_rotate_secret(*, endpoint: Endpoint) -> Endpoint:
    """A new secret signs every attempt from now on, retries of earlier events included."""
    endpoint.secret = new_secret()
    endpoint.save(update_fields=["secret", "updated_at"])
    return endpoint


def _event_body(event: str, moment: datetime, data: dict) -> str:
    """The Standard Webhooks envelope, as the exact text that is signed and sent."""
    envelope = {"type": event, "timestamp": _TIMESTAMP.to_representation(moment), "data": data}
    return json.dumps(envelope, cls=DjangoJSONEncoder, separators=(",", ":"))


def endpoint_send_test(*, endpoint: Endpoint) -> Delivery:
    """Queue a `webhook.test` event to this endpoint, delivered and recorded as any other."""
    if not endpoint.active:
        raise Conflict("The endpoint is off; turn it on to send it events.", code="inactive")
    now = timezone.now()
    data = {"endpoint_id": str(endpoint.pk), "message": "A test event from mlservice."}
    with transaction.atomic():
        delivery = Delivery.objects.create(
            endpoint=endpoint,
            event=Event.TEST,
            payload=_event_body(Event.TEST, now, data),
            created_at=now,
            next_attempt_at=now,
            retry_until=now + retry_for(),
        )
        transaction.on_commit(lambda: queue.enqueue([delivery]))
    return delivery


# --- Events ----------------------------------------------------------------------------------


# (prediction, endpoint) for each active endpoint of a prediction's owner subscribed to an event.
_SUBSCRIBED_SQL = f"""
    SELECT p.id, e.id FROM {Prediction._meta.db_table} AS p
    JOIN {Endpoint._meta.db_table} AS e ON e.owner_id = p.user_id
    WHERE p.id = ANY(%(ids)s) AND e.active AND %(event)s = ANY(e.events)
"""


def deliveries_create_for_finished(*, prediction_ids: list, status: str) -> list[Delivery]:
    """One delivery for every active endpoint of the predictions' owners that subscribes to
    this finish. Called inside the transaction of the transition, so an event is recorded
    exactly when the finish commits; the first attempts are enqueued once it has."""
    event = EVENT_OF_STATUS.get(status)
    if event is None or not prediction_ids:
        return []
    now = timezone.now()
    with rawsql.cursor() as cursor:  # prepared: it runs with every finish
        cursor.execute(_SUBSCRIBED_SQL, {"ids": list(prediction_ids), "event": event.value})
        pairs = cursor.fetchall()
    deliveries = [
        Delivery(
            endpoint_id=endpoint_id,
            event=event,
            prediction_id=prediction_id,
            created_at=now,
            next_attempt_at=now,
            retry_until=now + retry_for(),
        )
        for prediction_id, endpoint_id in pairs
    ]
    if deliveries:
        Delivery.objects.bulk_create(deliveries, ignore_conflicts=True)
        transaction.on_commit(lambda: queue.enqueue(deliveries))
    return deliveries


# --- Deliveries ------------------------------------------------------------------------------


def delivery_redeliver(*, delivery: Delivery) -> Delivery:
    """Send a finished delivery again (same message id and payload), retried as a new one."""
    if not delivery.endpoint.active:
        raise Conflict("The endpoint is off; turn it on to send it events.", code="inactive")
    with transaction.atomic():
        if not delivery.redeliver(retry_for=retry_for()):
            raise Conflict("This delivery is still being sent.", code="delivery_pending")
        transaction.on_commit(lambda: queue.enqueue([delivery]))
    return delivery


def _payload(delivery: Delivery) -> str | None:
    """The delivery's body, rendered at its first attempt from the prediction as the API shows
    it, then kept so every attempt sends (and signs) the same text. None when the prediction
    is gone."""
    if delivery.payload:
        return delivery.payload
    prediction = (
        Prediction.objects.select_related("model", "version")
        .filter(pk=delivery.prediction_id)
        .first()
    )
    if prediction is None:
        return None
    body = _event_body(delivery.event, delivery.created_at, PredictionSerializer(prediction).data)
    Delivery.objects.filter(pk=delivery.pk, payload="").update(payload=body)
    delivery.refresh_from_db(fields=["payload"])
    return delivery.payload


def _signature_headers(delivery: Delivery, body: str) -> dict[str, str]:
    now = timezone.now()
    return {
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(delivery.endpoint.secret).sign(
            msg_id=delivery.message_id, timestamp=now, data=body
        ),
    }


def delivery_attempt(*, delivery_id) -> DeliveryAttempt | None:
    """One attempt of a pending, due delivery, recorded on its rows; None when there was
    nothing to attempt (finished, not due, or its endpoint is off)."""
    delivery = Delivery.objects.select_related("endpoint").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != DeliveryStatus.PENDING:
        return None
    if not delivery.endpoint.active:
        Delivery.objects.filter(pk=delivery.pk).abandon("The endpoint is off.")
        return None
    body = _payload(delivery)
    if body is None:
        Delivery.objects.filter(pk=delivery.pk).abandon("The prediction no longer exists.")
        return None
    claimed = Delivery.objects.claim(delivery.pk, lease_seconds=queue.lease_seconds())
    if claimed is None:
        return None  # another job has it, or it is not due yet
    delivery, attempt = claimed
    outcome = sender.post(delivery.endpoint.url, body.encode(), _signature_headers(delivery, body))
    _record(delivery, attempt, outcome)
    logger.info(
        "Webhook %s attempt %d: %s in %d ms",
        delivery.pk,
        attempt.number,
        outcome.response_status or outcome.error,
        outcome.duration_ms,
    )
    return attempt


def backoff(attempt_number: int) -> timedelta:
    """The wait after a failed attempt: doubling from the base, capped."""
    base = settings.WEBHOOKS_BACKOFF_BASE_SECONDS
    exponent = min(attempt_number - 1, 32)  # keeps the float finite; the cap applies long before
    return timedelta(seconds=min(base * 2**exponent, settings.WEBHOOKS_BACKOFF_MAX_SECONDS))


@transaction.atomic
def _record(delivery: Delivery, attempt: DeliveryAttempt, outcome: sender.Outcome) -> None:
    # By statement: the endpoint (and with it this attempt) may have been deleted meanwhile.
    DeliveryAttempt.objects.filter(pk=attempt.pk).update(
        duration_ms=outcome.duration_ms,
        response_status=outcome.response_status,
        response_excerpt=outcome.response_excerpt,
        error=outcome.error,
    )
    endpoint = delivery.endpoint
    if outcome.succeeded:
        if delivery.mark_succeeded():
            endpoint.note_success()
        return
    now = timezone.now()
    if outcome.refused:
        recorded = delivery.mark_failed(outcome.error)
    elif now >= delivery.retry_until:
        recorded = delivery.mark_failed(
            f"Gave up after {delivery.attempt_count} attempts. Last: {outcome.error}"
        )
    else:
        next_at = min(now + backoff(attempt.number), delivery.retry_until)
        recorded = delivery.schedule_retry(next_at, outcome.error)
    if not recorded:
        return  # deleted, or redelivered meanwhile: this outcome no longer decides anything
    failing_since = endpoint.note_failure(now)
    if now - failing_since >= retry_for():
        endpoint.disable(
            f"Turned off at {_TIMESTAMP.to_representation(now)}: every delivery since "
            f"{_TIMESTAMP.to_representation(failing_since)} failed. Last error: {outcome.error}"
        )


def deliveries_sweep(*, limit: int = 1000) -> int:
    """Enqueue the due attempts that have no job waiting: retries whose time has come, and
    deliveries whose job was lost (Redis flushed, or the worker died mid-attempt). Returns how
    many were enqueued."""
    due = list(Delivery.objects.due().order_by("next_attempt_at").only("attempt_count")[:limit])
    if not due:
        return 0
    waiting = existing_job_ids([delivery.job_id for delivery in due])
    return queue.enqueue([delivery for delivery in due if delivery.job_id not in waiting])
