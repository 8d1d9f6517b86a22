"""V2 through clients nobody here wrote, against the live server with a real worker:
tritonclient's InferenceServerClient, and the request bodies MLServer's own docs show."""

import json
import urllib.error
import urllib.request

import numpy as np
import pytest
import tritonclient.http as httpclient
from rest_framework_simplejwt.tokens import RefreshToken
from tritonclient.utils import InferenceServerException

from tests.support.api import SETOSA_ROW, VIRGINICA_ROW

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def token(alice) -> dict:
    return {"Authorization": f"Bearer {RefreshToken.for_user(alice).access_token}"}


@pytest.fixture
def triton(live_server):
    client = httpclient.InferenceServerClient(url=live_server.url.removeprefix("http://"))
    yield client
    client.close()


def post(live_server, path: str, body: dict, headers: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{live_server.url}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **headers},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_tritonclient_reads_health_metadata_and_readiness(iris, triton, token):
    assert triton.is_server_live()
    assert triton.is_server_ready()
    assert triton.get_server_metadata()["name"] == "mlservice"
    assert triton.is_model_ready("iris", headers=token)
    assert triton.is_model_ready("iris", model_version="1", headers=token)
    assert not triton.is_model_ready("iris", model_version="7", headers=token)

    metadata = triton.get_model_metadata("iris", headers=token)

    assert [i["name"] for i in metadata["inputs"]] == [
        "sepal_length",
        "sepal_width",
        "petal_length",
        "petal_width",
    ]
    assert [o["name"] for o in metadata["outputs"]] == ["label", "probabilities"]


def test_tritonclient_needs_the_token_for_a_model(iris, triton):
    with pytest.raises(InferenceServerException, match="Authentication credentials"):
        triton.get_model_metadata("iris")


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_tritonclient_infers_a_batch_as_a_stored_prediction(
    iris, alice, triton, token, worker, binary
):
    features = httpclient.InferInput("input-0", [2, 4], "FP64")
    features.set_data_from_numpy(np.array([SETOSA_ROW, VIRGINICA_ROW]), binary_data=binary)

    result = triton.infer("iris", [features], headers=token, request_id="req-1")

    assert result.as_numpy("label").tolist() == ["setosa", "virginica"]
    probabilities = result.as_numpy("probabilities")
    assert probabilities.shape == (2, 3)
    assert probabilities.argmax(axis=1).tolist() == [0, 2]
    response = result.get_response()
    assert response["id"] == "req-1"
    assert response["model_name"] == "iris" and response["model_version"] == "2"
    prediction = alice.predictions.get()
    assert str(prediction.pk) == response["parameters"]["prediction_id"]
    assert prediction.is_batch and prediction.row_count == 2


def test_tritonclient_infers_one_row_per_feature_tensor(iris, alice, triton, token, worker):
    inputs = []
    for name, value in zip(
        ["sepal_length", "sepal_width", "petal_length", "petal_width"], VIRGINICA_ROW, strict=True
    ):
        tensor = httpclient.InferInput(name, [1], "FP32")
        tensor.set_data_from_numpy(np.array([value], dtype=np.float32), binary_data=False)
        inputs.append(tensor)

    result = triton.infer(
        "iris",
        inputs,
        model_version="1",
        outputs=[httpclient.InferRequestedOutput("label", binary_data=False)],
        headers=token,
    )

    assert result.as_numpy("label").tolist() == ["virginica"]
    assert result.as_numpy("probabilities") is None
    assert not alice.predictions.get().is_batch


def test_tritonclient_reads_bad_tensors_as_an_error(iris, triton, token):
    features = httpclient.InferInput("input-0", [1, 3], "FP64")
    features.set_data_from_numpy(np.array([[1.0, 2.0, 3.0]]), binary_data=False)

    with pytest.raises(InferenceServerException, match=r"must have shape \[N, 4\]"):
        triton.infer("iris", [features], headers=token)


# Request bodies shaped as MLServer's docs show them, with this model's feature names and numbers.
MLSERVER_BODIES = {
    # Serving scikit-learn models: one `predict` tensor, nested rows, FP32.
    "sklearn": {
        "inputs": [{"name": "predict", "shape": [1, 4], "datatype": "FP32", "data": [SETOSA_ROW]}]
    },
    # The content-type guide: flat data, a tensor-level content type, an explicit output.
    "numpy-content-type": {
        "inputs": [
            {
                "name": "my-input",
                "datatype": "FP64",
                "shape": [1, 4],
                "data": SETOSA_ROW,
                "parameters": {"content_type": "np"},
            }
        ],
        "outputs": [{"name": "predict"}],
    },
    # The pandas codec: one column per feature, the request-level content type, BYTES text.
    "pandas-columns": {
        "parameters": {"content_type": "pd"},
        "inputs": [
            {"name": "sepal_length", "datatype": "FP32", "shape": [1], "data": [5.1]},
            {"name": "sepal_width", "datatype": "FP32", "shape": [1], "data": [3.5]},
            {
                "name": "petal_length",
                "datatype": "BYTES",
                "shape": [1],
                "data": ["1.4"],
                "parameters": {"content_type": "str"},
            },
            {"name": "petal_width", "datatype": "FP32", "shape": [1, 1], "data": [[0.2]]},
        ],
    },
    # The inference request's optional fields: an id and the outputs wanted, by MLServer's names.
    "id-and-outputs": {
        "id": "mlserver-example",
        "inputs": [{"name": "predict", "shape": [1, 4], "datatype": "FP32", "data": SETOSA_ROW}],
        "outputs": [{"name": "predict_proba"}],
    },
}


def test_mlserver_documented_bodies_are_accepted_unchanged(iris, live_server, token, worker):
    for example, body in MLSERVER_BODIES.items():
        status, answer = post(live_server, "/v2/models/iris/infer", body, token)

        assert status == 200, (example, answer)
        outputs = {o["name"]: o for o in answer["outputs"]}
        if "label" in outputs:
            assert outputs["label"]["data"] == ["setosa"], example
        if "predict" in outputs:
            assert outputs["predict"]["data"] == ["setosa"], example
        if "predict_proba" in outputs:
            assert outputs["predict_proba"]["shape"] == [1, 3], example
            assert answer["id"] == "mlserver-example"
