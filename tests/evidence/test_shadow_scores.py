"""A shadow run of a prediction with feedback is scored against the same truth as the
prediction's own answer (`ShadowFeedback`), whichever of the two arrives first, and again when
staff correct the truth: both versions' quality on the predictions they share is then one scan."""

import pytest

from evidence import shadows
from evidence.models import ShadowFeedback
from tests.support.evidence import feedback, feedback_csv
from tests.support.rollout import bare_versions, served, shadowed

pytestmark = pytest.mark.django_db

ANSWER = ["predicted_label", "truth_probability", "value_error", "ape_sum", "steps"]


def scores(run) -> dict:
    """The run's score: the truth, then each answer's columns (the primary's, the shadow's)."""
    score = ShadowFeedback.objects.get(run=run)
    return {
        "truth": (score.truth_label, score.truth_value),
        "primary": {name: getattr(score, name) for name in ANSWER},
        "shadow": {name: getattr(score, f"shadow_{name}") for name in ANSWER},
        "window": (score.version_id, score.against_id, score.created_at, score.predicted_at),
    }


@pytest.fixture
def regressor():
    return bare_versions("r", "regression")


def answer(**columns) -> dict:
    """An answer's metric columns: those named, the others empty."""
    return dict.fromkeys(ANSWER) | columns


def test_feedback_written_after_the_shadow_run_scores_both_answers(regressor, alice_client, alice):
    v1, v2 = regressor
    prediction = served(v1, alice, output=10.0, ago=5)
    run = shadowed(prediction, v2, output=12.5)
    assert feedback(alice_client, prediction.pk, 11.0).status_code == 201
    score = scores(run)
    assert score["truth"] == (None, 11.0)
    assert score["primary"] == answer(value_error=-1.0)
    assert score["shadow"] == answer(value_error=1.5)
    assert score["window"] == (v2.pk, v1.pk, run.created_at, prediction.created_at)


def test_a_shadow_run_stored_after_the_feedback_is_scored_when_it_is_stored(
    regressor, alice_client, alice
):
    v1, v2 = regressor
    prediction = served(v1, alice, output=10.0)
    assert feedback(alice_client, prediction.pk, 11.0).status_code == 201
    run = shadowed(prediction, v2, output=8.0)
    assert scores(run)["shadow"] == answer(value_error=-3.0)
    assert scores(run)["primary"] == answer(value_error=-1.0)


def test_a_staff_correction_scores_both_answers_against_the_new_truth(
    regressor, alice_client, alice, staff_client
):
    v1, v2 = regressor
    prediction = served(v1, alice, output=10.0)
    run = shadowed(prediction, v2, output=12.5)
    feedback(alice_client, prediction.pk, 11.0)
    url = f"/api/v1/predictions/{prediction.pk}/feedback/"
    assert staff_client.put(url, {"truth": 12.0}, format="json").status_code == 200
    score = scores(run)
    assert score["truth"] == (None, 12.0)
    assert (score["primary"]["value_error"], score["shadow"]["value_error"]) == (-2.0, 0.5)


def test_a_classifiers_shadow_is_scored_with_its_own_label_and_probabilities(alice_client, alice):
    v1, v2 = bare_versions("c", "classification", labels=["a", "b"])
    prediction = served(v1, alice, output={"label": "a", "probabilities": {"a": 0.7, "b": 0.3}})
    run = shadowed(prediction, v2, output={"label": "b", "probabilities": {"a": 0.4, "b": 0.6}})
    feedback(alice_client, prediction.pk, "b")
    score = scores(run)
    assert score["truth"] == ("b", None)
    assert score["primary"] == answer(predicted_label="a", truth_probability=0.3)
    assert score["shadow"] == answer(predicted_label="b", truth_probability=0.6)


def test_a_forecasts_shadow_is_scored_over_the_steps_whose_truth_is_not_zero(alice_client, alice):
    v1, v2 = bare_versions("f", "forecast")

    def forecast(*values):
        return {"forecast": [{"step": i + 1, "value": v} for i, v in enumerate(values)]}

    prediction = served(v1, alice, output=forecast(3.0, 1.0, -5.0))
    run = shadowed(prediction, v2, output=forecast(2.0, 9.0, -2.0))
    feedback(alice_client, prediction.pk, [2.0, 0.0, -4.0])
    score = scores(run)
    # |3 - 2| / 2 + |-5 + 4| / 4 for the primary; |2 - 2| / 2 + |-2 + 4| / 4 for the shadow.
    assert (score["primary"]["ape_sum"], score["primary"]["steps"]) == (0.75, 2)
    assert (score["shadow"]["ape_sum"], score["shadow"]["steps"]) == (0.5, 2)


def test_failed_and_skipped_shadow_runs_are_not_scored(regressor, alice_client, alice):
    v1, v2 = regressor
    failed, skipped = served(v1, alice, output=1.0), served(v1, alice, output=2.0)
    shadowed(failed, v2, status="failed")
    shadowed(skipped, v2, status="skipped")
    feedback(alice_client, failed.pk, 1.0)
    feedback(alice_client, skipped.pk, 2.0)
    assert not ShadowFeedback.objects.exists()


def test_feedback_from_a_csv_scores_the_shadow_runs_of_its_predictions(
    regressor, alice_client, alice
):
    v1, v2 = regressor
    prediction = served(v1, alice, output=10.0)
    run = shadowed(prediction, v2, output=12.5)
    response = feedback_csv(alice_client, f"prediction_id,truth\n{prediction.pk},11\n")
    assert response.status_code == 201, response.content
    assert scores(run)["shadow"] == answer(value_error=1.5)


def test_the_backfill_scores_the_runs_that_had_feedback_before_scores_were_kept(
    regressor, alice_client, alice
):
    v1, v2 = regressor
    for value, truth in [(10.0, 11.0), (20.0, 18.0), (30.0, 30.0)]:
        prediction = served(v1, alice, output=value)
        shadowed(prediction, v2, output=value + 1)
        feedback(alice_client, prediction.pk, truth)
    shadowed(served(v1, alice, output=5.0), v2, output=6.0)  # no feedback: not scored
    fields = [f.attname for f in ShadowFeedback._meta.concrete_fields if f.name != "id"]
    kept = list(ShadowFeedback.objects.order_by("run").values(*fields))
    ShadowFeedback.objects.all().delete()
    assert shadows.scores_backfill(size=2) == 3
    assert list(ShadowFeedback.objects.order_by("run").values(*fields)) == kept
