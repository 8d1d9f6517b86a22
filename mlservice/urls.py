from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)

from mlservice import health
from mlservice.errors import json_error_view

# Predictions first: a submit is the most frequent request, and Django tries these in order
# (no other app's route starts with predictions/ and a UUID, so the order changes no match).
api_v1 = [
    path("", include("predictions.urls")),
    path("", include("accounts.urls")),
    path("", include("registry.urls")),
    path("billing/", include("billing.urls")),
    path("", include("webhooks.urls")),
    path("", include("evidence.urls")),
    path("", include("rollout.urls")),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("api/v1/", include(api_v1)),
    # The Open Inference Protocol (KServe V2), beside the REST API.
    path("", include("inference.urls")),  # /v2 and below
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI's start-up script from its own URL, so the Content-Security-Policy needs no inline.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("admin/django-rq/", include("django_rq.urls")),
    # /metrics and /admin/dashboard/, before the admin's own catch-all.
    path("", include("ops.urls")),
    path("", include("rollout.admin_urls")),  # /admin/rollout/<model>/promotion/
    path("admin/", admin.site.urls),
]

handler404 = json_error_view(404)
handler500 = json_error_view(500)
