from django.db.models import QuerySet

from mlservice import rawsql
from mlservice.errors import NotFound
from predictions.models import Prediction
from registry.selectors import MODEL, VERSION


def predictions_for(*, user) -> QuerySet[Prediction]:
    """The user's own history, newest first (predictions.filters narrows it)."""
    queryset = Prediction.objects.filter(user=user).select_related("model", "version")
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
