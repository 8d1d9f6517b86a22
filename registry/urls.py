from rest_framework.routers import SimpleRouter

from registry import views

# Path converters (not regexes), so the nested prefixes can name their model.
router = SimpleRouter(use_regex_path=False)
router.register("models", views.MLModelViewSet, basename="mlmodel")
router.register("models/<slug:model_name>/versions", views.ModelVersionViewSet, basename="version")
router.register("models/<slug:model_name>/aliases", views.AliasViewSet, basename="alias")

urlpatterns = router.urls
