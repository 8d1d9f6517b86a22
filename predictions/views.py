import orjson
from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from billing import limits as usage_limits
from billing.authentication import UsageLimitsJWTAuthentication
from mlservice.apiviews import BuiltOnce
from mlservice.errors import Conflict, ServiceError
from mlservice.parsers import JSONParser
from mlservice.renderers import JSONRenderer
from predictions import actions, csvio, selectors, submit
from predictions.filters import FilterBackend, PredictionFilter
from predictions.models import Prediction, Status
from predictions.serializers import (
    PredictionCreateSerializer,
    PredictionCSVSerializer,
    PredictionListSerializer,
    PredictionSerializer,
)

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="Resubmitting with the same key returns the first prediction instead of a new "
    "one; the same key with a different body is 409.",
)
WAIT = OpenApiParameter(
    "wait",
    int,
    description="Hold the request up to N seconds (max 30) until the prediction is finished.",
)


class PredictionViewSet(BuiltOnce, viewsets.GenericViewSet):
    """Submit predictions, read them (optionally waiting), list history, cancel and retry."""

    serializer_class = PredictionSerializer
    queryset = Prediction.objects.none()  # for the OpenAPI schema; requests use get_queryset()
    authentication_classes = [UsageLimitsJWTAuthentication]
    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser, MultiPartParser]
    renderer_classes = [JSONRenderer]
    throttle_classes = []  # submits are limited by billing.limits (429 with Retry-After)
    filter_backends = [FilterBackend]
    filterset_class = PredictionFilter
    # A canonical UUID only: anything else is a 404 at the URL, never a 500 in the lookup.
    lookup_value_regex = r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}"

    def get_queryset(self):
        return selectors.predictions_for(user=self.request.user)

    def get_object(self):
        return selectors.prediction_get(user=self.request.user, prediction_id=self.kwargs["pk"])

    def _accepted(self, prediction: Prediction, created: bool) -> Response:
        return Response(
            PredictionSerializer(prediction).data,
            status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK,
            headers={"Location": _location(prediction)},
        )

    @extend_schema(
        parameters=[IDEMPOTENCY_HEADER],
        request={
            "application/json": PredictionCreateSerializer,
            "multipart/form-data": PredictionCSVSerializer,
        },
        responses={
            202: OpenApiResponse(
                PredictionSerializer, description="Stored and queued: a new prediction."
            ),
            200: OpenApiResponse(
                PredictionSerializer,
                description="An Idempotency-Key already used with this body: the first "
                "prediction, as it is now.",
            ),
        },
        description="JSON: one row (`input`) or many (`inputs`). Multipart: a CSV `file` whose "
        "header names the features. A new prediction answers 202 and runs asynchronously "
        "(poll its Location, or GET it with `?wait=`); a repeated Idempotency-Key answers 200.",
    )
    def create(self, request):
        user = request.user
        usage_limits.check_rate(user=user)  # 429 past the per-minute limit
        key = _idempotency_key(request)
        if request.content_type.startswith("multipart/"):
            data = PredictionCSVSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            prediction, created = submit.prediction_create_from_csv(
                user=user,
                model_name=data.validated_data["model"],
                version_ref=data.validated_data["version"],
                upload=data.validated_data["file"],
                idempotency_key=key,
            )
        else:
            data = PredictionCreateSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            prediction, created = _create_from_json(user, key, data.validated_data)
        return self._accepted(prediction, created)

    @extend_schema(
        parameters=[WAIT],
        description="With `?wait=N` the answer waits up to N seconds for the prediction to "
        "finish, then shows it as it is then.",
    )
    def retrieve(self, request, pk=None):
        prediction = self.get_object()
        wait = request.query_params.get("wait")
        if wait is not None:
            try:
                seconds = float(wait)
            except ValueError:
                seconds = -1
            if not 0 <= seconds <= settings.PREDICTION_MAX_WAIT_SECONDS:
                raise ValidationError({"wait": ["Use a number of seconds from 0 to 30."]})
            prediction = actions.prediction_wait(prediction=prediction, seconds=seconds)
        return Response(PredictionSerializer(prediction).data)

    @extend_schema(
        responses=PredictionListSerializer(many=True),
        description="Filter by model, version, status (one or more, comma-separated) and "
        "creation time; a batch's rows are left out (read them on the prediction).",
    )
    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(PredictionListSerializer(page, many=True).data)

    @extend_schema(request=None, responses={200: PredictionSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        prediction = actions.prediction_cancel(prediction=self.get_object())
        return Response(PredictionSerializer(prediction).data)

    @extend_schema(
        parameters=[IDEMPOTENCY_HEADER],
        request=None,
        responses={202: PredictionSerializer, 200: PredictionSerializer},
    )
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        usage_limits.check_rate(user=request.user)
        prediction, created = actions.prediction_retry(
            prediction=self.get_object(),
            user=request.user,
            idempotency_key=_idempotency_key(request),
        )
        return self._accepted(prediction, created)

    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=["json", "csv"])],
        responses={200: OpenApiResponse(description="CSV or JSON (see the content types).")},
    )
    @action(detail=True, methods=["get"])
    def result(self, request, pk=None):
        """Download a finished batch's results (CSV or JSON), streamed."""
        prediction = self.get_object()
        fmt = request.query_params.get("format", "json")
        if fmt not in ("json", "csv"):
            raise ValidationError({"format": ["Use json or csv."]})
        if prediction.status != Status.SUCCEEDED:
            raise Conflict(
                f"The prediction is {prediction.status}; results exist only once it has succeeded.",
                code="not_ready",
            )
        if not prediction.is_batch:
            raise Conflict(
                "A single-row prediction has its output on the prediction itself.",
                code="not_a_batch",
            )
        if fmt == "csv":
            response = StreamingHttpResponse(csvio.stream_csv(prediction), content_type="text/csv")
            response["Content-Disposition"] = (
                f'attachment; filename="prediction-{prediction.pk}.csv"'
            )
            return response
        return StreamingHttpResponse(_stream_json(prediction), content_type="application/json")


def _stream_json(prediction: Prediction):
    head = {
        "id": str(prediction.pk),
        "model": prediction.model.name,
        "version": prediction.version.number,
        "row_count": prediction.row_count,
    }
    yield orjson.dumps(head).decode()[:-1] + ',"outputs":['
    yield from csvio.stream_json_outputs(prediction)
    yield "]}"


def _location(prediction: Prediction) -> str:
    return f"/api/v1/predictions/{prediction.pk}/"


def _create_from_json(user, key: str | None, body: dict) -> tuple[Prediction, bool]:
    """Submit a validated JSON body: {model, version, input} or {model, version, inputs}."""
    return submit.prediction_create(
        user=user,
        model_name=body["model"],
        version_ref=body["version"],
        row=body.get("input"),
        rows=body.get("inputs"),
        idempotency_key=key,
        # Only compared between requests with the same key: not worth hashing a large body
        # without one.
        request_fingerprint=submit.fingerprint(body) if key else "",
    )


def _idempotency_key(request) -> str | None:
    key = request.headers.get("Idempotency-Key") or None
    if key and len(key) > 255:
        raise ServiceError(
            "Idempotency-Key is longer than 255 characters.",
            fields={"Idempotency-Key": ["At most 255 characters."]},
        )
    return key
