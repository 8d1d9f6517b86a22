"""Open Inference Protocol calls on this service's models: metadata, readiness and inference.

An inference is an ordinary stored prediction (same credits, limits and history as /api/v1),
submitted through predictions' own submit path, run by the workers and waited for here.
"""

import numpy as np
from django.conf import settings

from billing import limits as usage_limits
from inference import tensors
from mlservice.errors import Conflict, ServiceError
from mlservice.parsers import unstorable_text
from predictions import actions, columns, submit
from predictions.models import Prediction, Status
from registry.models import ModelVersion, Route, Task
from registry.selectors import version_route_or_latest, versions_of

SERVER_NAME = "mlservice"
SERVER_VERSION = settings.SPECTACULAR_SETTINGS["VERSION"]


class BadTensors(ServiceError, code="invalid_tensors"):
    pass


class NotFinished(ServiceError, status_code=504, code="not_finished"):
    """The wait limit passed first: the prediction goes on and can be fetched by its id."""


class PredictionFailed(ServiceError, status_code=500, code="prediction_failed"):
    pass


def server_metadata() -> dict:
    return {"name": SERVER_NAME, "version": SERVER_VERSION, "extensions": []}


def version_get(*, user, model_name: str, ref: str | None) -> ModelVersion:
    """The version a V2 path names (a number or an alias); without one, production or the
    newest, as the model's own page shows it."""
    return route_for(user=user, model_name=model_name, ref=ref)[0]


def route_for(
    *, user, model_name: str, ref: str | None, split: bool = False
) -> tuple[ModelVersion, str]:
    """`version_get`'s version and why it serves (a `Route`); with `split`, an inference's:
    an alias (named, or production for a path without a version) splits it as a submit on
    /api/v1 is split. Forecast models have no V2 form: a request is a horizon and a history,
    not a tensor of features."""
    problem = unstorable_text([model_name, ref])  # a path's text, which no parser has seen
    if problem is not None:
        raise ServiceError(f"The model or version in the path: {problem}", code="bad_request")
    key = submit.split_key(user) if split else None
    version, route = version_route_or_latest(
        user=user, model_name=model_name, ref=ref, split_key=key
    )
    if version.is_forecast:
        raise ServiceError(
            f"{model_name} is a forecast model, which the Open Inference Protocol does not "
            f"describe; forecast with POST /api/v1/predictions/.",
            code="not_served",
        )
    return version, route


def _is_regression(version: ModelVersion) -> bool:
    return version.model.task == Task.REGRESSION


def model_metadata(*, version: ModelVersion) -> dict:
    numbers = versions_of(version.model).order_by("number").values_list("number", flat=True)
    return {
        "name": version.model.name,
        "versions": [str(number) for number in numbers],
        "platform": version.runtime,
        "inputs": tensors.input_metadata(version.input_schema),
        "outputs": tensors.output_metadata(_is_regression(version), version.labels),
    }


def model_infer(*, user, model_name: str, ref: str | None, body) -> dict:
    """Route the request as a submit is routed (an alias's canary split and shadows apply; a
    version number is never split), read its tensors, store and enqueue the prediction, wait
    for it and answer its outputs as V2 tensors, with the version that served it."""
    version, route = route_for(user=user, model_name=model_name, ref=ref, split=True)
    try:
        rows = tensors.read_rows(body, version.input_schema)
        chosen = tensors.requested_outputs(body, tensors.output_names(_is_regression(version)))
    except tensors.TensorError as exc:
        raise BadTensors(str(exc)) from None
    usage_limits.check_rate(user=user)  # 429 past the per-minute limit, as on /api/v1
    prediction, _ = submit.prediction_create(
        user=user,
        model_name=version.model.name,
        version_ref=version.number if route == Route.EXPLICIT else ref,
        version=version,
        route=route,
        row=rows[0] if len(rows) == 1 else None,
        rows=rows if len(rows) != 1 else None,
    )
    prediction = actions.prediction_wait(
        prediction=prediction, seconds=settings.PREDICTION_MAX_WAIT_SECONDS
    )
    return {
        "model_name": version.model.name,
        "model_version": str(version.number),
        "id": body.get("id") or str(prediction.pk),
        "parameters": {"prediction_id": str(prediction.pk)},
        "outputs": tensors.output_tensors(chosen, _results(prediction), version.labels),
    }


def _results(prediction: Prediction) -> np.ndarray:
    """The finished prediction's results matrix; an error naming it if it did not succeed."""
    where = {
        "prediction_id": str(prediction.pk),
        "prediction_url": f"/api/v1/predictions/{prediction.pk}/",
    }
    if not prediction.is_terminal:
        raise NotFinished(
            f"Prediction {prediction.pk} did not finish within "
            f"{settings.PREDICTION_MAX_WAIT_SECONDS} seconds; it goes on, fetch it at "
            f"{where['prediction_url']}.",
            extra=where,
        )
    if prediction.status == Status.CANCELLED:
        raise Conflict(f"Prediction {prediction.pk} was cancelled.", extra=where)
    if prediction.status != Status.SUCCEEDED:
        reason = (prediction.error or {}).get("message") or prediction.status
        message = f"Prediction {prediction.pk} {prediction.status}: {reason}"
        raise PredictionFailed(message, extra=where)
    if not prediction.is_batch:
        return tensors.results_of_output(prediction.output, prediction.version.labels)
    chunks = prediction.chunks.order_by("seq").values_list("output_matrix", flat=True)
    return np.concatenate([columns.from_bytes(data) for data in chunks])
