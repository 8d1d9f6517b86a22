"""Rollout helpers: versions of the `xy` regression model, and stored predictions with the
shadow runs a worker would have written beside them."""

from datetime import timedelta
from pathlib import Path

import joblib
import numpy as np
from django.test import override_settings
from django.utils import timezone

from predictions.models import Prediction, ShadowRun
from registry import services as registry_services
from registry.models import MLModel, ModelVersion, Route
from tests.support.factories import ModelVersionFactory
from tests.support.models import XY_SCHEMA, Artifacts, linear_onnx

XY_EXAMPLE = {"x": 1, "y": 2}


def version(model: MLModel, number: int) -> ModelVersion:
    return model.versions.get(number=number)


def add_joblib(model: MLModel, estimator_class, tmp_path: Path, **fields) -> ModelVersion:
    """A joblib version: any behaviour, but slower to upload (validated in another process)."""
    path = tmp_path / f"{model.name}-{estimator_class.__name__}.joblib"
    joblib.dump(estimator_class().fit([[0.0, 0.0]]), path)
    with override_settings(ALLOW_PICKLE_UPLOADS=True):
        return ModelVersionFactory(
            model=model,
            artifact=path,
            format="joblib",
            input_schema=XY_SCHEMA,
            input_example=XY_EXAMPLE,
            labels=None,
            expected_sha256=Artifacts.sha256(path),
            **fields,
        )


def add_linear(model: MLModel, tmp_path: Path, intercept: float, **fields) -> ModelVersion:
    """An ONNX version computing x + y + intercept."""
    path = tmp_path / f"{model.name}-plus-{intercept}.onnx"
    path.write_bytes(linear_onnx(np.array([1.0, 1.0]), intercept).SerializeToString())
    return ModelVersionFactory(
        model=model,
        artifact=path,
        format="onnx",
        input_schema=XY_SCHEMA,
        input_example=XY_EXAMPLE,
        labels=None,
        **fields,
    )


def shadow(model: MLModel, number: int) -> None:
    registry_services.alias_shadow_add(
        model=model, alias="production", version=version(model, number), reason="try it"
    )


def split(model: MLModel, number: int, percent: float) -> None:
    """The production alias sends `percent` of its predictions to version `number`."""
    registry_services.alias_split_set(
        model=model, alias="production", version=version(model, number), percent=percent
    )


def served_by_canary(predictions) -> float:
    """The share of these predictions the alias's canary split served."""
    return sum(p.route == Route.CANARY for p in predictions) / len(predictions)


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
        output={"value": output} if status == "succeeded" and output is not None else output,
        error={"code": "model_error", "message": "no"} if status == "failed" else None,
        duration_ms=ms if status != "skipped" else None,
        created_at=prediction.created_at,
    )
