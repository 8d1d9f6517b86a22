from django.urls import path

from rollout import admin_views

urlpatterns = [
    path(
        "admin/rollout/<slug:model_name>/promotion/",
        admin_views.promotion_view,
        name="rollout-promotion",
    ),
]
