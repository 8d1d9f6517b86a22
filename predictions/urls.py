from django.urls import path
from rest_framework.routers import SimpleRouter

from predictions.views import PredictionViewSet, predictions_root

router = SimpleRouter()
router.register("predictions", PredictionViewSet, basename="prediction")

# The collection URL first: its single-row JSON submits take the lean lane, the rest reach the
# viewset (whose route below still documents the endpoint in the OpenAPI schema). The same name
# as the viewset's route, so reverse() and the per-view request metrics stay as they were.
urlpatterns = [path("predictions/", predictions_root, name="prediction-list"), *router.urls]
