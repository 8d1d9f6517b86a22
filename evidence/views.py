from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from evidence import selectors, services
from evidence.serializers import (
    DriftSerializer,
    FeedbackCSVSerializer,
    FeedbackImportSerializer,
    FeedbackInputSerializer,
    FeedbackSerializer,
    QualitySerializer,
    ReferenceSerializer,
    ReferenceUploadSerializer,
)
from registry import selectors as registry_selectors

WINDOW = OpenApiParameter(
    "window", str, description="How far back: a number and m, h or d (default 7d)."
)
VERSION = OpenApiParameter("version", str, description="Version number or alias.")


class FeedbackView(APIView):
    """The true outcome of one of your predictions (staff: of any), once per prediction or
    batch row."""

    def _prediction(self, request, pk):
        return selectors.prediction_for_feedback(user=request.user, prediction_id=pk)

    @extend_schema(responses=FeedbackSerializer(many=True))
    def get(self, request, pk):
        """The feedback given on a prediction (a batch: per row)."""
        feedback = selectors.feedback_of(self._prediction(request, pk)).select_related("version")
        return Response(FeedbackSerializer(feedback, many=True).data)

    @extend_schema(
        operation_id="predictions_feedback_create",
        request=FeedbackInputSerializer,
        responses={201: FeedbackSerializer},
    )
    def post(self, request, pk):
        """Give the true outcome; a second time for the same row is a 409."""
        feedback = self._write(request, pk, services.feedback_create)
        return Response(FeedbackSerializer(feedback).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=FeedbackInputSerializer, responses={200: FeedbackSerializer})
    def put(self, request, pk):
        """Correct the true outcome given before (staff); the audit trail keeps both."""
        feedback = self._write(request, pk, services.feedback_correct, staff_only=True)
        return Response(FeedbackSerializer(feedback).data)

    def _write(self, request, pk, service, *, staff_only: bool = False):
        prediction = self._prediction(request, pk)  # someone else's is a 404 before all
        if staff_only and not request.user.is_staff:
            raise PermissionDenied("Only staff correct feedback.")
        data = FeedbackInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return service(
            prediction=prediction,
            row=data.validated_data["row"],
            value=data.validated_data["truth"],
            actor=request.user,
        )


class FeedbackImportView(APIView):
    """Feedback for many of your predictions from a CSV: every line is checked first, and
    nothing is written unless all are right."""

    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="predictions_feedback_import",
        request=FeedbackCSVSerializer,
        responses={201: FeedbackImportSerializer},
    )
    def post(self, request):
        data = FeedbackCSVSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        created = services.feedback_import_csv(
            upload=data.validated_data["file"], actor=request.user
        )
        return Response({"created": created}, status=status.HTTP_201_CREATED)


class QualityView(APIView):
    """Live quality per version from feedback on the predictions it served in the window
    (staff): accuracy, log loss, per-class precision and recall (classifiers); MAE, RMSE, R2
    (regressors); MAPE (forecasters). Without `version`: every version with feedback in the
    window, and the production version."""

    permission_classes = [IsAdminUser]

    @extend_schema(parameters=[WINDOW, VERSION], responses=QualitySerializer)
    def get(self, request, model_name):
        window = selectors.parse_window(request.query_params.get("window"))
        versions = selectors.model_quality(
            user=request.user,
            model_name=model_name,
            ref=request.query_params.get("version"),
            window=window,
        )
        return Response(
            {"model": model_name, "window": _window_text(request), "versions": versions}
        )


class DriftView(APIView):
    """Drift of a version's inputs in the window against its reference (staff): PSI and the
    KS test per numeric feature, PSI and the share of unseen values per enum; `flagged` names
    the features over their thresholds. Default version: production, else the latest."""

    permission_classes = [IsAdminUser]

    @extend_schema(parameters=[WINDOW, VERSION], responses=DriftSerializer)
    def get(self, request, model_name):
        window = selectors.parse_window(request.query_params.get("window"))
        version = registry_selectors.version_or_latest(
            user=request.user, model_name=model_name, ref=request.query_params.get("version")
        )
        result = selectors.drift_for(version, window)
        return Response({"model": version.model.name, "window": _window_text(request), **result})


class ReferenceView(APIView):
    """A version's reference inputs for drift (staff)."""

    permission_classes = [IsAdminUser]
    parser_classes = [MultiPartParser]

    def _version(self, request, model_name, number):
        return registry_selectors.version_resolve(
            user=request.user, model_name=model_name, ref=int(number)
        )

    @extend_schema(responses=ReferenceSerializer)
    def get(self, request, model_name, number):
        """The uploaded reference's histograms; 404 when the version has none."""
        version = self._version(request, model_name, number)
        profile = selectors.uploaded_reference(version)
        return Response(ReferenceSerializer(profile).data)

    @extend_schema(request=ReferenceUploadSerializer, responses={201: ReferenceSerializer})
    def post(self, request, model_name, number):
        """Upload a CSV of reference inputs (header: the features); replaces the one before."""
        data = ReferenceUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        profile = services.reference_set(
            version=self._version(request, model_name, number),
            upload=data.validated_data["file"],
            actor=request.user,
        )
        return Response(ReferenceSerializer(profile).data, status=status.HTTP_201_CREATED)


def _window_text(request) -> str:
    return request.query_params.get("window") or "7d"
