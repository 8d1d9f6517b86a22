"""A NUL or an unpaired surrogate is refused by /v2 as /api/v1 refuses it (one rule,
`mlservice.parsers`): a 400 in V2's error shape wherever it appears, in a JSON body, in the JSON
header of a binary request, in its binary data, or in the path."""

import json
import struct

import pytest

from tests.support.api import SETOSA_ROW

pytestmark = pytest.mark.django_db

ODD = {"NUL": "\x00", "surrogate": "\ud800"}
WORDS = {"NUL": "NUL character", "surrogate": "unpaired surrogate"}


def matrix(**overrides) -> dict:
    return {"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": SETOSA_ROW, **overrides}


def bodies(odd: str) -> dict[str, dict]:
    """Requests with `odd` in one string each (JSON escapes it, as a client would)."""
    return {
        "a tensor of strings": {
            "inputs": [{"name": "sepal_length", "shape": [1], "datatype": "BYTES", "data": [odd]}]
        },
        "an input name": {"inputs": [matrix(name=f"input{odd}")]},
        "an output name": {"inputs": [matrix()], "outputs": [{"name": f"label{odd}"}]},
        "the request id": {"id": odd, "inputs": [matrix()]},
        "a parameter's name": {"parameters": {odd: 1}, "inputs": [matrix()]},
    }


def post(client, body: bytes, path="/v2/models/iris/infer", **headers):
    return client.generic("POST", path, body, content_type="application/octet-stream", **headers)


def assert_refused(response, word: str) -> None:
    assert response.status_code == 400, response.content[:300]
    body = response.json()
    assert list(body) == ["error"] and word in body["error"]


@pytest.mark.parametrize("kind", ODD)
@pytest.mark.parametrize("where", bodies(""))
def test_odd_text_in_a_json_body_is_a_400(alice_client, iris, kind, where):
    body = json.dumps(bodies(ODD[kind])[where]).encode()
    assert_refused(post(alice_client, body), WORDS[kind])


@pytest.mark.parametrize("kind", ODD)
@pytest.mark.parametrize("where", bodies(""))
def test_odd_text_in_the_json_header_of_a_binary_request_is_a_400(alice_client, iris, kind, where):
    head = json.dumps(bodies(ODD[kind])[where]).encode()
    response = post(alice_client, head, HTTP_INFERENCE_HEADER_CONTENT_LENGTH=str(len(head)))
    assert_refused(response, WORDS[kind])


def test_a_nul_in_binary_string_data_is_a_400(alice_client, iris):
    parameters = {"binary_data_size": 7}
    head = json.dumps(
        {
            "inputs": [
                {
                    "name": "sepal_length",
                    "shape": [1],
                    "datatype": "BYTES",
                    "parameters": parameters,
                }
            ]
        }
    ).encode()
    body = head + struct.pack("<I", 3) + b"a\x00b"
    response = post(alice_client, body, HTTP_INFERENCE_HEADER_CONTENT_LENGTH=str(len(head)))
    assert_refused(response, "NUL character")


def test_a_nul_as_the_version_in_the_path_is_a_400(alice_client, iris):
    body = json.dumps({"inputs": [matrix()]}).encode()
    assert_refused(post(alice_client, body, "/v2/models/iris/versions/%00/infer"), "NUL")
    assert_refused(alice_client.get("/v2/models/iris/versions/1%00"), "NUL")
    assert_refused(alice_client.get("/v2/models/iris/versions/%00/ready"), "NUL")


def test_a_nul_in_the_model_name_is_not_found(alice_client, iris):
    response = alice_client.get("/v2/models/ir%00is/ready")
    assert response.status_code == 404
    assert response.json() == {"error": "Not found."}
