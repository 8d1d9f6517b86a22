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


def _answer(output) -> dict:
    """An output as stored: a number (or None) is a regressor's value."""
    return output if isinstance(output, dict) else {"value": output}


def served(version, user, *, output=None, ms=10.0, status="succeeded", route="alias", ago=0):
    """A finished prediction of `version` created `ago` minutes ago, its inference `ms` long;
    `output` an output, or a regressor's value."""
    created = timezone.now() - timedelta(minutes=ago)
    return Prediction.objects.create(
        user=user,
        model=version.model,
        version=version,
        requested_version="production" if route != "explicit" else str(version.number),
        route=route,
        status=status,
        input={"x": 1, "y": ago},
        output=_answer(output) if status == "succeeded" else None,
        error={"code": "model_error", "message": "no"} if status == "failed" else None,
        created_at=created,
        started_at=created,
        finished_at=created + timedelta(milliseconds=ms),
    )


def shadowed(prediction, version, *, output=None, ms=10.0, status="succeeded", created_at=None):
    """`version`'s shadow run of `prediction`, made when the prediction was (or at
    `created_at`), stored as a worker stores it (with the primary's side); `output` an output,
    or a regressor's value."""
    run = ShadowRun(
        prediction=prediction,
        version=version,
        status=status,
        output=_answer(output) if status == "succeeded" and output is not None else output,
        error={"code": "model_error", "message": "no"} if status == "failed" else None,
        duration_ms=ms if status != "skipped" else None,
        created_at=created_at or prediction.created_at,
    )
    ShadowRun.objects.store([run])
    return ShadowRun.objects.get(prediction=prediction, version=version)


def bare_versions(name: str, task: str, labels=None) -> tuple[ModelVersion, ModelVersion]:
    """Two version rows of a new model, never run: a comparison reads only stored answers."""
    model = MLModel.objects.create(name=name, task=task)
    return tuple(
        ModelVersion.objects.create(
            model=model,
            number=number,
            artifact=f"artifacts/{name}-{number}.onnx",
            format="onnx",
            runtime="onnxruntime",
            sha256="0" * 64,
            size=1,
            input_schema=[],
            input_example={},
            labels=labels,
        )
        for number in (1, 2)
    )
