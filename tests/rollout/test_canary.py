import pytest

from predictions.models import Prediction
from predictions.submit import prediction_create
from registry import services as registry_services
from registry.models import Route
from tests.support.factories import UserFactory
from tests.support.rollout import served_by_canary, split

ROW = {"x": 3, "y": 1}


def test_a_90_10_split_sends_about_10_percent_of_2000_requests_to_the_canary(xy, alice, settings):
    settings.ROLLOUT_SPLIT_BY = "request"
    split(xy, 2, 10)
    predictions = [prediction_create(user=alice, model_name="xy", row=ROW)[0] for _ in range(2000)]
    assert abs(served_by_canary(predictions) - 0.10) <= 0.03
    for prediction in predictions:
        expected = 2 if prediction.route == Route.CANARY else 1
        assert prediction.version.number == expected
    stored = Prediction.objects.filter(route=Route.CANARY).count()
    assert stored == sum(p.route == Route.CANARY for p in predictions)


def test_split_by_user_keeps_each_user_on_one_version_and_spreads_users(xy, settings, db):
    settings.ROLLOUT_SPLIT_BY = "user"
    split(xy, 2, 10)
    users = UserFactory.create_batch(400)
    first = [prediction_create(user=u, model_name="xy", row=ROW)[0] for u in users]
    again = [prediction_create(user=u, model_name="xy", row=ROW)[0] for u in users]
    assert [p.version.number for p in again] == [p.version.number for p in first]
    assert abs(served_by_canary(first) - 0.10) <= 0.05


def test_requests_naming_a_version_are_never_split(xy, alice, settings):
    settings.ROLLOUT_SPLIT_BY = "request"
    split(xy, 2, 50)
    for ref in ("1", 1):
        predictions = [
            prediction_create(user=alice, model_name="xy", version_ref=ref, row=ROW)[0]
            for _ in range(100)
        ]
        assert {(p.version.number, p.route) for p in predictions} == {(1, Route.EXPLICIT)}


def test_an_ended_split_sends_everything_to_the_alias_again(xy, alice, settings):
    settings.ROLLOUT_SPLIT_BY = "request"
    split(xy, 2, 50)
    registry_services.alias_split_end(model=xy, alias="production")
    predictions = [prediction_create(user=alice, model_name="xy", row=ROW)[0] for _ in range(100)]
    assert {(p.version.number, p.route) for p in predictions} == {(1, Route.ALIAS)}


@pytest.mark.django_db(transaction=True)
def test_the_api_answer_says_which_version_served_and_why(xy, alice_client, staff_client):
    response = staff_client.put(
        "/api/v1/models/xy/aliases/production/split/",
        {"version": 2, "percent": 99.99, "reason": "canary"},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["canary"] == {"version": 2, "percent": 99.99}
    answers = [
        alice_client.post(
            "/api/v1/predictions/", {"model": "xy", "input": ROW}, format="json"
        ).json()
        for _ in range(2)
    ]
    # A user stays on one side of the split: all on the 99.99% side here.
    assert [(a["version"], a["requested_version"], a["route"]) for a in answers] == [
        (2, "production", "canary")
    ] * 2
    explicit = alice_client.post(
        "/api/v1/predictions/", {"model": "xy", "version": 1, "input": ROW}, format="json"
    ).json()
    assert (explicit["version"], explicit["route"]) == (1, "explicit")
    detail = alice_client.get(f"/api/v1/predictions/{answers[0]['id']}/").json()
    assert (detail["version"], detail["route"]) == (2, "canary")
