"""The hand-written prediction rendering gives the JSON DRF's generic rendering would, and the
quick validation of a plain submit body the data DRF's field-by-field validation would."""

import pytest
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from predictions.models import Prediction
from predictions.serializers import (
    PredictionCreateSerializer,
    PredictionListSerializer,
    PredictionSerializer,
)
from tests.support.api import SETOSA, VIRGINICA, submit
from tests.support.workers import run_worker

pytestmark = pytest.mark.django_db(transaction=True)


def rendered_both_ways(serializer_class, prediction) -> tuple[bytes, bytes]:
    serializer = serializer_class(prediction)
    generic = serializers.ModelSerializer.to_representation(serializer, prediction)
    return JSONRenderer().render(serializer.data), JSONRenderer().render(generic)


def assert_same_json(prediction_id):
    prediction = Prediction.objects.get(pk=prediction_id)
    for serializer_class in (PredictionSerializer, PredictionListSerializer):
        fast, generic = rendered_both_ways(serializer_class, prediction)
        assert fast == generic  # same keys, same order, same values


def test_pending_succeeded_failed_batch_and_retried_predictions_render_the_same(
    alice_client, iris, exploding, settings
):
    settings.PREDICTION_INLINE_ROWS = 2
    single = submit(alice_client, {"model": "iris", "input": SETOSA}).json()
    small = submit(alice_client, {"model": "iris", "inputs": [SETOSA, VIRGINICA]}).json()
    large = submit(alice_client, {"model": "iris", "inputs": [SETOSA] * 3}).json()
    broken = submit(alice_client, {"model": "exploding", "input": {"x": 101, "y": 2}}).json()
    for prediction_id in (single["id"], small["id"], large["id"], broken["id"]):
        assert_same_json(prediction_id)  # pending: no output, no start or finish time
    run_worker()
    alice_client.post(f"/api/v1/predictions/{broken['id']}/retry/")
    retried = Prediction.objects.get(retry_of_id=broken["id"])
    for prediction in Prediction.objects.all():
        assert_same_json(prediction.pk)
    statuses = {str(p.pk): p.status for p in Prediction.objects.all()}
    assert statuses[str(retried.pk)] == "pending" and str(retried.retry_of_id) == broken["id"]
    assert {statuses[p["id"]] for p in (single, small, large)} == {"succeeded"}
    assert Prediction.objects.get(pk=broken["id"]).status == "failed"


PLAIN_BODIES = [
    {"model": "iris", "input": SETOSA},
    {"model": "iris", "version": 1, "input": SETOSA},
    {"model": "iris", "version": "production", "input": {}},
    {"model": "m" * 64, "version": "v" * 64, "inputs": [SETOSA, VIRGINICA]},
    {"model": "iris", "version": 0, "inputs": []},
    {"model": "iris", "version": -1, "input": SETOSA},  # a CharField takes "-1" too
]
OTHER_BODIES = [
    {"model": " iris", "input": SETOSA},  # trimmed by the field
    {"model": "iris", "version": True, "input": SETOSA},
    {"model": "iris", "version": 1.5, "input": SETOSA},
    {"model": "m" * 65, "input": SETOSA},
    {"model": "iris\x00", "input": SETOSA},
    {"model": "iris", "version": None, "input": SETOSA},
    {"model": "iris", "input": SETOSA, "inputs": [SETOSA]},
    {"model": "iris"},
    {"model": "iris", "input": [SETOSA]},
    {"model": "iris", "inputs": SETOSA},
    {"model": "iris", "input": SETOSA, "status": "succeeded"},
    {"model": "îris", "input": SETOSA},
    {"model": "", "input": SETOSA},
    {"input": SETOSA},
    [SETOSA],
]


def validated_field_by_field(body):
    serializer = PredictionCreateSerializer(data=body)
    try:
        return serializers.Serializer.run_validation(serializer, body)
    except serializers.ValidationError as exc:
        return exc.detail


@pytest.mark.parametrize("body", PLAIN_BODIES)
def test_a_plain_body_is_validated_quickly_to_what_the_fields_would_give(body):
    serializer = PredictionCreateSerializer(data=body)
    assert PredictionCreateSerializer._plain(body) is not None
    assert serializer.is_valid()
    assert serializer.validated_data == dict(validated_field_by_field(body))


@pytest.mark.parametrize("body", OTHER_BODIES)
def test_any_other_body_is_left_to_the_fields(body):
    serializer = PredictionCreateSerializer(data=body)
    assert PredictionCreateSerializer._plain(body) is None
    valid = serializer.is_valid()
    expected = validated_field_by_field(body)
    assert (serializer.validated_data if valid else serializer.errors) == expected
