import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from registry import services
from registry.models import Alias, AliasMove, ModelVersion
from tests.registry.conftest import IRIS, stored_files

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/registry/modelversion/add/"


def form(model, path, fmt, **overrides):
    data = {
        "model": model.pk,
        "artifact": SimpleUploadedFile("upload.bin", path.read_bytes()),
        "format": fmt,
        "input_schema": json.dumps(IRIS.input_schema),
        "input_example": json.dumps(IRIS.input_example),
        "labels": json.dumps(IRIS.labels),
        "metrics": '{"accuracy": 0.97}',
        "notes": "",
        "sha256": "",
        "timeout_seconds": 60,
        "alias": "",
    }
    data.update(overrides)
    return data


def test_staff_upload_a_version_in_the_admin_and_promote_it(admin_client, iris_model, artifacts):
    response = admin_client.post(
        ADD_URL, form(iris_model, artifacts.iris_onnx, "onnx", alias="production")
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    version = ModelVersion.objects.get()
    assert (version.number, version.format, version.runtime) == (1, "onnx", "onnxruntime")
    assert version.created_by.username == "staff"
    assert Alias.objects.get(name="production").version == version


def test_a_rejected_upload_shows_the_reason_as_a_form_error(
    admin_client, iris_model, artifacts, media_root
):
    response = admin_client.post(ADD_URL, form(iris_model, artifacts.iris_skops, "onnx"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "errorlist" in page and "not a valid onnx artifact" in page.lower()
    assert ModelVersion.objects.count() == 0
    assert stored_files(media_root) == []


def test_a_joblib_upload_in_the_admin_needs_the_right_sha256(admin_client, iris_model, artifacts):
    wrong = admin_client.post(
        ADD_URL, form(iris_model, artifacts.iris_joblib, "joblib", sha256="1" * 64)
    )
    assert wrong.status_code == 200 and ModelVersion.objects.count() == 0
    right = admin_client.post(
        ADD_URL,
        form(
            iris_model,
            artifacts.iris_joblib,
            "joblib",
            sha256=artifacts.sha256(artifacts.iris_joblib),
        ),
    )
    assert right.status_code == 302 and ModelVersion.objects.get().format == "joblib"


def test_the_promote_action_moves_production_and_rollback_moves_it_back(
    admin_client, iris_model, artifacts
):
    v1 = services.version_create(
        model=iris_model,
        artifact=artifacts.iris_skops,
        format="skops",
        input_schema=IRIS.input_schema,
        labels=IRIS.labels,
        input_example=IRIS.input_example,
    )
    v2 = services.version_create(
        model=iris_model,
        artifact=artifacts.iris_onnx,
        format="onnx",
        input_schema=IRIS.input_schema,
        labels=IRIS.labels,
        input_example=IRIS.input_example,
    )
    for version in (v1, v2):
        admin_client.post(
            "/admin/registry/modelversion/",
            {"action": "promote_production", "_selected_action": [version.pk]},
        )
    assert Alias.objects.get(name="production").version == v2
    admin_client.post(
        "/admin/registry/mlmodel/",
        {"action": "rollback_production", "_selected_action": [iris_model.pk]},
    )
    assert Alias.objects.get(name="production").version == v1
    assert [m.kind for m in AliasMove.objects.order_by("id")] == ["set", "set", "rollback"]
    assert all(m.actor.username == "staff" for m in AliasMove.objects.all())


@pytest.mark.parametrize(
    "url",
    [
        "/admin/registry/mlmodel/",
        "/admin/registry/modelversion/",
        "/admin/registry/aliasmove/",
        "/admin/registry/auditevent/",
        "/admin/registry/alias/",
        ADD_URL,
    ],
)
def test_the_registry_admin_pages_render(admin_client, iris_model, artifacts, url):
    services.version_create(
        model=iris_model,
        artifact=artifacts.iris_onnx,
        format="onnx",
        input_schema=IRIS.input_schema,
        labels=IRIS.labels,
        input_example=IRIS.input_example,
    )
    assert admin_client.get(url).status_code == 200
    version = ModelVersion.objects.get()
    assert admin_client.get(f"/admin/registry/modelversion/{version.pk}/change/").status_code == 200
    assert admin_client.get(f"/admin/registry/mlmodel/{iris_model.pk}/change/").status_code == 200


def test_alias_history_is_read_only_in_the_admin(admin_client):
    assert admin_client.get("/admin/registry/aliasmove/add/").status_code == 403
