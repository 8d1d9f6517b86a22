"""Writes on predictions: submit, run (in a worker), cancel, retry, reconcile, purge."""

import hashlib
import json
import logging
import time
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.utils import timezone
from rq.timeouts import JobTimeoutException

from billing import limits as usage_limits
from billing import services as billing
from mlservice import rawsql
from mlservice.errors import Conflict, ServiceError
from predictions import columns, queue, selectors
from predictions.cache import ArtifactTampered, Loaded, predictors
from predictions.models import Prediction, PredictionChunk, Status
from registry.models import ModelVersion
from registry.selectors import version_resolve
from registry.validation import InvalidInput, validate_batch, validate_rows

logger = logging.getLogger(__name__)


class TooManyRows(ServiceError):
    default_code = "too_many_rows"


class IdempotencyConflict(Conflict):
    default_code = "idempotency_conflict"
    default_detail = "This Idempotency-Key was already used with a different request body."


def fingerprint(payload) -> str:
    """A stable hash of what was asked, to tell a true resubmit from a reused key."""
    if isinstance(payload, bytes):
        return hashlib.sha256(payload).hexdigest()
    encoded = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


def file_digest(upload) -> str:
    digest = hashlib.sha256()
    upload.seek(0)
    for block in iter(lambda: upload.read(1024 * 1024), b""):
        digest.update(block)
    upload.seek(0)
    return digest.hexdigest()


def _existing(user, key: str, request_fingerprint: str) -> Prediction | None:
    existing = Prediction.objects.filter(user=user, idempotency_key=key).first()
    if existing is not None and existing.request_fingerprint != request_fingerprint:
        raise IdempotencyConflict()
    return existing


def prediction_create(
    *,
    user,
    model_name: str,
    version_ref=None,
    row: dict | None = None,
    rows: list | None = None,
    matrix: np.ndarray | None = None,
    source: str = Prediction.Source.JSON,
    idempotency_key: str | None = None,
    request_fingerprint: str = "",
    retry_of: Prediction | None = None,
    version: ModelVersion | None = None,
) -> tuple[Prediction, bool]:
    """Validate and store a prediction, then enqueue it once the transaction commits.

    A batch comes as `rows` (dicts, checked here) or as `matrix`, rows already checked
    against the version's schema (`csvio.read_matrix`, a retry), features in schema order.
    Returns (prediction, created). With an Idempotency-Key already used by this user for the
    same request, returns the earlier prediction and created=False.
    """
    if idempotency_key:
        existing = _existing(user, idempotency_key, request_fingerprint)
        if existing is not None:
            return existing, False
    if version is None:
        version = version_resolve(user=user, model_name=model_name, ref=version_ref)
    batch = rows is not None or matrix is not None
    if batch:
        limit = (
            settings.PREDICTION_CSV_MAX_ROWS
            if source == Prediction.Source.CSV
            else settings.PREDICTION_MAX_ROWS
        )
        count = len(rows) if matrix is None else len(matrix)
        if not count:
            raise InvalidInput(
                "inputs must hold at least one row.",
                fields={"inputs": ["At least one row is required."]},
            )
        if count > limit:
            raise TooManyRows(f"{count:,} rows is more than the limit of {limit:,} per request.")
        if matrix is None:
            matrix = validate_batch(rows, version)
    else:
        [row] = validate_rows([row], version, field="input", batch=False)

    prediction = Prediction(
        user=user,
        model=version.model,
        version=version,
        requested_version=str(version_ref if version_ref not in (None, "") else "production")[:64],
        is_batch=batch,
        source=source,
        row_count=len(matrix) if batch else 1,
        input=None if batch else row,
        idempotency_key=idempotency_key or None,
        request_fingerprint=request_fingerprint,
        retry_of=retry_of,
    )
    prediction.cost = version.price_per_row * prediction.row_count
    quota = usage_limits.take_rows(user=user, rows=prediction.row_count)  # 429 when over
    try:
        if batch or prediction.cost or connection.in_atomic_block:
            with transaction.atomic():
                rawsql.insert(prediction)  # the ORM's save() costs more than the INSERT here
                if batch:
                    _store_chunks(prediction, matrix)
                # Last, so the account row stays locked only until the commit right after; a
                # 402 here rolls the prediction back with it.
                billing.reserve(
                    user=user,
                    prediction_id=prediction.pk,
                    amount=prediction.cost,
                    rows=prediction.row_count,
                )
        else:
            # A free single row is one INSERT, atomic on its own: no BEGIN/COMMIT round trips.
            rawsql.insert(prediction)
        transaction.on_commit(lambda: queue.enqueue(prediction.pk, timeout=version.timeout_seconds))
    except IntegrityError:
        usage_limits.give_back_rows(quota, prediction.row_count)
        if idempotency_key:  # a concurrent request with the same key won the race
            existing = _existing(user, idempotency_key, request_fingerprint)
            if existing is not None:
                return existing, False
        raise
    except Exception:
        usage_limits.give_back_rows(quota, prediction.row_count)
        raise
    return prediction, True


def _store_chunks(prediction: Prediction, matrix: np.ndarray) -> None:
    size = settings.PREDICTION_CHUNK_ROWS
    rawsql.insert_many(
        [
            PredictionChunk(
                prediction=prediction,
                seq=seq,
                start=start,
                input_matrix=columns.to_bytes(matrix[start : start + size]),
            )
            for seq, start in enumerate(range(0, len(matrix), size))
        ]
    )


# --- Running (inside a worker) ----------------------------------------------------------------


def prediction_execute(*, prediction_id: str) -> None:
    """Run one prediction to a terminal state. Safe to call twice: only one call claims it.

    A single-row prediction is run together with other pending single-row predictions of the
    same version (cross-request batching): one claim statement, one predict call, one UPDATE
    for all results. Their own jobs are taken off the queue; if one still runs, it finds its
    prediction no longer pending and returns.
    """
    close_old_connections()
    prediction = selectors.prediction_to_run(prediction_id)
    try:
        if prediction is None or prediction.status != Status.PENDING:
            return
        if prediction.is_batch:
            _execute_batch(prediction)
        else:
            _execute_singles(prediction)
    finally:
        close_old_connections()


def _lease(version: ModelVersion) -> int:
    return version.timeout_seconds + settings.PREDICTION_LEASE_GRACE_SECONDS


def _execute_batch(prediction: Prediction) -> None:
    version = prediction.version
    timeout = version.timeout_seconds
    loaded = predictors.fetch(version)  # before the run starts, as for single rows
    if not prediction.mark_running(lease_seconds=_lease(version)):
        return
    started = time.monotonic()
    try:
        finished = _run_batch(prediction, loaded, started, timeout)
    except Exception as exc:
        finished = prediction.mark_failed(*_failure(exc, version))
    if finished:
        queue.notify_done(prediction.pk)


def _execute_singles(first: Prediction) -> None:
    version = first.version
    # The model is loaded before the rows are claimed, so their started -> finished time is
    # inference alone; a cold start counts in end-to-end latency and in load_seconds.
    loaded = predictors.fetch(version)
    claimed = Prediction.objects.claim_singles(
        first_id=first.pk,
        version_id=version.pk,
        limit=settings.PREDICTION_BATCH_MAX,
        lease_seconds=_lease(version),
    )
    if not claimed:
        return
    claimed_by_this_process.clear()
    claimed_by_this_process.update(str(pk) for pk, _, _ in claimed)
    _run_claimed(first, claimed, version, loaded)
    # Kept if the job is interrupted (an exception escapes), so the worker can hand them back.
    claimed_by_this_process.clear()


# Single rows the running job claimed; a worker shutting down hands them all back. Workers run
# one job at a time per process, so a module-level set is enough.
claimed_by_this_process: set[str] = set()


def _run_claimed(first: Prediction, claimed: list, version: ModelVersion, loaded: Loaded) -> None:
    queue.drop_jobs([pk for pk, _, _ in claimed if pk != first.pk])
    started = time.monotonic()
    try:
        outputs = loaded.predictor().predict([row for _, _, row in claimed])
        _check_deadline(started, version.timeout_seconds)
    except Exception as exc:
        if len(claimed) == 1 or isinstance(exc, (JobTimeoutException, _DeadlineExceeded)):
            _fail_claimed(claimed, version, exc)
            return
        # One bad row must not fail its neighbours: run them one by one to find it.
        outputs = _predict_one_by_one(claimed, version, started, loaded)
    results = [
        (pk, attempts, output)
        for (pk, attempts, _), output in zip(claimed, outputs, strict=True)
        if output is not None
    ]
    written = Prediction.objects.store_outputs(results, load_seconds=loaded.seconds)
    queue.notify_done(*written)


def _predict_one_by_one(claimed, version: ModelVersion, started: float, loaded: Loaded) -> list:
    outputs = []
    for pk, attempts, row in claimed:
        try:
            [output] = loaded.predictor().predict([row])
            _check_deadline(started, version.timeout_seconds)
            outputs.append(output)
        except Exception as exc:
            _fail_claimed([(pk, attempts, row)], version, exc)
            outputs.append(None)
    return outputs


def _fail_claimed(claimed, version: ModelVersion, exc: Exception) -> None:
    code, message = _failure(exc, version)
    for pk, attempts, _ in claimed:
        prediction = Prediction(pk=pk, attempts=attempts)
        if prediction.mark_failed(code, message):
            queue.notify_done(pk)


def _failure(exc: Exception, version: ModelVersion) -> tuple[str, str]:
    """(code, message) for a failed prediction; never a made-up output."""
    if isinstance(exc, (JobTimeoutException, _DeadlineExceeded)):
        return (
            "timeout",
            f"The model did not finish within its {version.timeout_seconds} s timeout.",
        )
    if isinstance(exc, ArtifactTampered):
        logger.error("Artifact of %s fails its sha256 check; refusing to load it.", version)
        return "artifact_invalid", "The model's stored artifact failed its integrity check."
    logger.warning("Prediction on %s failed: %r", version, exc)
    return "model_error", _describe(exc)


class _DeadlineExceeded(Exception):
    pass


def _check_deadline(started: float, timeout: int) -> None:
    # Also catches a model that swallowed RQ's timeout exception and returned late.
    if time.monotonic() - started > timeout:
        raise _DeadlineExceeded()


def _describe(exc: Exception) -> str:
    first_line = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"The model failed: {type(exc).__name__}" + (f": {first_line}" if first_line else "")


_CHUNKS = PredictionChunk._meta.db_table
_PREDICTIONS = Prediction._meta.db_table
# The chunk's outputs and the batch's progress in one statement (one commit per chunk): the
# progress only moves while this attempt still runs the batch.
_STORE_CHUNK_SQL = f"""
    WITH chunk AS (UPDATE {_CHUNKS} SET output_matrix = %(outputs)s WHERE id = %(chunk)s)
    UPDATE {_PREDICTIONS} SET progress = %(progress)s
    WHERE id = %(prediction)s AND status = 'running' AND attempts = %(attempts)s
"""


def _run_batch(prediction: Prediction, loaded: Loaded, started: float, timeout: int) -> bool:
    predictor = loaded.predictor()
    chunks = list(
        prediction.chunks.filter(output_matrix__isnull=True)
        .order_by("seq")
        .values_list("pk", "start")
    )
    total = prediction.row_count
    for chunk_id, start in chunks:
        row = rawsql.fetchone(
            f"SELECT input_matrix FROM {_CHUNKS} WHERE id = %s", [chunk_id], binary=True
        )
        outputs = predictor.predict_matrix(columns.from_bytes(row[0]))
        _check_deadline(started, timeout)
        with rawsql.cursor() as cursor:
            cursor.execute(
                _STORE_CHUNK_SQL,
                {
                    "outputs": columns.to_bytes(outputs),
                    "chunk": chunk_id,
                    "progress": (start + len(outputs)) / total,
                    "prediction": prediction.pk,
                    "attempts": prediction.attempts,
                },
            )
            still_running = cursor.rowcount
        if not still_running:  # cancelled (or taken over) meanwhile: stop here
            return False
    return prediction.mark_succeeded(None, load_seconds=loaded.seconds)


# --- User actions ------------------------------------------------------------------------------


def prediction_cancel(*, prediction: Prediction) -> Prediction:
    """Pending or running -> cancelled. A running batch stops at its next chunk; a running
    single row's result is discarded (its completion is conditional on `running`)."""
    if not prediction.mark_cancelled():
        prediction.refresh_from_db()
        raise Conflict(
            f"The prediction is already {prediction.status}; only pending or running "
            "predictions can be cancelled.",
            code="not_cancellable",
        )
    try:
        queue.get_queue().remove(queue.job_id_for(prediction.pk))
    except Exception:  # best effort: a job left in the queue finds the row cancelled and returns
        logger.debug("Could not remove the job of %s from the queue", prediction.pk)
    queue.notify_done(prediction.pk)
    return prediction


def prediction_retry(*, prediction: Prediction, user) -> Prediction:
    """A failed or cancelled prediction runs again as a new prediction linked to it, on the
    same version with the same input."""
    if prediction.status not in (Status.FAILED, Status.CANCELLED):
        raise Conflict(
            f"Only failed or cancelled predictions can be retried; this one is "
            f"{prediction.status}.",
            code="not_retryable",
        )
    version = ModelVersion.objects.select_related("model").get(pk=prediction.version_id)
    matrix = None
    if prediction.is_batch:
        matrix = np.concatenate(
            [
                columns.from_bytes(data)
                for data in prediction.chunks.order_by("seq").values_list("input_matrix", flat=True)
            ]
        )
    retried, _ = prediction_create(
        user=user,
        model_name=version.model.name,
        version_ref=version.number,
        version=version,
        row=prediction.input,
        matrix=matrix,
        source=prediction.source,
        retry_of=prediction,
    )
    return retried


def prediction_wait(*, prediction: Prediction, seconds: float) -> Prediction:
    """Hold until the prediction is terminal or `seconds` pass; returns it fresh from the db."""
    deadline = time.monotonic() + min(seconds, settings.PREDICTION_MAX_WAIT_SECONDS)
    while not prediction.is_terminal:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            queue.wait_for_done(prediction.pk, timeout=min(left, 4.0))
        except Exception:  # Redis unavailable: fall back to polling the database
            time.sleep(min(left, 0.25))
        prediction.refresh_from_db()
    return prediction


# --- Operations --------------------------------------------------------------------------------


def reconcile(*, batch_size: int = 1000) -> dict[str, int]:
    """Repair what Redis lost or a dead worker left behind. Safe to run at any time, anywhere:
    every step is a conditional update, and executing a prediction twice is a no-op.

    - pending rows (past a grace period) whose job is gone from Redis are enqueued again;
    - running rows whose lease expired go back to pending and are enqueued (or fail with
      `worker_lost` once they used up their attempts).
    """
    counts = {"enqueued": 0, "requeued": 0, "failed": 0}
    now = timezone.now()
    grace = timedelta(seconds=settings.RECONCILE_PENDING_GRACE_SECONDS)
    pending = Prediction.objects.pending().filter(created_at__lt=now - grace).order_by("created_at")
    last = None
    while True:
        page = pending.filter(created_at__gt=last) if last else pending
        rows = list(page.values_list("pk", "created_at", "version__timeout_seconds")[:batch_size])
        if not rows:
            break
        last = rows[-1][1]
        alive = queue.existing_job_ids([queue.job_id_for(pk) for pk, _, _ in rows])
        for pk, _, timeout in rows:
            if queue.job_id_for(pk) not in alive and queue.enqueue(pk, timeout=timeout):
                counts["enqueued"] += 1
        if len(rows) < batch_size:
            break
    expired = (
        Prediction.objects.running().filter(lease_expires_at__lt=now).select_related("version")
    )
    for prediction in expired.iterator(chunk_size=batch_size):
        if prediction.attempts >= settings.PREDICTION_MAX_ATTEMPTS:
            if prediction.mark_failed(
                "worker_lost",
                f"The worker running this prediction stopped {prediction.attempts} times.",
            ):
                counts["failed"] += 1
                queue.notify_done(prediction.pk)
        elif prediction.release_for_retry():
            queue.enqueue(prediction.pk, timeout=prediction.version.timeout_seconds)
            counts["requeued"] += 1
    return counts


def purge(
    *, older_than: timedelta, statuses: list[str], batch_size: int = 1000, progress=None
) -> int:
    """Delete terminal predictions created before now - older_than, in batches."""
    cutoff = timezone.now() - older_than
    targets = Prediction.objects.filter(created_at__lt=cutoff, status__in=statuses)
    total = targets.count()
    deleted = 0
    while True:
        ids = list(targets.values_list("pk", flat=True)[:batch_size])
        if not ids:
            break
        with transaction.atomic():
            Prediction.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
        if progress:
            progress(deleted, total)
    return deleted
