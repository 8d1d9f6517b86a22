"""The API as a client calls it: authenticated clients, requests, and the rows tests send."""

import json
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from registry.models import ModelVersion
from tests.support.models import IRIS, stored_files


def client_for(user) -> APIClient:
    client = APIClient()
    token = RefreshToken.for_user(user).access_token
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


VIRGINICA = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}


def submit(client, body, **headers):
    return client.post("/api/v1/predictions/", body, format="json", **headers)


def get(client, prediction_id, **params):
    return client.get(f"/api/v1/predictions/{prediction_id}/", params)


def scrape(client, **extra) -> dict:
    """GET /metrics -> {sample name: {frozenset(labels): value}}."""
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples: dict = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[frozenset(sample.labels.items())] = sample.value
    return samples


def labels(**kw) -> frozenset:
    return frozenset(kw.items())


# One iris row per feature, in schema order (sepal length, sepal width, petal length and width).
SETOSA_ROW = [5.1, 3.5, 1.4, 0.2]


VIRGINICA_ROW = [6.7, 3.0, 5.2, 2.3]


def upload(client, model_name, path: Path, fmt: str, *, spec=IRIS, **overrides):
    body = {
        "artifact": SimpleUploadedFile("my model (final).bin", Path(path).read_bytes()),
        "format": fmt,
        "input_schema": json.dumps(spec.input_schema),
        "input_example": json.dumps(spec.input_example),
        "metrics": json.dumps({"accuracy": 0.97}),
        "notes": "uploaded by a test",
    }
    if spec.labels:
        body["labels"] = json.dumps(spec.labels)
    body.update(overrides)
    return client.post(f"/api/v1/models/{model_name}/versions/", body, format="multipart")


def assert_rejected(response, status, code, media_root):
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert ModelVersion.objects.count() == 0
    assert stored_files(media_root) == []
    return response.json()["error"]
