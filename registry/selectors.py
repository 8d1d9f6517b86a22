from django.db.models import Prefetch, QuerySet

from mlservice import rawsql
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


VERSION = rawsql.Columns(ModelVersion, "v")
MODEL = rawsql.Columns(MLModel, "m")


def version_lookup(*, user, model_name: str, ref) -> ModelVersion | None:
    """A version by number or alias name, with its model; None if not found.

    This runs on every prediction submit, so it is one hand-written statement on indexed columns
    that returns the version and its model (the ORM's version costs several times the query).
    """
    ref = "production" if ref in (None, "") else ref
    if isinstance(ref, bool):
        return None
    archived = "" if user.is_staff else "AND NOT m.is_archived"
    if isinstance(ref, int) or str(ref).isdigit():
        where = "v.number = %s"
        params = [model_name, int(ref)]
    else:
        where = """v.id = (SELECT a.version_id FROM registry_alias a
                           WHERE a.model_id = m.id AND a.name = %s)"""
        params = [model_name, str(ref)]
    sql = f"""SELECT {VERSION.sql}, {MODEL.sql} FROM registry_modelversion v
              JOIN registry_mlmodel m ON m.id = v.model_id
              WHERE m.name = %s AND {where} {archived}"""
    row = rawsql.fetchone(sql, params)
    if row is None:
        return None
    version = VERSION.build(row)
    version.model = MODEL.build(row[VERSION.width :])
    return version
