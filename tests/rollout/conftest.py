from datetime import timedelta
from pathlib import Path

import joblib
import numpy as np
import pytest
from django.test import override_settings
from django.utils import timezone

from mlservice.redis import redis_connection
from predictions.cache import predictors
from predictions.models import Prediction, ShadowRun
from registry import services as registry_services
from registry.models import MLModel, ModelVersion
from tests.predictions.conftest import (  # noqa: F401 - fixtures and helpers
    XY_SCHEMA,
    alice,
    alice_client,
    media_root,
    run_worker,
)
from tests.registry.conftest import Artifacts, linear_onnx
from tests.rollout import shadow_models


@pytest.fixture(autouse=True)
def _fresh_queue_and_cache(settings):
    # A worker reads which aliases have shadows at every batch here, not once a second.
    settings.ROLLOUT_SHADOW_REFRESH_SECONDS = 0
    redis_connection().flushdb()
    predictors.clear()
    yield
    predictors.clear()


def add_version(model: MLModel, estimator_class, tmp_path: Path, **fields) -> ModelVersion:
    """A joblib version: any behaviour, but slower to upload (validated in another process)."""
    path = tmp_path / f"{model.name}-{estimator_class.__name__}.joblib"
    joblib.dump(estimator_class().fit([[0.0, 0.0]]), path)
    with override_settings(ALLOW_PICKLE_UPLOADS=True):
        return registry_services.version_create(
            model=model,
            artifact=path,
            format="joblib",
            input_schema=XY_SCHEMA,
            input_example={"x": 1, "y": 2},
            expected_sha256=Artifacts.sha256(path),
            trusted_operator=True,
            **fields,
        )


def add_linear(model: MLModel, tmp_path: Path, intercept: float, **fields) -> ModelVersion:
    """An ONNX version computing x + y + intercept."""
    path = tmp_path / f"{model.name}-plus-{intercept}.onnx"
    path.write_bytes(linear_onnx(np.array([1.0, 1.0]), intercept).SerializeToString())
    return registry_services.version_create(
        model=model,
        artifact=path,
        format="onnx",
        input_schema=XY_SCHEMA,
        input_example={"x": 1, "y": 2},
        trusted_operator=True,
        **fields,
    )


@pytest.fixture
def xy(db, tmp_path):
    """A regression model: v1 (production) answers x + y; v2 answers x + y + 0.5."""
    model = registry_services.model_create(name="xy", task="regression")
    v1 = add_linear(model, tmp_path, 0.0)
    add_linear(model, tmp_path, 0.5)
    registry_services.alias_set(model=model, alias="production", version=v1)
    return model


@pytest.fixture
def raising(xy, tmp_path):
    """v3 of xy: fails on every real request."""
    return add_version(xy, shadow_models.RaisingRegressor, tmp_path)


@pytest.fixture
def sleeping(xy, tmp_path):
    """v3 of xy: sleeps 3 s on every real request."""
    return add_version(xy, shadow_models.SleepingRegressor, tmp_path, timeout_seconds=10)


def version(model: MLModel, number: int) -> ModelVersion:
    return model.versions.get(number=number)


def served(version, user, *, output=None, ms=10.0, status="succeeded", route="alias", ago=0):
    """A finished prediction of `version` created `ago` minutes ago, its inference `ms` long."""
    created = timezone.now() - timedelta(minutes=ago)
    return Prediction.objects.create(
        user=user,
        model=version.model,
        version=version,
        requested_version="production" if route != "explicit" else str(version.number),
        route=route,
        status=status,
        input={"x": 1, "y": ago},
        output={"value": output} if status == "succeeded" else None,
        error={"code": "model_error", "message": "no"} if status == "failed" else None,
        created_at=created,
        started_at=created,
        finished_at=created + timedelta(milliseconds=ms),
    )


def shadowed(prediction, version, *, output=None, ms=10.0, status="succeeded"):
    """`version`'s shadow run of `prediction`, made when the prediction was."""
    return ShadowRun.objects.create(
        prediction=prediction,
        version=version,
        status=status,
        output={"value": output} if status == "succeeded" else None,
        error={"code": "model_error", "message": "no"} if status == "failed" else None,
        duration_ms=ms if status != "skipped" else None,
        created_at=prediction.created_at,
    )
