"""A prediction is a database row; the row, never the RQ job, is the source of truth.

Its status changes only here: one row through `Prediction`'s methods (`mark_running`,
`mark_succeeded`, `mark_failed`, `mark_cancelled`, `release_for_retry`, `store_chunk`), many
rows at once through `PredictionQuerySet`'s (`claim_singles`, `store_outputs`, `hand_back`,
`expire_leases`). Each is a conditional UPDATE, so a prediction completes at most once, and a
terminal status settles the prediction's credits and sends `prediction_finished`
(predictions/signals.py) in the same transaction.
"""

import json
import uuid

from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Q
from django.utils import timezone

from billing.services import settle
from mlservice import rawsql
from predictions.signals import prediction_finished
from registry.models import Route


class Status(models.TextChoices):  # labels derived from the names: "Pending", ...
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)


def _json(value):
    # psycopg returns jsonb as Python objects already; raw strings only from older drivers.
    return json.loads(value) if isinstance(value, str) else value


class PredictionQuerySet(models.QuerySet):
    def pending(self):
        return self.filter(status=Status.PENDING)

    def running(self):
        return self.filter(status=Status.RUNNING)

    def terminal(self):
        return self.filter(status__in=TERMINAL)

    def in_flight(self):
        return self.filter(status__in=[Status.PENDING, Status.RUNNING])

    def pending_single_versions(self) -> list[tuple[int, int]]:
        """[(version id, its timeout)] of every version with pending single-row predictions."""
        rows = self.pending().filter(is_batch=False)
        return list(rows.values_list("version_id", "version__timeout_seconds").distinct())

    def of(self, user):
        return self.filter(user=user)

    def oldest_pending_age(self) -> float | None:
        """Seconds the oldest pending prediction has waited; None when none is pending."""
        oldest = self.pending().order_by("created_at").values_list("created_at", flat=True)
        first = oldest.first()
        return None if first is None else (timezone.now() - first).total_seconds()

    # --- Transitions of many rows at once --------------------------------------------------

    def claim_singles(self, *, first_id, version_id: int, limit: int, lease_seconds: float):
        """pending -> running for `first_id` plus up to limit-1 other pending single-row
        predictions of the same version, oldest first, in one statement. Rows another worker
        holds are skipped (SKIP LOCKED), so concurrent workers never claim the same row.
        Returns [(id, attempts, input)] for every row claimed; empty when there was none."""
        params = {
            "pending": Status.PENDING.value,
            "running": Status.RUNNING.value,
            "first": first_id,
            "version": version_id,
            "limit": limit,
            "lease": lease_seconds,
        }
        with rawsql.cursor() as cursor:
            # Planned for its values each time: a plan prepared for any status cannot use the
            # partial index of in-flight rows, and reads every row the version ever had.
            cursor.execute(_CLAIM_SINGLES_SQL, params, prepare=False)
            rows = cursor.fetchall()
        # Whatever was claimed is this worker's to finish now, even when another worker got
        # `first_id` itself: returning them unrun would leave them `running` until their lease
        # runs out.
        return [(pk, attempts, _json(row)) for pk, attempts, row in rows]

    def store_outputs(self, results: list[tuple], *, load_seconds: float | None = None) -> list:
        """running -> succeeded for many predictions with their outputs, in one statement.
        `results` is [(id, attempts, output)]; a row is only written if it is still running
        under that attempt. `load_seconds`: the model load they all waited for, if any.
        Returns the ids written."""
        if not results:
            return []
        values = ", ".join(["(%s::uuid, %s::int, %s::jsonb)"] * len(results))
        rows = [v for pk, attempt, out in results for v in (pk, attempt, json.dumps(out))]
        # In the statement's order.
        params = [Status.SUCCEEDED.value, load_seconds, *rows, Status.RUNNING.value]
        with transaction.atomic(), rawsql.cursor() as cursor:
            cursor.execute(_STORE_OUTPUTS_SQL.format(values=values), params)
            written = cursor.fetchall()
            # Charged predictions capture their credits in the same transaction as the status.
            for pk, cost in written:
                if cost:
                    settle(prediction_id=pk, status=Status.SUCCEEDED)
            if written:
                ids = [pk for pk, _ in written]
                prediction_finished.send(Prediction, prediction_ids=ids, status=Status.SUCCEEDED)
        return [pk for pk, _ in written]

    def hand_back(self, ids) -> list["Prediction"]:
        """running -> pending for those of `ids` still running (their worker is stopping);
        finished or cancelled ones are left as they are. Returns the predictions handed back,
        with their versions, for the caller to enqueue again."""
        running = self.running().filter(pk__in=ids).select_related("version")
        return [prediction for prediction in running if prediction.release_for_retry()]

    def expire_leases(self, *, max_attempts: int, chunk_size: int = 1000):
        """Running predictions whose lease ran out (their worker died): back to pending while
        they have attempts left, else failed as `worker_lost`. Returns (released, failed), the
        released with their versions, for the caller to enqueue again."""
        released, failed = [], []
        expired = self.running().filter(lease_expires_at__lt=timezone.now())
        for prediction in expired.select_related("version").iterator(chunk_size=chunk_size):
            if prediction.attempts >= max_attempts:
                message = f"The worker running this prediction stopped {prediction.attempts} times."
                if prediction.mark_failed("worker_lost", message):
                    failed.append(prediction)
            elif prediction.release_for_retry():
                released.append(prediction)
        return released, failed


class Prediction(models.Model):
    class Source(models.TextChoices):
        JSON = "json", "JSON"
        CSV = "csv", "CSV upload"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of their own: prediction_user_recent and prediction_version_time lead with
    # them, and every index is written again each time a prediction changes status.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="predictions",
        db_index=False,
    )
    model = models.ForeignKey(
        "registry.MLModel", on_delete=models.PROTECT, related_name="predictions"
    )
    version = models.ForeignKey(
        "registry.ModelVersion",
        on_delete=models.PROTECT,
        related_name="predictions",
        db_index=False,
    )
    requested_version = models.CharField(max_length=64, help_text="Number or alias as sent.")
    route = models.CharField(
        max_length=8,
        choices=Route.choices,
        default=Route.ALIAS,
        help_text="Why its version served it: the alias, the alias's canary split, or a "
        "version the request named.",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    is_batch = models.BooleanField(default=False)
    source = models.CharField(max_length=4, choices=Source.choices, default=Source.JSON)
    row_count = models.PositiveIntegerField(default=1)
    # Credits reserved at submit (version price x rows); captured on success, released otherwise.
    cost = models.DecimalField(max_digits=16, decimal_places=4, default=0)
    # A single row's input and output live here; a batch's rows live in PredictionChunk.
    input = models.JSONField(null=True, blank=True)
    output = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    progress = models.FloatField(default=0.0)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # NULL (not "") when absent, so the per-user unique constraint ignores keyless requests.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    request_fingerprint = models.CharField(max_length=64, blank=True)
    retry_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="retries",
        db_index=False,  # indexed where set only (prediction_retry_of): most rows are no retry
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The worker loads the model before it starts the prediction, so started -> finished is
    # inference alone and a cold start shows here (and in the end-to-end time).
    load_seconds = models.FloatField(
        null=True,
        blank=True,
        help_text="Seconds it waited for the worker to load the model (a cold start); empty "
        "when the model was loaded already.",
    )

    objects = PredictionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="prediction_user_recent"),
            models.Index(
                fields=["status", "created_at"],
                name="prediction_status_age",
                condition=Q(status__in=[Status.PENDING, Status.RUNNING]),
            ),
            models.Index(fields=["version", "created_at"], name="prediction_version_time"),
            models.Index(
                fields=["retry_of"],
                name="prediction_retry_of",
                condition=Q(retry_of__isnull=False),
            ),
            # Operations: the dashboard's window scans read only this index (index-only scan);
            # metrics read recent finishes through the second.
            models.Index(
                fields=["created_at"],
                include=["version", "status", "started_at", "finished_at"],
                name="prediction_created_cover",
            ),
            models.Index(
                fields=["finished_at"],
                name="prediction_finished",
                condition=Q(finished_at__isnull=False),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="prediction_idempotency_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"

    @property
    def job_id(self) -> str:
        """Deterministic RQ job id: re-enqueueing the same prediction targets the same job."""
        return f"prediction-{self.id}"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    # --- Transitions: each is one conditional UPDATE, so a prediction completes at most once. ---

    def _transition(self, *, from_status, attempt=None, **values) -> bool:
        condition = Q(pk=self.pk, status__in=from_status)
        if attempt is not None:
            condition &= Q(attempts=attempt)
        if values.get("status") in TERMINAL:
            # A finished prediction settles its credits in the same transaction as its status.
            with transaction.atomic():
                updated = Prediction.objects.filter(condition).update(**values)
                if updated:
                    settle(prediction_id=self.pk, status=values["status"])
                    prediction_finished.send(
                        Prediction, prediction_ids=[self.pk], status=values["status"]
                    )
        else:
            updated = Prediction.objects.filter(condition).update(**values)
        if updated:
            for field, value in values.items():
                if not hasattr(value, "resolve_expression"):
                    setattr(self, field, value)
        return bool(updated)

    def mark_running(self, *, lease_seconds: float) -> bool:
        now = timezone.now()
        claimed = self._transition(
            from_status=[Status.PENDING],
            status=Status.RUNNING,
            started_at=now,
            attempts=F("attempts") + 1,
            lease_expires_at=now + timezone.timedelta(seconds=lease_seconds),
        )
        if claimed:
            self.refresh_from_db(fields=["attempts"])
        return claimed

    def mark_succeeded(self, output=None, *, load_seconds: float | None = None) -> bool:
        return self._transition(
            from_status=[Status.RUNNING],
            attempt=self.attempts,
            status=Status.SUCCEEDED,
            output=output,
            load_seconds=load_seconds,
            progress=1.0,
            finished_at=timezone.now(),
            lease_expires_at=None,
        )

    def mark_failed(self, code: str, message: str, *, from_status=(Status.RUNNING,)) -> bool:
        attempt = self.attempts if tuple(from_status) == (Status.RUNNING,) else None
        return self._transition(
            from_status=list(from_status),
            attempt=attempt,
            status=Status.FAILED,
            error={"code": code, "message": message[:2000]},
            finished_at=timezone.now(),
            lease_expires_at=None,
        )

    def mark_cancelled(self) -> bool:
        return self._transition(
            from_status=[Status.PENDING, Status.RUNNING],
            status=Status.CANCELLED,
            finished_at=timezone.now(),
            lease_expires_at=None,
            error={"code": "cancelled", "message": "Cancelled by the user."},
        )

    def release_for_retry(self) -> bool:
        """A running row whose worker vanished or stopped goes back to pending."""
        return self._transition(
            from_status=[Status.RUNNING],
            attempt=self.attempts,
            status=Status.PENDING,
            lease_expires_at=None,
            progress=0.0,
        )

    def store_chunk(self, *, chunk_id: int, outputs: bytes, progress: float) -> bool:
        """A running batch's chunk outputs and its progress, in one statement (one commit per
        chunk). False when this attempt no longer runs the batch (cancelled, or taken over
        after its lease ran out): nothing is written then, and the caller stops."""
        params = {
            "outputs": outputs,
            "chunk": chunk_id,
            "progress": progress,
            "prediction": self.pk,
            "running": Status.RUNNING.value,
            "attempts": self.attempts,
        }
        with rawsql.cursor() as cursor:
            cursor.execute(_STORE_CHUNK_SQL, params)
            still_running = cursor.rowcount
        if still_running:
            self.progress = progress
        return bool(still_running)


class PredictionChunk(models.Model):
    """A slice of a batch: its input rows and, once run, their outputs, in order, stored
    column-wise (`predictions.columns`)."""

    prediction = models.ForeignKey(Prediction, on_delete=models.CASCADE, related_name="chunks")
    seq = models.PositiveIntegerField()
    start = models.PositiveIntegerField(help_text="Index of the first row in the batch.")
    # .npy float64 matrices: the validated features in schema order; the model's outputs.
    input_matrix = models.BinaryField()
    output_matrix = models.BinaryField(null=True, blank=True)

    class Meta:
        ordering = ["prediction", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["prediction", "seq"], name="prediction_chunk_seq")
        ]

    def __str__(self) -> str:
        return f"{self.prediction_id} chunk {self.seq}"


_PREDICTIONS = Prediction._meta.db_table
_CHUNKS = PredictionChunk._meta.db_table

_CLAIM_SINGLES_SQL = f"""
    WITH picked AS (
        SELECT id FROM {_PREDICTIONS}
        WHERE status = %(pending)s AND is_batch = false
          AND (id = %(first)s OR version_id = %(version)s)
        ORDER BY (id = %(first)s) DESC, created_at
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    )
    UPDATE {_PREDICTIONS} AS p
    SET status = %(running)s, started_at = now(), attempts = p.attempts + 1,
        lease_expires_at = now() + make_interval(secs => %(lease)s::float8)
    FROM picked WHERE p.id = picked.id
    RETURNING p.id, p.attempts, p.input
"""

# {values} is one "(%s::uuid, %s::int, %s::jsonb)" per row written.
_STORE_OUTPUTS_SQL = f"""
    UPDATE {_PREDICTIONS} AS p
    SET status = %s, output = v.output, progress = 1.0, finished_at = now(),
        lease_expires_at = NULL, load_seconds = %s::float8
    FROM (VALUES {{values}}) AS v(id, attempts, output)
    WHERE p.id = v.id AND p.status = %s AND p.attempts = v.attempts
    RETURNING p.id, p.cost
"""

_STORE_CHUNK_SQL = f"""
    WITH chunk AS (UPDATE {_CHUNKS} SET output_matrix = %(outputs)s WHERE id = %(chunk)s)
    UPDATE {_PREDICTIONS} SET progress = %(progress)s
    WHERE id = %(prediction)s AND status = %(running)s AND attempts = %(attempts)s
"""


class ModelLoad(models.Model):
    """A worker loaded a version's predictor into memory: a cold start, and how long it took.
    The predictions that waited for it carry the same time in `Prediction.load_seconds`."""

    version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.CASCADE, related_name="loads"
    )
    seconds = models.FloatField()
    process = models.CharField(max_length=255, help_text="host:pid of the worker.")
    loaded_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-loaded_at"]

    def __str__(self) -> str:
        return f"version {self.version_id} loaded in {self.seconds:.3f} s by {self.process}"


class ShadowRun(models.Model):
    """A shadow version's run of a prediction's input, after the prediction's own result was
    stored: kept for comparison, never shown to the prediction's owner, never charged.

    A single row's run holds its answer in `output`. A batch is run chunk by chunk, a run per
    chunk (`start`, `rows`), its answers in `outputs` beside the primary's to the same rows in
    `primary_outputs` (the batch's own are column-wise bytes, which SQL cannot read), so that
    a comparison reads every row of both in one query."""

    class Status(models.TextChoices):
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        SKIPPED = "skipped"

    prediction = models.ForeignKey(Prediction, on_delete=models.CASCADE, related_name="shadow_runs")
    version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.PROTECT, related_name="shadow_runs"
    )
    status = models.CharField(max_length=10, choices=Status.choices)
    start = models.PositiveIntegerField(
        default=0, help_text="Its first row in a batch; 0 for one row."
    )
    rows = models.PositiveIntegerField(default=1, help_text="How many rows it ran.")
    output = models.JSONField(null=True, blank=True)
    outputs = models.JSONField(null=True, blank=True, help_text="A batch's answers, in order.")
    primary_outputs = models.JSONField(
        null=True, blank=True, help_text="What the batch answered for the same rows."
    )
    error = models.JSONField(null=True, blank=True)
    duration_ms = models.FloatField(
        null=True,
        blank=True,
        help_text="Milliseconds of the predict call that ran it with the other rows of its "
        "worker batch, as a prediction's started to finished; for a batch, of its calls on "
        "every chunk, as the batch's rows waited for the whole batch.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["version", "created_at"], name="shadowrun_version_time"),
            # A comparison reads the runs of batch chunks apart from single rows, through this.
            models.Index(
                fields=["version", "created_at"],
                name="shadowrun_chunks",
                condition=Q(rows__gt=1),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["prediction", "version", "start"], name="shadowrun_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.prediction_id} shadowed by version {self.version_id} ({self.status})"
