"""The Open Inference Protocol (KServe V2) REST endpoints, under /v2.

Same users, tokens, limits and credits as /api/v1; errors in V2's shape, `{"error": "..."}`
(with the common shape's extras, such as `retry_after` or a prediction's id, beside it).
"""

from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.authentication import UsageLimitsJWTAuthentication
from inference import services
from inference.parsers import V2Parser
from mlservice import errors, health
from mlservice.apiviews import BuiltOnce
from mlservice.renderers import JSONRenderer


def v2_error_body(error: dict) -> dict:
    """The common error body's `error` object in V2's shape: its message (with what each
    field got wrong) as the string, its extras beside it."""
    message = error.get("message", "Request failed.")
    fields = error.get("fields") or {}
    if fields:
        details = "; ".join(f"{name}: {' '.join(map(str, m))}" for name, m in fields.items())
        message = f"{message} {details}"
    extras = {k: v for k, v in error.items() if k not in ("code", "message", "fields")}
    return {"error": message, **extras}


def exception_handler(exc, context):
    response = errors.exception_handler(exc, context)
    if isinstance(response, Response):
        response.data = v2_error_body(response.data["error"])
        return response
    return JsonResponse({"error": "Internal server error; it has been logged."}, status=500)


class V2View(BuiltOnce, APIView):
    authentication_classes = [UsageLimitsJWTAuthentication]
    permission_classes = [IsAuthenticated]
    parser_classes = [V2Parser]
    renderer_classes = [JSONRenderer]
    throttle_classes = []  # infer calls are limited by billing.limits, as submits are
    schema = None  # V2 is its own published protocol, not part of /api/schema/

    def get_exception_handler(self):
        return exception_handler

    def version(self, name: str, version: str | None):
        return services.version_get(user=self.request.user, model_name=name, ref=version)


class ModelMetadata(V2View):
    def get(self, request, name, version=None):
        return Response(services.model_metadata(version=self.version(name, version)))


class ModelReady(V2View):
    def get(self, request, name, version=None):
        model_version = self.version(name, version)
        return Response({"name": name, "version": str(model_version.number), "ready": True})


class ModelInfer(V2View):
    def post(self, request, name, version=None):
        return Response(
            services.model_infer(user=request.user, model_name=name, ref=version, body=request.data)
        )


@never_cache
@require_GET
def live(request):
    return JsonResponse({"live": True})


@never_cache
@require_GET
def ready(request):
    """Ready when the service's own readiness probe (database and Redis) says so."""
    is_ready = health.readyz(request).status_code == 200
    return JsonResponse({"ready": is_ready}, status=200 if is_ready else 503)


@require_GET
def server_metadata(request):
    return JsonResponse(services.server_metadata())


def not_found(request):
    return JsonResponse({"error": "Not found."}, status=404)
