"""Writes of evidence: feedback (one, a staff correction, a CSV of many) and a version's
reference sample."""

import csv
import io
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction

from evidence import drift, quality, shadows, truth
from evidence.models import Feedback, ReferenceProfile
from evidence.outputs import outputs_of
from evidence.selectors import NoFeatures
from mlservice.errors import Conflict, NotFound, PayloadTooLarge, ServiceError
from predictions import csvio
from predictions.models import Prediction, Status
from registry.models import AuditEvent, ModelVersion
from registry.validation import validate_batch


class InvalidFeedback(ServiceError):
    default_code = "invalid_feedback"
    default_detail = "The feedback does not fit the prediction."


class FeedbackExists(Conflict):
    default_code = "feedback_exists"
    default_detail = "This prediction already has feedback."


MAX_REPORTED_ERRORS = 100
CSV_HEADER = ("prediction_id", "truth")  # then optionally `row`


@dataclass
class Item:
    """One truth for one row of a prediction, checked and ready to store."""

    prediction: Prediction
    row: int
    truth: object
    output: dict


def _check(prediction: Prediction, row: int | None, value) -> Item:
    """The item for `value` as the truth of the prediction's `row`; InvalidFeedback (the field
    named) or Conflict when it does not fit."""
    if prediction.status != Status.SUCCEEDED:
        raise Conflict(
            f"The prediction is {prediction.status}; feedback is for succeeded predictions.",
            code="not_finished",
        )
    if row is None:
        if prediction.is_batch:
            raise InvalidFeedback(
                "A batch takes feedback per row.", fields={"row": ["Name the row of the batch."]}
            )
        row = 0
    output = outputs_of(prediction, {row}).get(row)
    if output is None:
        message = f"Must be from 0 to {prediction.row_count - 1}."
        raise InvalidFeedback("No such row.", fields={"row": [message]})
    problem = truth.problem(value, prediction.version, output)
    if problem:
        raise InvalidFeedback("The truth does not fit the model.", fields={"truth": [problem]})
    return Item(prediction, row, value, output)


def _row(item: Item, actor) -> Feedback:
    return Feedback(
        prediction=item.prediction,
        row=item.row,
        version_id=item.prediction.version_id,
        predicted_at=item.prediction.created_at,
        truth=item.truth,
        created_by=actor,
        **truth.metric_columns(item.truth, item.prediction.version, item.output),
    )


def _written(rows: list[Feedback]) -> None:
    """What follows from feedback written or corrected, in its transaction: the quality per day
    of its days is renewed, and the shadow runs of its predictions are scored against it."""
    quality.feedback_changed(row.predicted_at for row in rows)
    shadows.scores_write([row.prediction_id for row in rows])


def feedback_create(*, prediction: Prediction, row: int | None, value, actor) -> Feedback:
    """The true outcome of a prediction (a batch: of one row). Once per row: a second is a 409
    (staff correct it with `feedback_correct`)."""
    item = _check(prediction, row, value)
    if Feedback.objects.filter(prediction=prediction, row=item.row).exists():
        raise FeedbackExists()
    feedback = _row(item, actor)
    try:
        with transaction.atomic():
            feedback.save()
            _written([feedback])
    except IntegrityError:  # the same row, sent twice at once
        raise FeedbackExists() from None
    return feedback


@transaction.atomic
def feedback_correct(*, prediction: Prediction, row: int | None, value, actor) -> Feedback:
    """Staff replace a row's truth; the registry's audit trail keeps the old and the new."""
    item = _check(prediction, row, value)
    existing = Feedback.objects.select_for_update().filter(prediction=prediction, row=item.row)
    feedback = existing.first()
    if feedback is None:
        raise NotFound("This prediction has no feedback to correct.", code="feedback_not_found")
    previous = feedback.truth
    corrected = _row(item, actor)
    corrected.pk, corrected.created_at = feedback.pk, feedback.created_at
    corrected.save()
    _written([corrected])
    AuditEvent.objects.create(
        model_id=prediction.model_id,
        version_id=prediction.version_id,
        action="feedback_corrected",
        actor=actor,
        details={
            "prediction": str(prediction.pk),
            "row": item.row,
            "from": previous,
            "to": item.truth,
        },
    )
    return corrected


# --- Many at once, from a CSV -------------------------------------------------------------------


def feedback_import_csv(*, upload, actor) -> int:
    """Feedback for many predictions from a CSV of `prediction_id,truth[,row]`. Every line is
    checked first; if any is wrong, nothing is written and each wrong line is named. Returns
    how many were written."""
    if upload.size > settings.PREDICTION_CSV_MAX_BYTES:
        raise PayloadTooLarge(
            f"The CSV file is larger than {settings.PREDICTION_CSV_MAX_BYTES:,} bytes."
        )
    lines = _csv_lines(upload)
    predictions = _visible(actor, [pid for _, pid, _, _ in lines if pid is not None])
    items, errors = _check_lines(lines, predictions)
    if errors:
        shown = dict(list(errors.items())[:MAX_REPORTED_ERRORS])
        raise InvalidFeedback(
            f"{len(errors)} line(s) of the CSV are wrong; nothing was saved.", fields=shown
        )
    try:
        with transaction.atomic():
            _written(Feedback.objects.bulk_create([_row(item, actor) for item in items]))
    except IntegrityError:
        raise FeedbackExists("Feedback for one of these rows arrived meanwhile.") from None
    return len(items)


Line = tuple[int, uuid.UUID | None, str, int | None | str]  # line, prediction id, truth, row


def _csv_lines(upload) -> list[Line]:
    stream = getattr(upload, "file", upload)
    limit = settings.FEEDBACK_CSV_MAX_ROWS
    try:
        csvio.scan_lines(
            stream, max_line_bytes=settings.PREDICTION_CSV_MAX_LINE_BYTES, max_rows=limit
        )
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="strict", newline="")
        try:
            return _records(csv.reader(text))
        finally:
            text.detach()
    except UnicodeDecodeError:
        raise _file_error("The CSV file must be UTF-8 text.") from None
    except (csv.Error, csvio.CSVError) as exc:
        raise _file_error(str(exc)) from None


def _file_error(message: str) -> InvalidFeedback:
    return InvalidFeedback(message, fields={"file": [message]})


def _records(reader) -> list[Line]:
    header = [name.strip() for name in next(reader, [])]
    if header not in (list(CSV_HEADER), [*CSV_HEADER, "row"]):
        raise _file_error("The CSV header must be `prediction_id,truth` or `...,row`.")
    lines = []
    for record in reader:
        if not record:
            continue
        if len(record) != len(header):
            lines.append((reader.line_num, None, "", f"{len(header)} values expected"))
            continue
        lines.append((reader.line_num, _uuid(record[0]), record[1], _row_number(record)))
    return lines


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text.strip())
    except ValueError:
        return None


def _row_number(record: list[str]) -> int | None | str:
    if len(record) < 3 or not record[2].strip():
        return None
    text = record[2].strip()
    return int(text) if text.isdecimal() else "row must be a whole number from 0"


def _visible(actor, ids: list[uuid.UUID]) -> dict[uuid.UUID, Prediction]:
    predictions = Prediction.objects.filter(pk__in=set(ids)).select_related("version__model")
    if not actor.is_staff:
        predictions = predictions.filter(user=actor)
    return {prediction.pk: prediction for prediction in predictions}


def _check_lines(lines: list[Line], predictions: dict) -> tuple[list[Item], dict]:
    existing = set(
        Feedback.objects.filter(prediction__in=list(predictions)).values_list("prediction", "row")
    )
    items, errors, seen = [], {}, set()
    for line, pid, text, row in lines:
        key = f"line {line}"
        if isinstance(row, str):
            errors[key] = [row[0].upper() + row[1:] + "."]
        elif pid is None or pid not in predictions:
            errors[key] = ["No such prediction (a prediction_id of yours is needed)."]
        else:
            prediction = predictions[pid]
            try:
                item = _check(prediction, row, truth.from_text(text, prediction.version))
            except (InvalidFeedback, Conflict) as exc:
                errors[key] = [_reason(exc)]
                continue
            if (pid, item.row) in existing or (pid, item.row) in seen:
                errors[key] = ["This prediction (row) already has feedback."]
                continue
            seen.add((pid, item.row))
            items.append(item)
    return items, errors


def _reason(exc: ServiceError) -> str:
    fields = getattr(exc, "fields", None) or {}
    return next((f"{name}: {problems[0]}" for name, problems in fields.items()), str(exc.detail))


# --- Reference samples for drift ----------------------------------------------------------------


@transaction.atomic
def reference_set(*, version: ModelVersion, upload, actor) -> ReferenceProfile:
    """The version's reference inputs from a CSV (header: its features), kept as per-feature
    histograms; replaces the one it had."""
    if version.is_forecast:
        raise NoFeatures()
    limit = settings.DRIFT_REFERENCE_MAX_ROWS
    try:
        matrix = csvio.read_matrix(upload, version, max_rows=limit)
        if matrix is None:
            matrix = validate_batch(csvio.read_rows(upload, version, max_rows=limit), version)
    except csvio.CSVError as exc:
        raise InvalidFeedback(str(exc), code="invalid_reference", fields={"file": [str(exc)]})
    if len(matrix) < settings.DRIFT_MIN_ROWS:
        message = f"A reference needs at least {settings.DRIFT_MIN_ROWS} rows."
        raise InvalidFeedback(message, code="invalid_reference", fields={"file": [message]})
    profile, _ = ReferenceProfile.objects.update_or_create(
        version=version,
        defaults={
            "source": ReferenceProfile.Source.UPLOAD,
            "rows": len(matrix),
            "features": drift.profile(matrix, version.input_schema),
            "created_by": actor,
        },
    )
    AuditEvent.objects.create(
        model_id=version.model_id,
        version=version,
        action="reference_set",
        actor=actor,
        details={"rows": len(matrix)},
    )
    return profile
