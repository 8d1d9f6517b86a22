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
    """A version by number or alias name in one query, with its model; None if not found."""
    ref = "production" if ref in (None, "") else ref
    if isinstance(ref, bool):
        return None
    versions = ModelVersion.objects.select_related("model").filter(model__name=model_name)
    if not user.is_staff:
        versions = versions.filter(model__is_archived=False)
    if isinstance(ref, int) or str(ref).isdigit():
        return versions.filter(number=int(ref)).first()
    return versions.filter(aliases__name=str(ref), aliases__model__name=model_name).first()
