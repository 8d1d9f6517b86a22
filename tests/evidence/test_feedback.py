"""Feedback through the API: the true outcome of a prediction, once per row, corrected only by
staff; bulk from a CSV; and the live quality it gives, checked by hand and against
scikit-learn's metrics."""

import io
import math

import pytest
from sklearn import metrics

from evidence.models import Feedback
from evidence.services import feedback_create
from predictions.models import Prediction, Status
from registry import demo
from registry.models import AuditEvent
from tests.support.api import SETOSA, VIRGINICA, submit
from tests.support.evidence import feedback, feedback_csv, quality
from tests.support.factories import PredictionFactory
from tests.support.workers import finished, run_worker

pytestmark = pytest.mark.django_db(transaction=True)

LABELS = ["setosa", "versicolor", "virginica"]


def submitted(client, bodies) -> list[dict]:
    """Submit every body, run the worker once, and read each finished prediction."""
    ids = [submit(client, body).json()["id"] for body in bodies]
    run_worker()
    return [client.get(f"/api/v1/predictions/{pk}/").json() for pk in ids]


class TestClassifierQuality:
    def test_accuracy_log_loss_precision_and_recall_are_those_of_the_feedback(
        self, alice_client, staff_client, iris
    ):
        rows = [SETOSA, SETOSA, SETOSA, VIRGINICA, VIRGINICA]
        predictions = submitted(alice_client, [{"model": "iris", "input": r} for r in rows])
        assert [p["output"]["label"] for p in predictions] == ["setosa"] * 3 + ["virginica"] * 2
        truths = ["setosa", "setosa", "versicolor", "virginica", "setosa"]
        for prediction, truth in zip(predictions, truths, strict=True):
            assert feedback(alice_client, prediction["id"], truth).status_code == 201

        [v2] = quality(staff_client, "iris", window="1d")["versions"]
        assert v2["version"] == 2 and v2["feedback"] == 5
        assert v2["accuracy"] == 3 / 5  # right, right, wrong, right, wrong
        probabilities = [[p["output"]["probabilities"][n] for n in LABELS] for p in predictions]
        assert v2["log_loss"] == pytest.approx(
            metrics.log_loss(truths, probabilities, labels=LABELS), rel=1e-9
        )
        predicted = [p["output"]["label"] for p in predictions]
        precision = metrics.precision_score(
            truths, predicted, labels=LABELS, average=None, zero_division=0
        )
        recall = metrics.recall_score(truths, predicted, labels=LABELS, average=None)
        classes = v2["classes"]
        assert classes["setosa"] == {"precision": 2 / 3, "recall": 2 / 3, "support": 3}
        assert classes["virginica"]["precision"] == pytest.approx(precision[2]) == 0.5
        assert classes["virginica"]["recall"] == pytest.approx(recall[2]) == 1.0
        # Nothing was predicted versicolor: its precision is undefined, not 0.
        assert classes["versicolor"] == {"precision": None, "recall": 0.0, "support": 1}

    def test_a_batch_takes_feedback_per_row(self, alice_client, staff_client, iris):
        rows = [SETOSA, VIRGINICA, SETOSA, VIRGINICA]
        batch = finished(alice_client, {"model": "iris", "inputs": rows})
        assert feedback(alice_client, batch["id"], "virginica", row=1).status_code == 201
        assert feedback(alice_client, batch["id"], "versicolor", row=2).status_code == 201
        no_row = feedback(alice_client, batch["id"], "setosa")
        assert no_row.status_code == 400 and "row" in no_row.json()["error"]["fields"]
        past_the_end = feedback(alice_client, batch["id"], "setosa", row=4)
        assert past_the_end.json()["error"]["fields"] == {"row": ["Must be from 0 to 3."]}

        [v2] = quality(staff_client, "iris")["versions"]
        assert (v2["feedback"], v2["accuracy"]) == (2, 0.5)
        listed = alice_client.get(f"/api/v1/predictions/{batch['id']}/feedback/").json()
        assert [(f["row"], f["truth"]) for f in listed] == [(1, "virginica"), (2, "versicolor")]


class TestRegressorAndForecastQuality:
    def test_mae_rmse_and_r2(self, alice_client, staff_client, diabetes):
        rows, _, _ = demo.dataset("diabetes")
        predictions = submitted(alice_client, [{"model": "diabetes", "input": r} for r in rows[:6]])
        truths = [151.0, 75.0, 141.0, 206.0, 135.0, 97.0]
        for prediction, truth in zip(predictions, truths, strict=True):
            assert feedback(alice_client, prediction["id"], truth).status_code == 201
        predicted = [p["output"]["value"] for p in predictions]

        [v1] = quality(staff_client, "diabetes")["versions"]
        by_hand = sum(abs(p - t) for p, t in zip(predicted, truths, strict=True)) / 6
        assert v1["mae"] == pytest.approx(by_hand, rel=1e-12)
        assert v1["rmse"] == pytest.approx(
            math.sqrt(metrics.mean_squared_error(truths, predicted)), rel=1e-9
        )
        assert v1["r2"] == pytest.approx(metrics.r2_score(truths, predicted), rel=1e-9)
        assert "accuracy" not in v1

    def test_mape_of_forecasts(self, alice_client, staff_client, demand):
        request = {**demand.input_example, "horizon": 3}
        predictions = submitted(
            alice_client,
            [{"model": "demand", "input": request}, {"model": "demand", "input": request}],
        )
        truths = [[140.0, 135.5, 128.0], [150.0, 120.0, 131.0]]
        for prediction, truth in zip(predictions, truths, strict=True):
            assert feedback(alice_client, prediction["id"], truth).status_code == 201
        predicted = [step["value"] for p in predictions for step in p["output"]["forecast"]]

        [v1] = quality(staff_client, "demand")["versions"]
        expected = metrics.mean_absolute_percentage_error(sum(truths, []), predicted)
        assert v1["mape"] == pytest.approx(expected, rel=1e-9)

    def test_a_forecast_truth_needs_one_value_per_step(self, alice_client, demand):
        prediction = finished(
            alice_client, {"model": "demand", "input": {**demand.input_example, "horizon": 3}}
        )
        response = feedback(alice_client, prediction["id"], [1.0, 2.0])
        assert response.status_code == 400
        assert response.json()["error"]["fields"]["truth"] == [
            "Must be a list of 3 finite numbers, one per step forecast."
        ]


class TestOnceOnlyAndCorrections:
    def test_a_second_feedback_is_a_409_and_staff_correct_it_with_an_audit_record(
        self, alice_client, staff_client, staff_user, iris
    ):
        prediction = finished(alice_client, {"model": "iris", "input": SETOSA})
        assert feedback(alice_client, prediction["id"], "versicolor").status_code == 201
        again = feedback(alice_client, prediction["id"], "setosa")
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "feedback_exists"
        url = f"/api/v1/predictions/{prediction['id']}/feedback/"
        refused = alice_client.put(url, {"truth": "setosa"}, format="json")
        assert refused.status_code == 403
        assert quality(staff_client, "iris")["versions"][0]["accuracy"] == 0.0

        corrected = staff_client.put(url, {"truth": "setosa"}, format="json")
        assert corrected.status_code == 200 and corrected.json()["truth"] == "setosa"
        assert quality(staff_client, "iris")["versions"][0]["accuracy"] == 1.0
        [event] = AuditEvent.objects.filter(action="feedback_corrected")
        assert event.actor == staff_user
        assert event.details == {
            "prediction": prediction["id"],
            "row": 0,
            "from": "versicolor",
            "to": "setosa",
        }

    def test_staff_cannot_correct_what_was_never_given(self, alice_client, staff_client, iris):
        prediction = finished(alice_client, {"model": "iris", "input": SETOSA})
        url = f"/api/v1/predictions/{prediction['id']}/feedback/"
        response = staff_client.put(url, {"truth": "setosa"}, format="json")
        assert response.status_code == 404


class TestWhatATruthMayBe:
    def test_a_label_outside_the_versions_labels_is_a_400(self, alice_client, iris):
        prediction = finished(alice_client, {"model": "iris", "input": SETOSA})
        response = feedback(alice_client, prediction["id"], "rose")
        assert response.status_code == 400
        assert response.json()["error"]["fields"]["truth"] == [
            "Must be one of the version's labels: setosa, versicolor, virginica."
        ]

    def test_a_regressor_truth_must_be_a_finite_number(self, alice_client, diabetes):
        prediction = finished(
            alice_client, {"model": "diabetes", "input": demo.DEMO_MODELS["diabetes"].input_example}
        )
        for bad in ("12", True, None, [1.0], 10**400):
            response = feedback(alice_client, prediction["id"], bad)
            assert response.status_code == 400, (bad, response.content)
        assert not Feedback.objects.exists()

    def test_an_unfinished_prediction_takes_no_feedback(self, alice_client, iris):
        pending = submit(alice_client, {"model": "iris", "input": SETOSA}).json()
        response = feedback(alice_client, pending["id"], "setosa")
        assert response.status_code == 409 and response.json()["error"]["code"] == "not_finished"


class TestPermissions:
    def test_another_users_prediction_is_not_found(self, alice_client, bob_client, iris):
        prediction = finished(alice_client, {"model": "iris", "input": SETOSA})
        assert feedback(bob_client, prediction["id"], "setosa").status_code == 404
        url = f"/api/v1/predictions/{prediction['id']}/feedback/"
        assert bob_client.get(url).status_code == 404

    def test_staff_give_feedback_on_anyones_prediction(self, alice_client, staff_client, iris):
        prediction = finished(alice_client, {"model": "iris", "input": SETOSA})
        assert feedback(staff_client, prediction["id"], "setosa").status_code == 201

    def test_quality_is_for_staff(self, alice_client, iris):
        assert alice_client.get("/api/v1/models/iris/quality/").status_code == 403

    def test_a_bad_window_is_a_400(self, staff_client, iris):
        for window in ("7", "abc", "0d", "400d", "1w"):
            response = staff_client.get("/api/v1/models/iris/quality/", {"window": window})
            assert response.status_code == 400, window
            assert "window" in response.json()["error"]["fields"]


class TestBulkCSV:
    def upload(self, client, text: str):
        return feedback_csv(client, text)

    def test_every_line_is_written(self, alice_client, staff_client, iris):
        singles = submitted(alice_client, [{"model": "iris", "input": SETOSA}] * 2)
        batch = finished(alice_client, {"model": "iris", "inputs": [SETOSA, VIRGINICA]})
        text = io.StringIO()
        text.write("prediction_id,truth,row\n")
        text.write(f"{singles[0]['id']},setosa,\n{singles[1]['id']},virginica,\n")
        text.write(f"{batch['id']},setosa,0\n{batch['id']},virginica,1\n")
        response = self.upload(alice_client, text.getvalue())
        assert response.status_code == 201 and response.json() == {"created": 4}
        [v2] = quality(staff_client, "iris")["versions"]
        assert (v2["feedback"], v2["accuracy"]) == (4, 0.75)

    def test_bad_lines_are_each_named_and_nothing_is_written(self, alice_client, bob_client, iris):
        mine = submitted(alice_client, [{"model": "iris", "input": SETOSA}] * 3)
        bobs = finished(bob_client, {"model": "iris", "input": SETOSA})
        assert feedback(alice_client, mine[2]["id"], "setosa").status_code == 201
        lines = [
            "prediction_id,truth",
            f"{mine[0]['id']},setosa",  # fine, but not written: other lines are wrong
            f"{mine[1]['id']},rose",
            "not-a-uuid,setosa",
            f"{bobs['id']},setosa",
            f"{mine[2]['id']},setosa",
            f"{mine[0]['id']},setosa",
            f"{mine[1]['id']}",
        ]
        response = self.upload(alice_client, "\n".join(lines) + "\n")
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["message"] == "6 line(s) of the CSV are wrong; nothing was saved."
        assert error["fields"] == {
            "line 3": [
                "truth: Must be one of the version's labels: setosa, versicolor, virginica."
            ],
            "line 4": ["No such prediction (a prediction_id of yours is needed)."],
            "line 5": ["No such prediction (a prediction_id of yours is needed)."],
            "line 6": ["This prediction (row) already has feedback."],
            "line 7": ["This prediction (row) already has feedback."],
            "line 8": ["2 values expected."],
        }
        assert Feedback.objects.count() == 1

    def test_a_file_without_the_header_is_a_400(self, alice_client, iris):
        response = self.upload(alice_client, "id,label\n")
        assert response.status_code == 400
        assert "prediction_id,truth" in response.json()["error"]["fields"]["file"][0]


def test_log_loss_is_over_the_answers_that_gave_a_probability_only(alice, staff_client, iris):
    """An answer without probabilities (a classifier without predict_proba) counts in the
    accuracy, not in the log loss: it adds nothing to the sum it is not counted in."""
    sure = PredictionFactory(user=alice, model=iris)
    bare = PredictionFactory(user=alice, model=iris)
    Prediction.objects.filter(pk=sure.pk).update(
        status=Status.SUCCEEDED, output={"label": "setosa", "probabilities": {"setosa": 0.5}}
    )
    Prediction.objects.filter(pk=bare.pk).update(
        status=Status.SUCCEEDED, output={"label": "setosa"}
    )
    for prediction in (sure, bare):
        prediction.refresh_from_db()
        feedback_create(prediction=prediction, row=None, value="setosa", actor=alice)

    [v2] = quality(staff_client, "iris")["versions"]
    assert (v2["feedback"], v2["accuracy"]) == (2, 1.0)
    assert v2["log_loss"] == pytest.approx(-math.log(0.5))
