from django.db import connection
from django.db.models import Prefetch, QuerySet

from mlservice.errors import NotFound
from registry.models import Alias, MLModel, ModelVersion


def models_for(user) -> QuerySet[MLModel]:
    aliases = Alias.objects.select_related("version").prefetch_related("version__aliases")
    return MLModel.objects.visible_to(user).prefetch_related(Prefetch("aliases", queryset=aliases))


def model_get(*, user, name: str) -> MLModel:
    model = MLModel.objects.visible_to(user).filter(name=name).first()
    if model is None:
        raise NotFound(f"No model named {name[:64]!r}.", code="model_not_found")
    return model


def versions_of(model: MLModel) -> QuerySet[ModelVersion]:
    return model.versions.select_related("created_by").prefetch_related("aliases")


def model_detail(*, user, name: str) -> MLModel:
    versions = ModelVersion.objects.prefetch_related("aliases").order_by("-number")
    model = (
        models_for(user)
        .prefetch_related(Prefetch("versions", queryset=versions))
        .filter(name=name)
        .first()
    )
    if model is None:
        raise NotFound(f"No model named {name[:64]!r}.", code="model_not_found")
    return model


def version_lookup(*, user, model_name: str, ref) -> ModelVersion | None:
    """A version by number or alias name, with its model; None if not found.

    This runs on every prediction submit, so the search is one small hand-written query on
    indexed columns (the ORM's version of the alias join costs several milliseconds here).
    """
    ref = "production" if ref in (None, "") else ref
    if isinstance(ref, bool):
        return None
    archived = "" if user.is_staff else "AND NOT m.is_archived"
    if isinstance(ref, int) or str(ref).isdigit():
        sql = f"""SELECT v.id FROM registry_modelversion v
                  JOIN registry_mlmodel m ON m.id = v.model_id
                  WHERE m.name = %s AND v.number = %s {archived}"""
        params = [model_name, int(ref)]
    else:
        sql = f"""SELECT a.version_id FROM registry_alias a
                  JOIN registry_mlmodel m ON m.id = a.model_id
                  WHERE m.name = %s AND a.name = %s {archived}"""
        params = [model_name, str(ref)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    return ModelVersion.objects.select_related("model").get(pk=row[0])
