"""Open Inference Protocol (/v2) inferences are routed as /api/v1 submits are: without a
version through the production alias (its canary split and shadows apply), an alias named in
the path likewise, a version number explicitly and never split."""

import pytest

from predictions.models import Prediction, ShadowRun
from registry.models import Route
from tests.support.rollout import served_by_canary, shadow, split
from tests.support.workers import run_worker

pytestmark = pytest.mark.django_db


def infer(client, xs, path="/v2/models/xy/infer"):
    """An inference of rows (x, 1), one row per x, as one FP64 tensor."""
    tensor = {"name": "input-0", "shape": [len(xs), 2], "datatype": "FP64"}
    return client.post(path, {"inputs": [{**tensor, "data": [[x, 1] for x in xs]}]}, format="json")


def stored(responses) -> list[Prediction]:
    """The predictions of inferences answered before they finished (504, with their ids)."""
    assert {r.status_code for r in responses} == {504}, responses[0].content
    ids = [r.json()["prediction_id"] for r in responses]
    found = Prediction.objects.select_related("version").filter(pk__in=ids)
    by_id = {str(prediction.pk): prediction for prediction in found}
    return [by_id[pk] for pk in ids]


@pytest.fixture
def unwaited(settings):
    """Inferences answer at once, before any worker runs them, and are never rate limited."""
    settings.PREDICTION_MAX_WAIT_SECONDS = 0
    settings.PREDICTION_RATE_PER_MINUTE = 0


def test_a_90_10_split_sends_about_10_percent_of_2000_v2_inferences_to_the_canary(
    xy, alice_client, settings, unwaited
):
    settings.ROLLOUT_SPLIT_BY = "request"
    split(xy, 2, 10)
    predictions = stored([infer(alice_client, [3]) for _ in range(2000)])
    assert len(predictions) == 2000
    assert abs(served_by_canary(predictions) - 0.10) <= 0.03
    for prediction in predictions:
        canary = prediction.route == Route.CANARY
        assert (prediction.version.number, prediction.route) == (
            (2, Route.CANARY) if canary else (1, Route.ALIAS)
        )
        assert prediction.requested_version == "production"


def test_a_version_number_in_the_path_is_never_split_and_an_alias_name_is(
    xy, alice_client, settings, unwaited
):
    settings.ROLLOUT_SPLIT_BY = "request"
    split(xy, 2, 50)
    path = "/v2/models/xy/versions/{}/infer"
    explicit = stored([infer(alice_client, [3], path.format(1)) for _ in range(100)])
    assert {(p.version.number, p.route, p.requested_version) for p in explicit} == {
        (1, Route.EXPLICIT, "1")
    }
    aliased = stored([infer(alice_client, [3], path.format("production")) for _ in range(100)])
    assert {(p.version.number, p.route, p.requested_version) for p in aliased} == {
        (1, Route.ALIAS, "production"),
        (2, Route.CANARY, "production"),
    }


@pytest.mark.django_db(transaction=True)
def test_the_v2_answer_names_the_version_that_served_it(xy, alice_client, settings, worker):
    settings.ROLLOUT_SPLIT_BY = "user"
    split(xy, 2, 99.99)  # a user stays on one side of the split: the 99.99% side here
    body = infer(alice_client, [3]).json()
    assert (body["model_version"], body["outputs"][0]["data"]) == ("2", [4.5])
    assert Prediction.objects.get(pk=body["id"]).route == Route.CANARY
    named = infer(alice_client, [3], "/v2/models/xy/versions/1/infer").json()
    assert (named["model_version"], named["outputs"][0]["data"]) == ("1", [4.0])


@pytest.mark.django_db(transaction=True)
def test_v2_inferences_through_the_alias_are_shadowed_and_explicit_ones_are_not(
    xy, alice_client, unwaited
):
    shadow(xy, 2)
    [single, batch] = stored([infer(alice_client, [3]), infer(alice_client, [3, 100])])
    [explicit] = stored([infer(alice_client, [3], "/v2/models/xy/versions/1/infer")])
    run_worker()
    assert ShadowRun.objects.get(prediction=single).output == {"value": 4.5}
    [run] = ShadowRun.objects.filter(prediction=batch)
    assert run.outputs == [{"value": 4.5}, {"value": 101.5}]
    assert not ShadowRun.objects.filter(prediction=explicit).exists()
    answers = Prediction.objects.filter(pk__in=[single.pk, explicit.pk])
    assert {p.output["value"] for p in answers} == {4.0}
