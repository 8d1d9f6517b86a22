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
from django.db import connection, models, transaction
from django.db.models import F, Q
from django.utils import timezone

from billing.services import settle
from mlservice import batches, rawsql
from predictions.signals import prediction_finished, shadow_runs_stored
from registry.models import MLModel, ModelVersion, Route, Task


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
    # No index of their own: prediction_user_recent and prediction_version_window lead with
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
            # A version's predictions in a window: what a comparison reads of each is included.
            models.Index(
                fields=["version", "created_at"],
                include=["route", "status", "started_at", "finished_at"],
                name="prediction_version_window",
            ),
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


def _close(a: str, b: str) -> str:
    a, b = f"(({a}->>'value')::float8)", f"(({b}->>'value')::float8)"
    return f"abs({a} - {b}) <= %(tolerance)s * greatest(1, abs({a}))"


def agreement_sql(task: str, mine: str, theirs: str) -> str:
    """Whether a shadow's answer (`theirs`, jsonb SQL) agrees with the primary's (`mine`) for
    the model's task (`task`, SQL): the same label; a value within the tolerance (parameter
    `tolerance`); a forecast as long, each step within the tolerance."""
    rules = {
        Task.CLASSIFICATION: f"{mine}->>'label' = {theirs}->>'label'",
        Task.REGRESSION: _close(mine, theirs),
        Task.FORECAST: f"""(
            jsonb_array_length({mine}->'forecast') = jsonb_array_length({theirs}->'forecast')
            AND NOT EXISTS (
                SELECT 1 FROM jsonb_array_elements({mine}->'forecast') WITH ORDINALITY a(e, i)
                JOIN jsonb_array_elements({theirs}->'forecast') WITH ORDINALITY b(e, i) USING (i)
                WHERE NOT {_close("a.e", "b.e")}))""",
    }
    whens = " ".join(f"WHEN '{t}' THEN {rule}" for t, rule in rules.items())
    return f"CASE {task} {whens} END"


# A run of one row (a single prediction's, or a batch chunk of one row) and the answer of the
# prediction `p` it shadowed; a chunk's rows pair its answers with the batch's, by position.
_MINE, _THEIRS = "coalesce(s.primary_outputs -> 0, p.output)", "coalesce(s.outputs -> 0, s.output)"
_AGREES = agreement_sql("m.task", _MINE, _THEIRS)
_CHUNK_AGREEMENTS = f"""(SELECT count(*) FILTER (WHERE {agreement_sql("m.task", "po.e", "so.e")})
    FROM jsonb_array_elements(s.primary_outputs) WITH ORDINALITY po(e, i)
    JOIN jsonb_array_elements(s.outputs) WITH ORDINALITY so(e, i) USING (i))"""

# The primary's side of a shadow run `s`, from the prediction `p` it shadowed (and the model `m`
# whose task says what agreeing is): no agreements unless both answered.
_SIDE = {
    "primary_version_id": "p.version_id",
    "primary_status": "p.status",
    "primary_ms": "date_part('epoch', p.finished_at - p.started_at) * 1000",
    "agreements": f"""CASE WHEN s.status = 'succeeded' AND p.status = 'succeeded' THEN
        CASE WHEN s.rows = 1 THEN CASE ({_AGREES}) WHEN true THEN 1 WHEN false THEN 0 END
        ELSE {_CHUNK_AGREEMENTS} END END""",
}

# What a worker writes of a shadow run; the rest is the primary's side.
RUN_COLUMNS = {
    "prediction_id": "uuid",
    "version_id": "bigint",
    "status": "text",
    "start": "integer",
    "rows": "integer",
    "output": "jsonb",
    "outputs": "jsonb",
    "primary_outputs": "jsonb",
    "error": "jsonb",
    "duration_ms": "float8",
    "created_at": "timestamptz",
}
_RECORDS = "jsonb_to_recordset(%(runs)s) AS s({})".format(
    ", ".join(f"{name} {kind}" for name, kind in RUN_COLUMNS.items())
)


def _primary_join() -> str:
    return f"""JOIN {Prediction._meta.db_table} p ON p.id = s.prediction_id
        JOIN {ModelVersion._meta.db_table} v ON v.id = s.version_id
        JOIN {MLModel._meta.db_table} m ON m.id = v.model_id"""


def insert_runs_sql(source: str) -> str:
    """An INSERT of the shadow runs `source` gives (as `s`, with RUN_COLUMNS), each with the
    primary's side; a prediction keeps a run it already has of a version (and chunk).
    Parameter: `tolerance` (ROLLOUT_AGREEMENT_TOLERANCE)."""
    return f"""INSERT INTO {ShadowRun._meta.db_table} ({", ".join([*RUN_COLUMNS, *_SIDE])})
        SELECT {", ".join(f"s.{name}" for name in RUN_COLUMNS)}, {", ".join(_SIDE.values())}
        FROM {source} {_primary_join()}
        ON CONFLICT (prediction_id, version_id, start) DO NOTHING"""


def compare_with_primaries(*, size: int = batches.SIZE, report: batches.Report = None) -> int:
    """Keep anew on every stored shadow run the primary's side, `size` runs at a time: for runs
    stored before it was kept, or after ROLLOUT_AGREEMENT_TOLERANCE changed. Returns how many
    runs were updated."""
    runs = ShadowRun._meta.db_table
    sql = f"""UPDATE {runs} t SET {", ".join(f"{name} = {sql}" for name, sql in _SIDE.items())}
        FROM {runs} s {_primary_join()}
        WHERE t.id = s.id AND s.id >= %(low)s AND s.id < %(high)s"""

    def compare(low: int, high: int) -> int:
        params = {"low": low, "high": high, "tolerance": settings.ROLLOUT_AGREEMENT_TOLERANCE}
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount

    return batches.by_ids(runs, compare, size=size, report=report)


# What a comparison reads of a shadow run, beside its version and time.
WINDOW_COLUMNS = [
    "primary_version",
    "rows",
    "status",
    "primary_status",
    "agreements",
    "duration_ms",
    "primary_ms",
]


class ShadowRunQuerySet(models.QuerySet):
    def store(self, runs: list["ShadowRun"]) -> None:
        """Write new shadow runs, each with the primary's side: the prediction's version,
        status and latency, and on how many rows the two answers agree (`agreement_sql`,
        within ROLLOUT_AGREEMENT_TOLERANCE); then tell the layers above (`shadow_runs_stored`).
        A prediction re-run after a lost worker keeps the shadow runs it already had."""
        if not runs:
            return
        records = [
            {
                **{name: getattr(run, name) for name in RUN_COLUMNS},
                "prediction_id": str(run.prediction_id),
                "created_at": run.created_at.isoformat(),
            }
            for run in runs
        ]
        params = {
            "runs": json.dumps(records),
            "tolerance": settings.ROLLOUT_AGREEMENT_TOLERANCE,
        }
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(insert_runs_sql(_RECORDS), params)
            ids = list({record["prediction_id"] for record in records})
            shadow_runs_stored.send(ShadowRun, prediction_ids=ids)


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
    version = models.ForeignKey(  # shadowrun_version_window leads with it
        "registry.ModelVersion",
        on_delete=models.PROTECT,
        related_name="shadow_runs",
        db_index=False,
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
    # The primary's side, kept when the run is stored (`compare_with_primaries`), so that a
    # comparison window is one scan of `shadowrun_version_window`, never a join of predictions.
    primary_version = models.ForeignKey(
        "registry.ModelVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        help_text="The version that served the prediction (and gave the primary answer).",
    )
    primary_status = models.CharField(
        max_length=10, blank=True, help_text="The prediction's status when the shadow ran."
    )
    primary_ms = models.FloatField(
        null=True, blank=True, help_text="Milliseconds of the primary's inference."
    )
    agreements = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="How many of its rows the two answers agree on (same label, or within the "
        "tolerance); empty unless both succeeded.",
    )

    objects = ShadowRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["version", "created_at"],
                include=WINDOW_COLUMNS,
                name="shadowrun_version_window",
            ),
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
