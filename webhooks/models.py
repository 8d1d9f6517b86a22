"""Webhook endpoints and their deliveries. The rows are the truth: a delivery is sent, retried
and given up from its row, never from the RQ job that carries it.

A delivery's status changes only here, each change one conditional UPDATE: `claim` (an attempt
starts: the attempt count goes up and `next_attempt_at` moves past the attempt's lease, so a
worker that dies mid-attempt leaves the row due again), then `record` (succeeded, a retry
scheduled, or failed), or `abandon`, or `redeliver`.
"""

import base64
import secrets
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models, transaction
from django.db.models import F, Q
from django.utils import timezone

from predictions.models import Status as PredictionStatus


class Event(models.TextChoices):
    PREDICTION_SUCCEEDED = "prediction.succeeded", "Prediction succeeded"
    PREDICTION_FAILED = "prediction.failed", "Prediction failed"
    PREDICTION_CANCELLED = "prediction.cancelled", "Prediction cancelled"
    TEST = "webhook.test", "Test event"


# What an endpoint may subscribe to; test events go to any endpoint on request.
SUBSCRIBABLE = (Event.PREDICTION_SUCCEEDED, Event.PREDICTION_FAILED, Event.PREDICTION_CANCELLED)
EVENT_OF_STATUS = {
    PredictionStatus.SUCCEEDED: Event.PREDICTION_SUCCEEDED,
    PredictionStatus.FAILED: Event.PREDICTION_FAILED,
    PredictionStatus.CANCELLED: Event.PREDICTION_CANCELLED,
}

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def _all_events() -> list[str]:
    return [event.value for event in SUBSCRIBABLE]


class Endpoint(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=2000)
    events = ArrayField(
        models.CharField(max_length=32, choices=[(e.value, e.label) for e in SUBSCRIBABLE]),
        default=_all_events,
    )
    active = models.BooleanField(default=True)
    # Symmetric: the sender needs it to sign, so it is stored as is (never shown after creation).
    secret = models.CharField(max_length=64, default=new_secret)
    disabled_reason = models.TextField(blank=True)
    # Set at the first failed attempt since the last success; a day later the endpoint is off.
    failing_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    # What its owner is shown of an endpoint (the API), and staff besides the owner (the admin):
    # everything but the secret.
    SHOWN_FIELDS = (
        "id",
        "url",
        "events",
        "active",
        "disabled_reason",
        "failing_since",
        "created_at",
        "updated_at",
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.url

    def note_success(self) -> None:
        Endpoint.objects.filter(pk=self.pk, failing_since__isnull=False).update(failing_since=None)
        self.failing_since = None

    def note_failure(self, now: datetime) -> datetime:
        """Record a failed attempt; returns since when the endpoint has been failing."""
        Endpoint.objects.filter(pk=self.pk, failing_since__isnull=True).update(failing_since=now)
        self.refresh_from_db(fields=["failing_since", "active"])
        return self.failing_since

    def disable(self, reason: str) -> bool:
        """Turn the endpoint off with a reason its owner reads; its pending deliveries are
        abandoned. False when it was already off."""
        with transaction.atomic():
            updated = Endpoint.objects.filter(pk=self.pk, active=True).update(
                active=False, disabled_reason=reason
            )
            if updated:
                Delivery.objects.filter(endpoint=self).abandon("The endpoint was disabled.")
        if updated:
            self.active, self.disabled_reason = False, reason
        return bool(updated)


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    ABANDONED = "abandoned", "Abandoned"


class DeliveryQuerySet(models.QuerySet):
    def pending(self):
        return self.filter(status=DeliveryStatus.PENDING)

    def due(self, now: datetime | None = None):
        return self.pending().filter(next_attempt_at__lte=now or timezone.now())

    def claim(self, pk, *, lease_seconds: float) -> "tuple[Delivery, DeliveryAttempt] | None":
        """pending and due -> an attempt under way: one more attempt counted and recorded, and
        the row not due again until the lease has passed. None when it is not pending and due
        (another job has it, or it is finished)."""
        now = timezone.now()
        with transaction.atomic():
            updated = (
                self.due(now)
                .filter(pk=pk)
                .update(
                    attempt_count=F("attempt_count") + 1,
                    next_attempt_at=now + timedelta(seconds=lease_seconds),
                )
            )
            if not updated:
                return None
            delivery = Delivery.objects.select_related("endpoint").get(pk=pk)
            attempt = delivery.attempts.create(number=delivery.attempt_count, started_at=now)
        return delivery, attempt

    def abandon(self, reason: str) -> int:
        """pending -> abandoned for these deliveries; they will not be sent."""
        return self.pending().update(
            status=DeliveryStatus.ABANDONED, finished_at=timezone.now(), last_error=reason
        )


class Delivery(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=32, choices=Event.choices)
    # Not a foreign key: a delivery outlives a purged prediction as the record of what was sent.
    prediction_id = models.UUIDField(null=True, blank=True)
    # The `webhook-id` header: the same on every attempt, so receivers can drop duplicates.
    message_id = models.CharField(max_length=40, unique=True, default=new_message_id)
    # The exact JSON text sent (and signed); rendered at the first attempt.
    payload = models.TextField(blank=True)
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempt_count = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    retry_until = models.DateTimeField()
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(fields=["endpoint", "-created_at"], name="delivery_endpoint_recent"),
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_due",
                condition=Q(status="pending"),
            ),
        ]
        constraints = [
            # One delivery per event per endpoint: a prediction finishes once.
            models.UniqueConstraint(
                fields=["endpoint", "prediction_id", "event"],
                condition=Q(prediction_id__isnull=False),
                name="delivery_once_per_event",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} -> {self.endpoint_id} ({self.status})"

    @property
    def job_id(self) -> str:
        """The RQ job of this delivery's next attempt: one per attempt, so a job left behind
        by a dead worker never hides the next one."""
        return f"webhook-{self.pk}-{self.attempt_count}"

    def _finish(self, **values) -> bool:
        updated = Delivery.objects.filter(
            pk=self.pk, status=DeliveryStatus.PENDING, attempt_count=self.attempt_count
        ).update(**values)
        if updated:
            for field, value in values.items():
                setattr(self, field, value)
        return bool(updated)

    def mark_succeeded(self) -> bool:
        return self._finish(
            status=DeliveryStatus.SUCCEEDED, finished_at=timezone.now(), last_error=""
        )

    def schedule_retry(self, at: datetime, error: str) -> bool:
        return self._finish(next_attempt_at=at, last_error=error)

    def mark_failed(self, error: str) -> bool:
        return self._finish(
            status=DeliveryStatus.FAILED, finished_at=timezone.now(), last_error=error
        )

    def abandon(self, reason: str) -> bool:
        return self._finish(
            status=DeliveryStatus.ABANDONED, finished_at=timezone.now(), last_error=reason
        )

    def redeliver(self, *, retry_for: timedelta) -> bool:
        """A finished delivery goes out again now, with the same message id and payload, and
        is retried as a new one would be."""
        now = timezone.now()
        values = {
            "status": DeliveryStatus.PENDING,
            "next_attempt_at": now,
            "retry_until": now + retry_for,
            "finished_at": None,
            "last_error": "",
        }
        updated = (
            Delivery.objects.filter(pk=self.pk)
            .exclude(status=DeliveryStatus.PENDING)
            .update(**values)
        )
        if updated:
            for field, value in values.items():
                setattr(self, field, value)
        return bool(updated)


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    # Empty while under way; an attempt whose worker died stays without an outcome.
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="delivery_attempt_number")
        ]

    def __str__(self) -> str:
        return f"{self.delivery_id} attempt {self.number}"

    @property
    def succeeded(self) -> bool:
        return self.response_status is not None and 200 <= self.response_status < 300
