"""Ground truth, quality and reference data as the evidence API's clients send and read them."""

from django.core.files.uploadedfile import SimpleUploadedFile
from sklearn.datasets import load_iris


def feedback(client, prediction_id, truth, **extra):
    return client.post(
        f"/api/v1/predictions/{prediction_id}/feedback/",
        {"truth": truth, **extra},
        format="json",
    )


def feedback_csv(client, text: str):
    """Send feedback as a CSV file of `prediction_id,truth[,row]` lines."""
    upload = SimpleUploadedFile("feedback.csv", text.encode(), content_type="text/csv")
    return client.post("/api/v1/predictions/feedback/", {"file": upload}, format="multipart")


def quality(client, model, **params) -> dict:
    response = client.get(f"/api/v1/models/{model}/quality/", params)
    assert response.status_code == 200, response.content
    return response.json()


NAMES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def iris_rows(count: int, shift: dict | None = None) -> list[dict]:
    data = load_iris().data
    rows = [dict(zip(NAMES, data[i % len(data)].tolist(), strict=True)) for i in range(count)]
    for row in rows:
        for name, by in (shift or {}).items():
            row[name] = round(row[name] + by, 2)
    return rows


def reference_csv() -> SimpleUploadedFile:
    lines = [",".join(NAMES)] + [",".join(map(str, r.values())) for r in iris_rows(150)]
    return SimpleUploadedFile("reference.csv", ("\n".join(lines) + "\n").encode())


def upload_reference(client, version: int = 2):
    return client.post(
        f"/api/v1/models/iris/versions/{version}/reference/",
        {"file": reference_csv()},
        format="multipart",
    )
