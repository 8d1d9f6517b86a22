"""Submitting a prediction: check its input, store it with its credits and usage, enqueue it."""

import hashlib
import json
import uuid

import numpy as np
from django.conf import settings
from django.db import IntegrityError, connection, transaction

from billing import limits as usage_limits
from billing import services as billing
from mlservice import rawsql
from mlservice.errors import Conflict, PayloadTooLarge, ServiceError
from predictions import columns, csvio, queue
from predictions.models import Prediction, PredictionChunk
from registry.models import ModelVersion, Route
from registry.selectors import version_route
from registry.validation import InvalidInput, validate_batch, validate_rows


class TooManyRows(ServiceError, code="too_many_rows"):
    pass


class IdempotencyConflict(Conflict, code="idempotency_conflict"):
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
    route: str = Route.EXPLICIT,
) -> tuple[Prediction, bool]:
    """Validate and store a prediction, then enqueue it once the transaction commits.

    A batch comes as `rows` (dicts, checked here) or as `matrix` (rows already checked, in
    schema order: a CSV, a retry). Returns (prediction, created); an Idempotency-Key this user
    already sent with the same request returns the earlier prediction, created=False. A
    caller that resolved the `version` itself passes its `route` too."""
    if idempotency_key and (existing := _existing(user, idempotency_key, request_fingerprint)):
        return existing, False
    prediction_id = uuid.uuid4()
    if version is None:
        version, route = _route(user, model_name, version_ref, prediction_id)
    if rows is not None or matrix is not None:
        matrix, row = _checked_batch(rows, matrix, version, source), None
    else:
        [row] = validate_rows([row], version, field="input", batch=False)
    prediction = _new_prediction(
        version,
        version_ref,
        matrix,
        id=prediction_id,
        route=route,
        user=user,
        source=source,
        input=row,
        idempotency_key=idempotency_key or None,
        request_fingerprint=request_fingerprint,
        retry_of=retry_of,
    )
    return _store_unless_raced(prediction, matrix)


def _store_unless_raced(prediction: Prediction, matrix) -> tuple[Prediction, bool]:
    try:
        _store(prediction, matrix)
    except IntegrityError:
        # A concurrent request with the same Idempotency-Key won the race: answer as it.
        key, fingerprint_ = prediction.idempotency_key, prediction.request_fingerprint
        existing = key and _existing(prediction.user, key, fingerprint_)
        if existing:
            return existing, False
        raise
    return prediction, True


def split_key(user, request_key=None) -> str:
    """What a canary split decides a new prediction by: its user or the request (its
    prediction's id, else a new one), as ROLLOUT_SPLIT_BY says."""
    if settings.ROLLOUT_SPLIT_BY == "user":
        return str(user.pk)
    return str(request_key or uuid.uuid4())


def _route(user, model_name: str, version_ref, prediction_id=None) -> tuple[ModelVersion, str]:
    """The version serving a new prediction and why."""
    key = split_key(user, prediction_id)
    return version_route(user=user, model_name=model_name, ref=version_ref, split_key=key)


def _new_prediction(version, version_ref, matrix, /, **fields) -> Prediction:
    """The unsaved row, with what follows from the version and the size of the batch."""
    row_count = 1 if matrix is None else len(matrix)
    return Prediction(
        model=version.model,
        version=version,
        requested_version=str(version_ref if version_ref not in (None, "") else "production")[:64],
        is_batch=matrix is not None,
        row_count=row_count,
        cost=version.price_per_row * row_count,
        **fields,
    )


def prediction_create_from_csv(
    *, user, model_name: str, version_ref, upload, idempotency_key: str | None = None
) -> tuple[Prediction, bool]:
    """A batch from an uploaded CSV file whose header row names the features."""
    if upload.size > settings.PREDICTION_CSV_MAX_BYTES:
        raise PayloadTooLarge(
            f"The CSV file is larger than {settings.PREDICTION_CSV_MAX_BYTES:,} bytes."
        )
    version, route = _route(user, model_name, version_ref)
    limit, rows = settings.PREDICTION_CSV_MAX_ROWS, None
    try:
        matrix = csvio.read_matrix(upload, version, max_rows=limit)
        if matrix is None:
            rows = csvio.read_rows(upload, version, max_rows=limit)
    except csvio.CSVError as exc:
        raise InvalidInput(str(exc), fields={"file": [str(exc)]}) from None
    upload.seek(0)
    request = f"{model_name}\n{version_ref}\n".encode() + file_digest(upload).encode()
    return prediction_create(
        user=user,
        model_name=model_name,
        version_ref=version_ref,
        version=version,
        route=route,
        rows=rows,
        matrix=matrix,
        source=Prediction.Source.CSV,
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint(request) if idempotency_key else "",
    )


def _checked_batch(rows, matrix, version: ModelVersion, source: str) -> np.ndarray:
    """The batch's feature matrix, its size within the limit of its source."""
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
    return validate_batch(rows, version) if matrix is None else matrix


def _store(prediction: Prediction, matrix: np.ndarray | None) -> None:
    """Insert the prediction (and a batch's chunks), reserve its credits and rows of the
    daily quota, and enqueue it on commit. The quota is given back if anything fails."""
    rows = prediction.row_count
    quota = usage_limits.take_rows(user=prediction.user, rows=rows)  # 429 when over
    try:
        if prediction.is_batch or prediction.cost or connection.in_atomic_block:
            with transaction.atomic():
                rawsql.insert(prediction)  # the ORM's save() costs more than the INSERT here
                if prediction.is_batch:
                    _store_chunks(prediction, matrix)
                # Last, so the account row stays locked only until the commit right after; a
                # 402 here rolls the prediction back with it.
                billing.reserve(
                    user=prediction.user,
                    prediction_id=prediction.pk,
                    amount=prediction.cost,
                    rows=rows,
                )
        else:
            # A free single row is one INSERT, atomic on its own: no BEGIN/COMMIT round trips.
            rawsql.insert(prediction)
        timeout = prediction.version.timeout_seconds
        transaction.on_commit(lambda: queue.enqueue(prediction.pk, timeout=timeout))
    except Exception:
        usage_limits.give_back_rows(quota, rows)
        raise


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
