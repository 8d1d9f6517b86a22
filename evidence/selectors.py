"""Reads of evidence: the prediction feedback is about, windows, a version's reference and its
drift over a window."""

import re
from datetime import timedelta

import numpy as np
import orjson
from django.conf import settings
from django.db import connection
from django.utils import timezone

from evidence import drift, quality
from evidence.models import Feedback, ReferenceProfile
from mlservice.errors import NotFound, ServiceError
from predictions import columns
from predictions.models import Prediction, PredictionChunk
from registry import twins
from registry.models import PRODUCTION, ModelVersion
from registry.schemas import build_matrix
from registry.selectors import model_get, version_resolve


def prediction_for_feedback(*, user, prediction_id) -> Prediction:
    """The prediction, when it is the user's own or the user is staff; else not found."""
    predictions = Prediction.objects.select_related("model", "version__model")
    if not user.is_staff:
        predictions = predictions.filter(user=user)
    prediction = predictions.filter(pk=prediction_id).first()
    if prediction is None:
        raise NotFound("No such prediction.", code="not_found")
    return prediction


def feedback_of(prediction: Prediction):
    return Feedback.objects.filter(prediction=prediction).order_by("row")


_WINDOW_RE = re.compile(r"^([1-9][0-9]{0,5})([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_window(text: str | None, default: str = "7d") -> timedelta:
    """`30m`, `24h`, `7d`, ... as a timedelta, at most EVIDENCE_MAX_WINDOW_DAYS."""
    match = _WINDOW_RE.match(text or default)
    longest = settings.EVIDENCE_MAX_WINDOW_DAYS
    window = timedelta(**{_UNITS[match[2]]: int(match[1])}) if match else None
    if window is None or window > timedelta(days=longest):
        message = f"Use a number and m, h or d (such as 7d), up to {longest}d."
        raise ServiceError(message, code="invalid_window", fields={"window": [message]})
    return window


def model_quality(*, user, model_name: str, ref: str | None, window: timedelta) -> list[dict]:
    """`quality_for` of the version `ref` names; without one, of every version of the model
    with feedback in the window, and of its production version."""
    if ref:
        version = version_resolve(user=user, model_name=model_name, ref=ref)
        return [quality.quality_for(version, window).as_dict()]
    model = model_get(user=user, name=model_name)
    production = model.aliases.filter(name=PRODUCTION).values_list("version_id", flat=True)
    production = next(iter(production), None)
    results = [
        quality.quality_for(version, window)
        for version in model.versions.select_related("model").order_by("-number")
    ]
    return [q.as_dict() for q in results if q.totals.count or q.version.pk == production]


# --- Drift -------------------------------------------------------------------------------------


def uploaded_reference(version: ModelVersion) -> ReferenceProfile:
    profile = ReferenceProfile.objects.filter(version=version).select_related("version").first()
    if profile is None:
        message = f"{version} has no uploaded reference; drift compares with its validation rows."
        raise NotFound(message, code="reference_not_found")
    return profile


def reference_for(version: ModelVersion) -> tuple[str, int, list[dict]]:
    """(source, rows, histograms) of the version's reference: the uploaded one, else the rows
    its upload was validated on (sampled around its input example, within its bounds)."""
    stored = ReferenceProfile.objects.filter(version=version).first()
    if stored is not None:
        return stored.source, stored.rows, stored.features
    rows = twins.sample_rows(version.input_schema, version.input_example, twins.SAMPLE_ROWS)
    matrix = build_matrix(rows, version.input_schema)
    return (
        ReferenceProfile.Source.VALIDATION,
        len(rows),
        drift.profile(matrix, version.input_schema),
    )


# Up to `per` of the newest predictions in each of `slices` equal parts of the window, so the
# sample spreads over the whole window; each part is a short scan of prediction_version_window.
_SAMPLE_SQL = f"""
    SELECT p.id, p.is_batch, p.input
    FROM generate_series(0, %(slices)s - 1) AS s,
    LATERAL (
        SELECT id, is_batch, input FROM {Prediction._meta.db_table}
        WHERE version_id = %(version)s
          AND created_at >= %(since)s + s * %(step)s
          AND created_at < %(since)s + (s + 1) * %(step)s
        ORDER BY created_at DESC LIMIT %(per)s
    ) AS p
"""
SLICES = 10


def recent_inputs(version: ModelVersion, since, until) -> np.ndarray:
    """A sample of up to DRIFT_SAMPLE_ROWS inputs the version was sent in [since, until), as a
    matrix in schema order (a batch gives rows from its first chunks)."""
    per = max(settings.DRIFT_SAMPLE_ROWS // SLICES, 1)
    params = {
        "slices": SLICES,
        "version": version.pk,
        "since": since,
        "step": (until - since) / SLICES,
        "per": per,
    }
    with connection.cursor() as cursor:
        cursor.execute(_SAMPLE_SQL, params)
        found = cursor.fetchall()
    schema = version.input_schema
    # Django's connection hands jsonb over as text.
    singles = [orjson.loads(row) for _, is_batch, row in found if not is_batch and row]
    parts = [build_matrix(singles, schema)] if singles else []
    for pk in [pk for pk, is_batch, _ in found if is_batch]:
        parts.append(_batch_rows(pk, per))
    if not parts:
        return np.empty((0, len(schema)))
    return np.concatenate(parts)[: settings.DRIFT_SAMPLE_ROWS]


def _batch_rows(prediction_id, limit: int) -> np.ndarray:
    taken, size = [], 0
    chunks = PredictionChunk.objects.filter(prediction_id=prediction_id).order_by("seq")
    for data in chunks.values_list("input_matrix", flat=True).iterator(chunk_size=1):
        matrix = columns.from_bytes(data)
        taken.append(matrix[: limit - size])
        size += len(taken[-1])
        if size >= limit:
            break
    return np.concatenate(taken)


class NoFeatures(ServiceError):
    default_code = "no_features"
    default_detail = "A forecast model has no input features to compare."


def drift_for(version: ModelVersion, window: timedelta, *, until=None) -> dict:
    """How the inputs the version was sent in the window compare with its reference, feature
    by feature; `flagged` names those over their thresholds."""
    if version.is_forecast:
        raise NoFeatures()
    until = until or timezone.now()
    since = until - window
    source, rows, reference = reference_for(version)
    matrix = recent_inputs(version, since, until)
    compared = drift.compare(reference, matrix)
    return {
        "version": version.number,
        "since": since,
        "until": until,
        "reference": {"source": source, "rows": rows},
        "rows_compared": len(matrix),
        "enough_rows": len(matrix) >= settings.DRIFT_MIN_ROWS,
        "features": compared,
        "flagged": [entry["feature"] for entry in compared if entry["flagged"]],
    }
