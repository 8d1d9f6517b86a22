"""Every API operation tried as another ordinary user: other people's predictions are 404,
registry writes are 403, and lists show nothing of anyone else's. Operations come from the
OpenAPI schema, so a new endpoint is covered without editing this test."""

import re
import uuid

import pytest
from drf_spectacular.generators import SchemaGenerator

from predictions.models import Prediction
from tests.support.api import SETOSA, VIRGINICA, client_for, submit
from tests.support.factories import UserFactory
from tests.support.workers import run_worker

pytestmark = pytest.mark.django_db(transaction=True)

WRITES = {"post", "put", "patch", "delete"}


def operations() -> list[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [
        (path, method)
        for path, item in schema["paths"].items()
        for method in item
        if method in WRITES | {"get"}
    ]


@pytest.fixture
def alices_things(alice_client, iris):
    single = submit(alice_client, {"model": "iris", "input": SETOSA}).json()["id"]
    batch = submit(alice_client, {"model": "iris", "inputs": [SETOSA, VIRGINICA]}).json()["id"]
    run_worker()
    return {"single": single, "batch": batch}


def fill(path: str, prediction_id: str) -> str:
    values = {"id": prediction_id, "name": "iris", "model_name": "iris", "number": "1",
              "alias": "production"}  # fmt: skip
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def test_ids_are_uuids(alices_things):
    for prediction_id in alices_things.values():
        assert uuid.UUID(prediction_id).version == 4


def test_every_prediction_url_of_another_user_is_404(alices_things):
    bob = client_for(UserFactory(username="bob"))
    tried = []
    for path, method in operations():
        if "/predictions/{id}" not in path:
            continue
        for prediction_id in alices_things.values():
            url = fill(path, prediction_id)
            response = getattr(bob, method)(url, {}, format="json")
            tried.append((method, url, response.status_code))
            assert response.status_code == 404, (method, url, response.content)
            assert response.json()["error"]["code"] == "not_found"
            assert prediction_id not in response.content.decode()
    assert len(tried) >= 8  # retrieve, cancel, retry, result, for both
    for prediction_id in alices_things.values():  # long-polling someone else's
        assert bob.get(f"/api/v1/predictions/{prediction_id}/?wait=1").status_code == 404
    states = Prediction.objects.values_list("status", flat=True)
    assert set(states) == {"succeeded"} and Prediction.objects.count() == 2  # nothing changed


def test_every_registry_write_is_403_for_an_ordinary_user(alices_things):
    bob = client_for(UserFactory(username="bob"))
    tried = []
    for path, method in operations():
        if method not in WRITES or not path.startswith("/api/v1/models"):
            continue
        response = getattr(bob, method)(fill(path, ""), {}, format="json")
        tried.append((method, path))
        assert response.status_code == 403, (method, path, response.content)
        assert response.json()["error"]["code"] == "permission_denied"
    assert len(tried) >= 6


def test_list_endpoints_show_nothing_of_another_user(alices_things, alice):
    bob = client_for(UserFactory(username="bob"))
    listed = 0
    for path, method in operations():
        if method != "get" or "{" in path:
            continue
        response = bob.get(path)
        listed += 1
        text = response.content.decode()
        for prediction_id in alices_things.values():
            assert prediction_id not in text, path
        assert alice.username not in text and alice.email not in text, path
    assert listed >= 3
    assert bob.get("/api/v1/predictions/").json()["count"] == 0


@pytest.mark.parametrize("suffix", ["", "result/", "cancel/", "retry/"])
def test_an_id_that_is_not_a_canonical_uuid_is_404_not_500(user_client, suffix):
    # Found by schemathesis: 36 hex digits without dashes used to crash the lookup.
    url = f"/api/v1/predictions/{'0' * 36}/{suffix}"
    response = user_client.post(url) if suffix in ("cancel/", "retry/") else user_client.get(url)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
