from datetime import datetime

from django.db.models import QuerySet
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.timezone import is_naive, make_aware
from rest_framework.exceptions import ValidationError

from mlservice import rawsql
from mlservice.errors import NotFound
from predictions.models import Prediction, Status
from registry.selectors import MODEL, VERSION


def _moment(name: str, value: str) -> datetime:
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        moment = datetime(day.year, day.month, day.day) if day else None
    if moment is None:
        raise ValidationError({name: ["Use an ISO 8601 date or date-time."]})
    return make_aware(moment) if is_naive(moment) else moment


def predictions_for(*, user, filters) -> QuerySet[Prediction]:
    """The user's own history, newest first, filtered by model/version/status/date range."""
    queryset = Prediction.objects.filter(user=user).select_related("model", "version")
    if filters.get("model"):
        queryset = queryset.filter(model__name=filters["model"])
    if filters.get("version"):
        if not str(filters["version"]).isdecimal():
            raise ValidationError({"version": ["Use a version number."]})
        queryset = queryset.filter(version__number=int(filters["version"]))
    if filters.get("status"):
        statuses = str(filters["status"]).split(",")
        unknown = [s for s in statuses if s not in Status.values]
        if unknown:
            raise ValidationError({"status": [f"Unknown status; use {', '.join(Status.values)}."]})
        queryset = queryset.filter(status__in=statuses)
    if filters.get("created_after"):
        queryset = queryset.filter(
            created_at__gte=_moment("created_after", filters["created_after"])
        )
    if filters.get("created_before"):
        queryset = queryset.filter(
            created_at__lt=_moment("created_before", filters["created_before"])
        )
    return queryset.order_by("-created_at", "-pk")


def prediction_get(*, user, prediction_id) -> Prediction:
    """A user's own prediction; anyone else's is simply not found."""
    prediction = (
        Prediction.objects.select_related("model", "version")
        .filter(pk=prediction_id, user=user)
        .first()
    )
    if prediction is None:
        raise NotFound("No such prediction.", code="not_found")
    return prediction


PREDICTION = rawsql.Columns(Prediction, "p")


def prediction_to_run(prediction_id) -> Prediction | None:
    """A prediction with its version and model, for a worker's job: one prepared statement
    (each job starts with it; the ORM's select_related costs several times the query)."""
    sql = f"""SELECT {PREDICTION.sql}, {VERSION.sql}, {MODEL.sql}
              FROM {Prediction._meta.db_table} p
              JOIN registry_modelversion v ON v.id = p.version_id
              JOIN registry_mlmodel m ON m.id = v.model_id
              WHERE p.id = %s"""
    row = rawsql.fetchone(sql, [str(prediction_id)])
    if row is None:
        return None
    prediction = PREDICTION.build(row)
    version = VERSION.build(row[PREDICTION.width :])
    version.model = MODEL.build(row[PREDICTION.width + VERSION.width :])
    prediction.version, prediction.model = version, version.model
    return prediction
