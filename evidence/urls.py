"""Mounted beside the predictions and registry URLs (mlservice/urls.py), so neither of those
apps imports this one."""

from django.urls import path

from evidence import views

UUID = "<uuid:pk>"
M = "models/<slug:model_name>"

urlpatterns = [
    path("predictions/feedback/", views.FeedbackImportView.as_view(), name="feedback-import"),
    path(f"predictions/{UUID}/feedback/", views.FeedbackView.as_view(), name="feedback"),
    path(f"{M}/quality/", views.QualityView.as_view(), name="model-quality"),
    path(f"{M}/drift/", views.DriftView.as_view(), name="model-drift"),
    path(
        f"{M}/versions/<int:number>/reference/",
        views.ReferenceView.as_view(),
        name="version-reference",
    ),
]
