from django.urls import include, path, re_path

from inference import views

model = "models/<slug:name>"
version = f"{model}/versions/<str:version>"

v2 = [
    path("health/live", views.live, name="v2-live"),
    path("health/ready", views.ready, name="v2-ready"),
    path(model, views.ModelMetadata.as_view(), name="v2-model"),
    path(version, views.ModelMetadata.as_view(), name="v2-model-version"),
    path(f"{model}/ready", views.ModelReady.as_view(), name="v2-model-ready"),
    path(f"{version}/ready", views.ModelReady.as_view(), name="v2-model-version-ready"),
    path(f"{model}/infer", views.ModelInfer.as_view(), name="v2-infer"),
    path(f"{version}/infer", views.ModelInfer.as_view(), name="v2-version-infer"),
    # Anything else under /v2/ is a 404 in V2's error shape, not the /api one.
    re_path(r"^.*$", views.not_found),
]

# The protocol's paths have no trailing slash, and its server metadata is /v2 itself.
urlpatterns = [
    path("v2", views.server_metadata, name="v2-server-metadata"),
    path("v2/", include(v2)),
]
