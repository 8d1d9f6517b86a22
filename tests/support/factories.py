"""factory_boy factories for the rows tests build. Versions, aliases and predictions are made by
the same services the API calls (validated, stored, priced), from real trained models."""

from decimal import Decimal
from pathlib import Path

import factory
import joblib
from django.test import override_settings

from accounts.models import User
from billing.models import Account, Kind, LedgerEntry
from predictions.models import Prediction
from predictions.submit import prediction_create
from registry import services
from registry.models import PRODUCTION, Alias, MLModel, ModelVersion
from tests.support.api import SETOSA, VIRGINICA
from tests.support.models import IRIS, XY_SCHEMA, Artifacts, shared_artifacts

DEFAULT_PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", DEFAULT_PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class MLModelFactory(factory.django.DjangoModelFactory):
    """A model made by `registry.services.model_create` (a classifier unless `task` says)."""

    class Meta:
        model = MLModel

    name = factory.Sequence(lambda n: f"model-{n}")
    task = "classification"
    title = factory.LazyAttribute(lambda m: m.name.capitalize())

    @classmethod
    def _create(cls, model_class, **fields):
        return services.model_create(**fields)


class ModelVersionFactory(factory.django.DjangoModelFactory):
    """A version registered by `registry.services.version_create`: by default the iris demo
    model in skops; `spec=DIABETES`, `format="onnx"` or an `artifact` path choose another.
    `alias="production"` points that alias at it."""

    class Meta:
        model = ModelVersion

    class Params:
        spec = IRIS

    model = factory.SubFactory(MLModelFactory, task=factory.SelfAttribute("..spec.task"))
    format = "skops"
    artifact = factory.LazyAttribute(
        lambda v: getattr(shared_artifacts(), f"{v.spec.name}_{v.format}")
    )
    input_schema = factory.LazyAttribute(lambda v: v.spec.input_schema)
    input_example = factory.LazyAttribute(lambda v: v.spec.input_example)
    labels = factory.LazyAttribute(lambda v: v.spec.labels)
    trusted_operator = True

    @classmethod
    def _create(cls, model_class, **fields):
        return services.version_create(**fields)


def register_hostile(name: str, estimator_class, tmp_path: Path, **version_fields) -> MLModel:
    """A badly behaved regressor of `hostile_models`, pickled and in production."""
    path = tmp_path / f"{name}.joblib"
    joblib.dump(estimator_class().fit([[0.0, 0.0]]), path)
    with override_settings(ALLOW_PICKLE_UPLOADS=True):  # off by default
        version = ModelVersionFactory(
            model=MLModelFactory(name=name, task="regression", title=""),
            artifact=path,
            format="joblib",
            input_schema=XY_SCHEMA,
            input_example={"x": 1, "y": 2},
            labels=None,
            expected_sha256=Artifacts.sha256(path),
            alias=PRODUCTION,
            **version_fields,
        )
    return version.model


class AliasFactory(factory.django.DjangoModelFactory):
    """An alias moved by `registry.services.alias_set` (production, unless `alias` says)."""

    class Meta:
        model = Alias

    version = factory.SubFactory(ModelVersionFactory)
    model = factory.SelfAttribute("version.model")
    alias = PRODUCTION

    @classmethod
    def _create(cls, model_class, **fields):
        return services.alias_set(**fields)


class PredictionFactory(factory.django.DjangoModelFactory):
    """A single-row prediction stored by the submit service, as `POST /api/v1/predictions/`
    stores it (it is enqueued when the transaction commits), on the iris demo model in
    production unless `model` names another that serves."""

    class Meta:
        model = Prediction

    user = factory.SubFactory(UserFactory)
    model = factory.LazyFunction(lambda: ModelVersionFactory(alias=PRODUCTION).model)
    row = SETOSA

    @classmethod
    def _create(cls, model_class, *, model, **fields):
        prediction, _ = prediction_create(model_name=model.name, **fields)
        return prediction


class BatchPredictionFactory(PredictionFactory):
    row = None
    rows = (SETOSA, VIRGINICA)

    @classmethod
    def _create(cls, model_class, *, rows, **fields):
        return super()._create(model_class, rows=list(rows), **fields)


class AccountFactory(factory.django.DjangoModelFactory):
    """A credit account with no credits (the API opens one with the starting grant instead)."""

    class Meta:
        model = Account

    user = factory.SubFactory(UserFactory)


class LedgerEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LedgerEntry

    account = factory.SubFactory(AccountFactory)
    kind = Kind.GRANT
    amount = Decimal(10)
    available_after = Decimal(0)
    reserved_after = Decimal(0)
