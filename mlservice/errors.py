"""One error shape for the whole API.

Every 4xx/5xx under /api/ is `{"error": {"code": str, "message": str, "fields"?: {...}}}`.
Services raise `ServiceError` subclasses (or DRF exceptions); the DRF exception handler below and
`ApiErrorMiddleware` (for what happens outside DRF: unknown URLs, crashes, oversized bodies) render
them. Tracebacks go to the log, never to the client.
"""

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger("mlservice.errors")

API_PREFIX = "/api/"


class ServiceError(exceptions.APIException):
    """Base for domain errors raised by services; carries an HTTP status and a stable code."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"
    default_detail = "The request could not be processed."

    def __init_subclass__(cls, *, status_code=None, code=None, **kwargs):
        """The class line says the status and the stable code, `class Gone(ServiceError,
        status_code=410, code="gone")`; what it leaves out it inherits."""
        super().__init_subclass__(**kwargs)
        cls.status_code = status_code or cls.status_code
        cls.default_code = code or cls.default_code

    def __init__(self, message=None, code=None, fields=None, extra=None):
        super().__init__(message or self.default_detail, code or self.default_code)
        self.fields = fields
        self.extra = extra or {}


class NotFound(ServiceError, status_code=404, code="not_found"):
    default_detail = "Not found."


class Conflict(ServiceError, status_code=409, code="conflict"):
    default_detail = "The request conflicts with the current state."


class PayloadTooLarge(ServiceError, status_code=413, code="payload_too_large"):
    default_detail = "The request body is too large."


class ServiceUnavailable(ServiceError, status_code=503, code="service_unavailable"):
    default_detail = "A backing service is unavailable; try again shortly."


def error_body(code: str, message: str, fields=None, **extra) -> dict:
    error = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    error.update(extra)
    return {"error": error}


def _first_code(detail) -> str:
    if isinstance(detail, list) and detail:
        return _first_code(detail[0])
    if isinstance(detail, dict) and detail:
        return _first_code(next(iter(detail.values())))
    return getattr(detail, "code", None) or "invalid"


def _plain(detail):
    """ErrorDetail trees -> plain str/list/dict for JSON."""
    if isinstance(detail, dict):
        return {str(k): _plain(v) for k, v in detail.items()}
    if isinstance(detail, list):
        return [_plain(v) for v in detail]
    return str(detail)


def _validation_body(exc: exceptions.ValidationError) -> dict:
    detail = exc.detail
    if isinstance(detail, dict):
        non_field = detail.get("non_field_errors")
        fields = {k: v for k, v in detail.items() if k != "non_field_errors"}
        if fields:
            names = ", ".join(fields)
            message = f"Invalid input: {names}."
            if non_field:
                message = f"{_plain(non_field)[0]} Invalid input: {names}."
        else:
            message = _plain(non_field)[0] if non_field else "Invalid input."
        return error_body(_first_code(detail), message, _plain(fields) or None)
    messages = _plain(detail if isinstance(detail, list) else [detail])
    return error_body(_first_code(detail), " ".join(messages) or "Invalid input.")


def _database_unavailable(exc: Exception) -> "ServiceUnavailable":
    # A dropped or refused database connection is an outage, not a bug: 503, and the next
    # request reconnects (CONN_HEALTH_CHECKS).
    logger.warning("Database unavailable: %s", exc.__class__.__name__)
    return ServiceUnavailable("The database is unavailable; try again shortly.")


def exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, (OperationalError, InterfaceError)):
        exc = _database_unavailable(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        # Not an API exception: a bug. Log it with the traceback; tell the client nothing internal.
        request = context.get("request")
        logger.exception("Unhandled error on %s", getattr(request, "path", "?"), exc_info=exc)
        return JsonResponse(
            error_body("server_error", "Internal server error; it has been logged."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    if isinstance(exc, exceptions.ValidationError):
        response.data = _validation_body(exc)
        return response
    detail = response.data.get("detail", response.data) if isinstance(response.data, dict) else ""
    if isinstance(exc, Http404):
        code, message = "not_found", "Not found."
    elif isinstance(exc, PermissionDenied):
        code, message = "permission_denied", "You do not have permission to perform this action."
    elif isinstance(exc, exceptions.APIException):
        code = _first_code(exc.detail) if not isinstance(exc.detail, str) else exc.get_codes()
        code = code if isinstance(code, str) else exc.default_code
        message = str(detail) if not isinstance(detail, (dict, list)) else str(exc.default_detail)
    else:  # pragma: no cover - DRF only handles the types above
        code, message = "error", str(detail)
    extra = {}
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        extra["retry_after"] = int(exc.wait) + (0 if float(exc.wait).is_integer() else 1)
    if isinstance(exc, ServiceError):
        extra.update(exc.extra)
        response.data = error_body(code, message, exc.fields, **extra)
    else:
        # simplejwt puts a list of token failures under "messages": keep the summary only.
        response.data = error_body(code, message, **extra)
    return response


_STATUS_CODES = {
    400: ("bad_request", "Bad request."),
    403: ("permission_denied", "You do not have permission to perform this action."),
    404: ("not_found", "Not found."),
    405: ("method_not_allowed", "Method not allowed."),
    413: ("payload_too_large", "The request body is too large."),
    503: ("service_unavailable", "A backing service is unavailable; try again shortly."),
    500: ("server_error", "Internal server error; it has been logged."),
}


def error_response(exc: Exception, request):
    """The common-shape answer to `exc`, for a plain Django view on the API (DRF views get it
    from EXCEPTION_HANDLER)."""
    response = exception_handler(exc, {"request": request, "view": None})
    if isinstance(response, Response):
        response.accepted_renderer = JSONRenderer()
        response.accepted_media_type = "application/json"
        response.renderer_context = {}
        response.render()
    return response


class ApiErrorMiddleware:
    """Under /api/, turn Django's own HTML error pages and uncaught exceptions into JSON.

    DRF views already answer in the common shape; this covers unknown URLs (404), errors raised
    before DRF runs, and crashes anywhere, with DEBUG on or off.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(API_PREFIX) and self._declared_too_large(request):
            return self._json(413)  # refused before a byte of the body is read
        if request.path.startswith(API_PREFIX) and self._nul_in_query(request):
            # PostgreSQL stores no NUL in text: no filter or lookup may carry one.
            return JsonResponse(
                error_body("bad_request", "Query parameters may not contain a NUL character."),
                status=status.HTTP_400_BAD_REQUEST,
            )
        response = self.get_response(request)
        if not request.path.startswith(API_PREFIX) or response.status_code < 400:
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        return self._json(response.status_code)

    def process_exception(self, request, exception):
        if not request.path.startswith(API_PREFIX):
            return None
        if isinstance(exception, RequestDataTooBig):
            return self._json(413)
        if isinstance(exception, Http404):
            return self._json(404)
        if isinstance(exception, PermissionDenied):
            return self._json(403)
        if isinstance(exception, (OperationalError, InterfaceError)):
            _database_unavailable(exception)
            return self._json(503)
        logger.exception("Unhandled error on %s", request.path, exc_info=exception)
        return self._json(500)

    @staticmethod
    def _declared_too_large(request) -> bool:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return False  # Django treats a malformed length as no body
        return length > settings.MAX_REQUEST_BYTES

    @staticmethod
    def _nul_in_query(request) -> bool:
        query = request.META.get("QUERY_STRING", "")
        return ("%00" in query or "\x00" in query) and any(
            "\x00" in text for key, values in request.GET.lists() for text in (key, *values)
        )

    @staticmethod
    def _json(status_code: int) -> JsonResponse:
        code, message = _STATUS_CODES.get(status_code, ("error", "Request failed."))
        return JsonResponse(error_body(code, message), status=status_code)


def json_error_view(status_code: int):
    def view(request, exception=None):
        code, message = _STATUS_CODES[status_code]
        return JsonResponse(error_body(code, message), status=status_code)

    return view
