from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from mlservice import dashboard, health, metrics
from mlservice.errors import json_error_view

api_v1 = [
    path("", include("accounts.urls")),
    path("", include("registry.urls")),
    path("", include("predictions.urls")),
    path("billing/", include("billing.urls")),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("admin/django-rq/", include("django_rq.urls")),
    path("admin/dashboard/", dashboard.dashboard, name="ops-dashboard"),
    path("admin/", admin.site.urls),
]

handler404 = json_error_view(404)
handler500 = json_error_view(500)
