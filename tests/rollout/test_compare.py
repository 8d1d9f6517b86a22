import math

import pytest

from evidence.services import feedback_create
from predictions.models import Prediction
from tests.support.rollout import bare_versions, served, shadowed, version

pytestmark = pytest.mark.django_db

COMPARE = "/api/v1/models/xy/compare/"


@pytest.fixture
def fixed_set(xy, alice):
    """v2 shadows v1 (and serves a canary share) on a hand-made set of predictions."""
    v1, v2 = version(xy, 1), version(xy, 2)
    pairs = [  # (primary output, ms, status), (shadow output, ms, status)
        ((10.0, 10, "succeeded"), (10.05, 20, "succeeded")),  # agrees: within 1% of 10
        ((100.0, 20, "succeeded"), (101.5, 40, "succeeded")),  # disagrees: 1.5 > 1
        ((0.5, 30, "succeeded"), (0.505, 60, "succeeded")),  # agrees: within 0.01 under 1
        ((2.0, 40, "succeeded"), (3.0, 80, "succeeded")),  # disagrees
        ((7.0, 50, "succeeded"), (None, None, "failed")),  # the shadow failed
        ((None, 5, "failed"), (5.0, 100, "succeeded")),  # the primary failed
        ((9.0, 60, "succeeded"), (None, None, "skipped")),  # skipped: the queue was behind
    ]
    for ago, ((p_out, p_ms, p_status), (s_out, s_ms, s_status)) in enumerate(pairs, start=1):
        primary = served(v1, alice, output=p_out, ms=p_ms, status=p_status, ago=ago)
        shadowed(primary, v2, output=s_out, ms=s_ms, status=s_status)
    # Outside the window, or another candidate's, or not through the alias: not counted.
    shadowed(served(v1, alice, output=1.0, ago=2 * 24 * 60), v2, output=50.0)
    v3 = version(xy, 1)  # a prediction shadowed by v1 itself is not v2's
    shadowed(served(v2, alice, output=1.0, route="canary", ms=15, ago=30), v3, output=9.0)
    served(v2, alice, status="failed", route="canary", ago=31)
    served(v2, alice, output=4.0, route="explicit", ms=999, ago=32)
    return xy


def test_the_comparison_equals_the_hand_computed_figures(fixed_set, staff_client):
    response = staff_client.get(COMPARE, {"version": 2, "window": "24h"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["model"], body["version"], body["against"], body["window"]) == ("xy", 2, 1, "24h")
    assert body["shadow"] == {
        "runs": 6,
        "skipped": 1,
        "compared": 4,
        "agreements": 2,
        "agreement_rate": 0.5,
        "error_rate": {"version": 1 / 6, "against": 1 / 6},
        # Shadow: 20, 40, 60, 80, 100 ms; primary (where it answered): 10, 20, 30, 40, 50 ms.
        "latency_ms": {
            "version": {"p50": 60.0, "p95": pytest.approx(96.0)},
            "against": {"p50": pytest.approx(30.0), "p95": pytest.approx(48.0)},
        },
    }
    # Through the alias: v1 served 7 (one failed; 10..60 ms), v2 its canary share of 2.
    assert body["served"] == {
        "version": {"predictions": 2, "error_rate": 0.5, "latency_ms": {"p50": 15.0, "p95": 15.0}},
        "against": {
            "predictions": 7,
            "error_rate": 1 / 7,
            "latency_ms": {"p50": pytest.approx(35.0), "p95": pytest.approx(57.5)},
        },
    }


def test_disagreements_are_listed_with_their_inputs_newest_first_and_paginated(
    fixed_set, staff_client
):
    page = staff_client.get(COMPARE, {"version": 2, "page_size": 1}).json()["disagreements"]
    assert page["count"] == 2
    [first] = page["results"]
    assert (first["input"], first["output"], first["shadow_output"]) == (
        {"x": 1, "y": 2},
        {"value": 100.0},
        {"value": 101.5},
    )
    second = staff_client.get(page["next"]).json()["disagreements"]
    assert [r["output"] for r in second["results"]] == [{"value": 2.0}]
    assert second["next"] is None


def test_the_list_of_disagreements_is_capped(fixed_set, staff_client, settings):
    settings.ROLLOUT_MAX_DISAGREEMENTS = 1
    body = staff_client.get(COMPARE, {"version": 2}).json()
    assert body["disagreements"]["count"] == 1
    assert body["shadow"]["compared"] - body["shadow"]["agreements"] == 2


def test_a_wider_window_takes_in_older_runs(fixed_set, staff_client):
    body = staff_client.get(COMPARE, {"version": 2, "window": "7d"}).json()
    assert (body["shadow"]["runs"], body["shadow"]["compared"]) == (7, 5)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "version"),
        ({"version": 2, "window": "yesterday"}, "window"),
        ({"version": 2, "window": "366d"}, "window"),
        ({"version": 1}, "against"),
    ],
)
def test_bad_comparisons_are_clear_400s(xy, staff_client, params, field):
    response = staff_client.get(COMPARE, params)
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]


def test_an_unknown_version_is_a_404(xy, staff_client):
    response = staff_client.get(COMPARE, {"version": 9})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "version_not_found"


def test_only_staff_compare(xy, alice_client):
    assert alice_client.get(COMPARE, {"version": 2}).status_code == 403


def pair(primary_version, shadow_version, user, p_out, s_out):
    prediction = served(primary_version, user, ago=1)
    Prediction.objects.filter(pk=prediction.pk).update(output=p_out)
    shadowed(prediction, shadow_version, output=s_out, ms=1)


def agreement(staff_client, name):
    body = staff_client.get(f"/api/v1/models/{name}/compare/", {"version": 2, "against": 1})
    assert body.status_code == 200, body.content
    shadow = body.json()["shadow"]
    return shadow["agreements"], shadow["compared"]


def test_classifiers_agree_on_the_same_label_whatever_the_probabilities(db, alice, staff_client):
    v1, v2 = bare_versions("flowers", "classification")
    setosa = {"label": "setosa", "probabilities": {"setosa": 0.9, "virginica": 0.1}}
    unsure = {"label": "setosa", "probabilities": {"setosa": 0.51, "virginica": 0.49}}
    pair(v1, v2, alice, setosa, unsure)
    pair(v1, v2, alice, setosa, {"label": "virginica", "probabilities": {}})
    assert agreement(staff_client, "flowers") == (1, 2)


def test_forecasts_agree_when_every_step_is_within_the_tolerance(db, alice, staff_client):
    v1, v2 = bare_versions("demand", "forecast")

    def forecast(*values):
        return {"forecast": [{"step": i + 1, "value": v} for i, v in enumerate(values)]}

    pair(v1, v2, alice, forecast(100.0, 200.0), forecast(100.5, 201.0))  # within 1% each
    pair(v1, v2, alice, forecast(100.0, 200.0), forecast(100.5, 205.0))  # step 2 is off
    pair(v1, v2, alice, forecast(100.0, 200.0), forecast(100.0))  # shorter
    assert agreement(staff_client, "demand") == (1, 3)


def test_both_versions_quality_on_the_same_predictions_equals_the_hand_computed_figures(
    fixed_set, staff_client, alice
):
    truths = {  # the primary's answer -> the truth sent for it
        10.0: 10.0,  # the shadow said 10.05
        100.0: 101.0,  # the shadow said 101.5
        2.0: 3.0,  # the shadow said 3.0
        7.0: 8.0,  # not counted: the shadow failed
        9.0: 9.0,  # not counted: the shadow was skipped
    }
    for answer, truth in truths.items():
        prediction = Prediction.objects.get(version__number=1, output__value=answer)
        feedback_create(prediction=prediction, row=None, value=truth, actor=alice)
    shared = staff_client.get(COMPARE, {"version": 2}).json()["quality_on_shared"]
    # Truths 10, 101 and 3: mean 38, squared deviations summing to 784 + 3969 + 1225 = 5978.
    assert shared == {
        "count": 3,
        "against": {  # errors 0, -1, -1
            "mae": pytest.approx(2 / 3),
            "rmse": pytest.approx(math.sqrt(2 / 3)),
            "r2": pytest.approx(1 - 2 / 5978),
        },
        "version": {  # errors 0.05, 0.5, 0
            "mae": pytest.approx(0.55 / 3),
            "rmse": pytest.approx(math.sqrt(0.2525 / 3)),
            "r2": pytest.approx(1 - 0.2525 / 5978),
        },
    }
