from django.urls import path

from ops import dashboard, metrics

urlpatterns = [
    path("metrics", metrics.metrics_view, name="metrics"),
    path("admin/dashboard/", dashboard.dashboard, name="ops-dashboard"),
]
