from rest_framework.routers import SimpleRouter

from predictions.views import PredictionViewSet

router = SimpleRouter()
router.register("predictions", PredictionViewSet, basename="prediction")

urlpatterns = router.urls
