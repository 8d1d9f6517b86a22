"""The Open Inference Protocol (V2) endpoints through Django's test client; the workers run
in the test (a burst worker) after the call has stopped waiting."""

import pytest

from predictions.models import Prediction
from tests.support.api import SETOSA_ROW, VIRGINICA_ROW, get
from tests.support.ledger import set_price
from tests.support.workers import run_worker

# Committed, as a request is: a prediction is enqueued once its transaction commits.
pytestmark = pytest.mark.django_db(transaction=True)


def matrix(*rows, name="input-0", datatype="FP64") -> dict:
    return {"name": name, "shape": [len(rows), len(rows[0])], "datatype": datatype, "data": rows}


def infer(client, body, path="/v2/models/iris/infer"):
    return client.post(path, body, format="json")


def test_health_endpoints_answer_without_a_token(api_client, db):
    assert api_client.get("/v2/health/live").json() == {"live": True}
    ready = api_client.get("/v2/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True}


def test_server_metadata_names_the_server(api_client, db):
    body = api_client.get("/v2").json()
    assert body["name"] == "mlservice"
    assert body["version"]
    assert body["extensions"] == []


def test_model_metadata_derives_tensors_from_the_schema(iris, alice_client):
    body = alice_client.get("/v2/models/iris").json()

    assert body["name"] == "iris"
    assert body["versions"] == ["1", "2"]
    assert [(i["name"], i["datatype"], i["shape"]) for i in body["inputs"]] == [
        ("sepal_length", "FP64", [-1]),
        ("sepal_width", "FP64", [-1]),
        ("petal_length", "FP64", [-1]),
        ("petal_width", "FP64", [-1]),
    ]
    assert body["outputs"] == [
        {"name": "label", "datatype": "BYTES", "shape": [-1]},
        {"name": "probabilities", "datatype": "FP64", "shape": [-1, 3]},
    ]


def test_a_regressor_answers_a_value(diabetes, alice_client):
    body = alice_client.get("/v2/models/diabetes/versions/1").json()
    assert body["outputs"] == [{"name": "value", "datatype": "FP64", "shape": [-1]}]
    assert len(body["inputs"]) == 10


def test_a_model_version_is_ready_and_a_missing_one_is_404_in_v2_shape(iris, alice_client):
    assert alice_client.get("/v2/models/iris/ready").json()["ready"] is True
    assert alice_client.get("/v2/models/iris/versions/1/ready").status_code == 200

    missing = alice_client.get("/v2/models/iris/versions/9/ready")

    assert missing.status_code == 404
    assert missing.json() == {"error": "Model 'iris' has no version 9."}


def test_model_endpoints_need_a_token(iris, api_client):
    for response in (
        api_client.get("/v2/models/iris"),
        api_client.get("/v2/models/iris/ready"),
        infer(api_client, {"inputs": [matrix(SETOSA_ROW)]}),
    ):
        assert response.status_code == 401
        assert response.json() == {"error": "Authentication credentials were not provided."}


def test_an_unknown_path_under_v2_is_404_in_v2_shape(api_client, db):
    response = api_client.get("/v2/repository/index")
    assert response.status_code == 404
    assert response.json() == {"error": "Not found."}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"inputs": []}, "`inputs` must be a non-empty list of tensors."),
        ([1, 2], "The request body must be a JSON object with `inputs`."),
        (
            {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3]}]},
            "input 'x': shape [1, 4] holds 4 values, got 3.",
        ),
        (
            {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FLOAT", "data": [1, 2, 3, 4]}]},
            "input 'x': datatype must be one of",
        ),
        ({"inputs": [matrix([1, 2, 3])]}, "as a matrix it must have shape [N, 4]"),
        (
            {"inputs": [matrix(SETOSA_ROW, name="a"), matrix(SETOSA_ROW, name="b")]},
            "Unknown input(s): a, b.",
        ),
        (
            {"inputs": [matrix(SETOSA_ROW)], "outputs": [{"name": "logits"}]},
            "Unknown output 'logits'; this model has label, probabilities.",
        ),
        (
            {"inputs": [matrix(["wide", 3.5, 1.4, 0.2], datatype="BYTES")]},
            "input.sepal_length: Must be a number.",
        ),
        ({"inputs": [matrix(SETOSA_ROW)], "id": 7}, "`id` must be a string."),
    ],
)
def test_bad_tensors_are_400_with_a_message_and_store_nothing(iris, alice_client, body, message):
    response = infer(alice_client, body)

    assert response.status_code == 400, response.content
    assert set(response.json()) == {"error"}
    assert message in response.json()["error"]
    assert not Prediction.objects.exists()


def test_an_infer_that_outlasts_the_wait_answers_the_prediction_id(
    iris, alice, alice_client, settings
):
    settings.PREDICTION_MAX_WAIT_SECONDS = 0.2  # no worker runs during the call

    response = infer(alice_client, {"inputs": [matrix(SETOSA_ROW, VIRGINICA_ROW)]})

    assert response.status_code == 504
    body = response.json()
    assert "did not finish within" in body["error"]
    assert body["prediction_url"] == f"/api/v1/predictions/{body['prediction_id']}/"
    run_worker()
    later = get(alice_client, body["prediction_id"]).json()
    assert later["status"] == "succeeded"
    assert [row["label"] for row in later["output"]] == ["setosa", "virginica"]
    assert later["is_batch"] is True


def test_an_infer_call_is_charged_and_refused_as_a_submit_is(iris, alice_client, settings):
    settings.PREDICTION_MAX_WAIT_SECONDS = 0.1
    set_price(iris, "60")
    infer(alice_client, {"inputs": [matrix(SETOSA_ROW)]})  # 60 of the 100 granted

    response = infer(alice_client, {"inputs": [matrix(SETOSA_ROW)]})

    assert response.status_code == 402
    body = response.json()
    assert body["balance"] == "40.0000"
    assert body["price"] == "60.0000"
    assert "60.0000" in body["error"]
    assert alice_client.get("/api/v1/predictions/").json()["count"] == 1


def test_a_body_over_the_size_limit_is_413_in_v2_shape(iris, alice_client, settings):
    settings.MAX_REQUEST_BYTES = 100

    response = infer(alice_client, {"inputs": [matrix(*[SETOSA_ROW] * 20)]})

    assert response.status_code == 413
    assert response.json() == {"error": "The request body is too large."}
