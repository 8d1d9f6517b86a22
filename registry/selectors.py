import hashlib

from django.db.models import Prefetch, QuerySet

from mlservice import rawsql
from mlservice.errors import NotFound
from registry.models import PRODUCTION, Alias, MLModel, ModelVersion, Route


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


def version_resolve(*, user, model_name: str, ref: int | str | None = None) -> ModelVersion:
    """The version a user asks for, with its model: by number (`3`, `"3"`) or alias name
    (default `production`); archived models are invisible to non-staff. An alias's canary
    split is not applied here: this is the version the alias names."""
    return version_route(user=user, model_name=model_name, ref=ref)[0]


def version_route(
    *, user, model_name: str, ref: int | str | None = None, split_key: str | None = None
) -> tuple[ModelVersion, str]:
    """The version that serves a prediction, and why (a `Route`). With `split_key`, an alias
    with a canary split sends the share of keys its percent says to the canary version; a
    key always lands on the same side of a given split.

    This runs on every prediction submit, so the version and its model come from one
    hand-written statement on indexed columns (the ORM's way costs several times the query).
    Only when it finds nothing does a second query say precisely what is missing.
    """
    ref = PRODUCTION if ref in (None, "") else ref
    number = _version_number(ref)
    if not isinstance(ref, bool):
        bucket = 100.0 if split_key is None else split_bucket(str(model_name), str(ref), split_key)
        found = _version_row(user, str(model_name), number, str(ref), bucket)
        if found is not None:
            return found
    model = model_get(user=user, name=str(model_name))
    if isinstance(ref, bool):
        message = "Version must be a number or an alias name."
    elif number is not None:
        message = f"Model {model.name!r} has no version {ref}."
    else:
        message = f"Model {model.name!r} has no alias {str(ref)[:64]!r}."
    raise NotFound(message, code="version_not_found")


def split_bucket(model_name: str, alias: str, key: str) -> float:
    """Where a key falls in [0, 100) for this model's alias: a hash, so the same key always
    falls in the same place and keys spread evenly."""
    digest = hashlib.sha256(f"{model_name}/{alias}/{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * 100


def _version_number(ref) -> int | None:
    if isinstance(ref, int) and not isinstance(ref, bool):
        return ref
    return int(ref) if isinstance(ref, str) and ref.isdecimal() else None


def _version_row(
    user, model_name: str, number: int | None, alias: str, bucket: float
) -> tuple[ModelVersion, str] | None:
    archived = "" if user.is_staff else "AND NOT m.is_archived"
    if number is not None:
        sql = f"""SELECT {VERSION.sql}, {MODEL.sql}, NULL FROM registry_modelversion v
                  JOIN registry_mlmodel m ON m.id = v.model_id
                  WHERE m.name = %s AND v.number = %s {archived}"""
        params = [model_name, number]
    else:
        sql = f"""SELECT {VERSION.sql}, {MODEL.sql}, v.id <> a.version_id
                  FROM registry_alias a
                  JOIN registry_mlmodel m ON m.id = a.model_id
                  JOIN registry_modelversion v ON v.id = CASE
                    WHEN %s::float8 < a.canary_percent THEN a.canary_version_id
                    ELSE a.version_id END
                  WHERE m.name = %s AND a.name = %s {archived}"""
        params = [bucket, model_name, alias]
    row = rawsql.fetchone(sql, params)
    if row is None:
        return None
    version = VERSION.build(row)
    version.model = MODEL.build(row[VERSION.width :])
    canary = row[-1]
    return version, Route.EXPLICIT if canary is None else Route.CANARY if canary else Route.ALIAS


def version_or_latest(*, user, model_name: str, ref: int | str | None = None) -> ModelVersion:
    """Like `version_resolve`, but with no ref and no production alias, the newest version."""
    return version_route_or_latest(user=user, model_name=model_name, ref=ref)[0]


def version_route_or_latest(
    *, user, model_name: str, ref: int | str | None = None, split_key: str | None = None
) -> tuple[ModelVersion, str]:
    """Like `version_route`, but with no ref and no production alias, the newest version, as
    if the request had named it."""
    if ref in (None, ""):
        model = model_get(user=user, name=model_name)
        if not model.aliases.filter(name=PRODUCTION).exists():
            latest = model.latest_version()
            if latest is None:
                raise NotFound(
                    f"Model {model.name!r} has no versions yet.", code="version_not_found"
                )
            latest.model = model
            return latest, Route.EXPLICIT
    return version_route(user=user, model_name=model_name, ref=ref, split_key=split_key)


def formats_in_use() -> set[str]:
    """The artifact formats the registry serves: its versions' own, and onnx for their twins."""
    formats = set(ModelVersion.objects.values_list("format", flat=True).distinct())
    if ModelVersion.objects.exclude(onnx_twin="").exists():
        formats.add("onnx")
    return formats
