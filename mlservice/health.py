"""Liveness and readiness probes for load balancers and orchestrators (no authentication)."""

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from mlservice.redis import redis_connection


@never_cache
@require_GET
def healthz(request):
    """The process is up and serving; checks no dependency on purpose."""
    return JsonResponse({"status": "ok"})


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as exc:  # any driver error means "not ready"; say which
        connection.close()
        return f"unreachable: {exc.__class__.__name__}"


def _check_redis() -> str:
    try:
        redis_connection().ping()
        return "ok"
    except Exception as exc:
        return f"unreachable: {exc.__class__.__name__}"


@never_cache
@require_GET
def readyz(request):
    """Ready when PostgreSQL and Redis both answer; 503 names the failing dependency otherwise."""
    checks = {"postgresql": _check_database(), "redis": _check_redis()}
    failing = [name for name, result in checks.items() if result != "ok"]
    if failing:
        return JsonResponse(
            {"status": "unavailable", "failing": failing, "checks": checks}, status=503
        )
    return JsonResponse({"status": "ok", "checks": checks})


class ProbeMiddleware:
    """Answer /healthz and /readyz before anything reads the Host header.

    Container healthchecks and load balancers call the probes by address (127.0.0.1:8000, a pod
    IP), which ALLOWED_HOSTS rightly refuses for every other page; the probes show nothing that
    depends on the host name.
    """

    PROBES = {"/healthz": healthz, "/readyz": readyz}

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        probe = self.PROBES.get(request.path_info)
        return probe(request) if probe is not None else self.get_response(request)
