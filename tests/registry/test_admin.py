import html
import json
import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from registry import services
from registry.models import Alias, AliasMove, ModelVersion
from tests.support.factories import ModelVersionFactory
from tests.support.models import IRIS, stored_files

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


def test_a_joblib_upload_in_the_admin_needs_the_right_sha256(
    admin_client, iris_model, artifacts, allow_pickles
):
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


def textarea_text(page: str, name: str) -> str:
    """The text a staff user sees in the form's textarea `name`."""
    found = re.search(rf'<textarea name="{name}"[^>]*>(.*?)</textarea>', page, re.S)
    return html.unescape(found.group(1))


def textarea(page: str, name: str):
    text = textarea_text(page, name)
    return json.loads(text) if text.strip() else None


def test_the_model_page_links_to_uploading_a_new_version(admin_client, iris_model):
    page = admin_client.get(f"/admin/registry/mlmodel/{iris_model.pk}/change/").content.decode()
    assert f'href="{ADD_URL}?model={iris_model.pk}"' in page
    assert "Upload a new version" in page


def test_a_new_version_starts_from_the_previous_ones_schema_labels_and_example(
    admin_client, iris_model, artifacts
):
    ModelVersionFactory(model=iris_model, timeout_seconds=7)
    latest = ModelVersionFactory(model=iris_model, format="onnx", timeout_seconds=9)

    page = admin_client.get(f"{ADD_URL}?model={iris_model.pk}").content.decode()

    assert textarea(page, "input_schema") == IRIS.input_schema
    assert textarea(page, "labels") == IRIS.labels
    example = textarea(page, "input_example")
    assert example == IRIS.input_example
    assert list(example) == latest.feature_names  # in the schema's order, as uploaded
    assert textarea(page, "metrics") is None  # the new artifact's own, not the old ones
    assert re.search(r'<option value="onnx" selected>', page)
    assert re.search(r'name="timeout_seconds" value="9"', page)


def test_the_prefilled_form_needs_only_the_new_file(admin_client, iris_model, artifacts):
    ModelVersionFactory(model=iris_model, format="onnx")
    page = admin_client.get(f"{ADD_URL}?model={iris_model.pk}").content.decode()
    prefilled = {name: textarea_text(page, name) for name in ("input_schema", "input_example")}
    data = form(
        iris_model, artifacts.iris_onnx, "onnx", **prefilled, labels=textarea_text(page, "labels")
    )
    response = admin_client.post(ADD_URL, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert ModelVersion.objects.get(number=2).input_schema == IRIS.input_schema


def test_without_a_model_or_with_a_bad_one_the_form_starts_empty(admin_client, iris_model):
    for query in ("", "?model=abc", "?model=999999", f"?model={iris_model.pk}"):
        page = admin_client.get(f"{ADD_URL}{query}").content.decode()
        assert textarea(page, "input_schema") is None, query  # iris has no version yet


def test_staff_download_the_stored_artifact_with_its_name(admin_client, iris_model, artifacts):
    version = ModelVersionFactory(model=iris_model)
    page = admin_client.get(f"/admin/registry/modelversion/{version.pk}/change/").content.decode()
    url = f"/admin/registry/modelversion/{version.pk}/artifact/"
    assert f'href="{url}"' in page and "Download iris-v1.skops" in page
    assert "/media/" not in page  # uploaded files are not served publicly

    response = admin_client.get(url)
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="iris-v1.skops"'
    assert response["Content-Type"] == "application/octet-stream"
    assert b"".join(response.streaming_content) == artifacts.iris_skops.read_bytes()


def test_the_artifact_is_not_served_to_anyone_else(client, user, iris_model, artifacts):
    version = ModelVersionFactory(model=iris_model)
    url = f"/admin/registry/modelversion/{version.pk}/artifact/"
    assert client.get(url).status_code == 302  # to the login page
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_a_missing_artifact_file_is_a_404(admin_client, iris_model, artifacts):
    version = ModelVersionFactory(model=iris_model)
    Path(version.artifact.path).unlink()
    assert (
        admin_client.get(f"/admin/registry/modelversion/{version.pk}/artifact/").status_code == 404
    )
    assert admin_client.get("/admin/registry/modelversion/999999/artifact/").status_code == 404
