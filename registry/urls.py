from django.urls import path
from rest_framework.routers import SimpleRouter

from mlservice.pagination import PageNumberPagination
from registry import views

router = SimpleRouter()
router.register("models", views.MLModelViewSet, basename="mlmodel")

versions = views.ModelVersionViewSet
aliases = views.AliasViewSet
M = "models/<slug:model_name>"

urlpatterns = [
    *router.urls,
    path(
        f"{M}/versions/", versions.as_view({"get": "list", "post": "create"}), name="version-list"
    ),
    path(
        f"{M}/versions/<int:number>/", versions.as_view({"get": "retrieve"}), name="version-detail"
    ),
    path(f"{M}/aliases/", aliases.as_view({"get": "list"}), name="alias-list"),
    path(f"{M}/aliases/<slug:alias>/", aliases.as_view({"put": "update"}), name="alias-detail"),
    path(
        f"{M}/aliases/<slug:alias>/rollback/",
        aliases.as_view({"post": "rollback"}),
        name="alias-rollback",
    ),
    path(
        f"{M}/aliases/<slug:alias>/shadows/",
        aliases.as_view({"post": "add_shadow"}),
        name="alias-shadows",
    ),
    path(
        f"{M}/aliases/<slug:alias>/shadows/<int:number>/",
        aliases.as_view({"delete": "remove_shadow"}),
        name="alias-shadow-detail",
    ),
    path(
        f"{M}/aliases/<slug:alias>/split/",
        aliases.as_view({"put": "set_split", "delete": "end_split"}),
        name="alias-split",
    ),
    path(
        f"{M}/aliases/<slug:alias>/promote/",
        aliases.as_view({"post": "promote"}),
        name="alias-promote",
    ),
    path(
        f"{M}/aliases/<slug:alias>/history/",
        aliases.as_view({"get": "history"}, pagination_class=PageNumberPagination),
        name="alias-history",
    ),
]
