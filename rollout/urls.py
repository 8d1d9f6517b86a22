from django.urls import path

from rollout import views

urlpatterns = [
    path("models/<slug:model_name>/compare/", views.CompareView.as_view(), name="model-compare"),
]
