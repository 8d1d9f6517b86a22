"""A skops file is a zip: its member count and unpacked size are checked from its directory
before a member is read, so a small upload that inflates to gigabytes is refused at once."""

import json
import struct
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import skops.io
from django.core.files.uploadedfile import SimpleUploadedFile
from sklearn.linear_model import LogisticRegression

from registry import demo
from registry.models import ModelVersion
from tests.support.models import IRIS, stored_files

pytestmark = pytest.mark.django_db


def iris_skops(path: Path, padding_megabytes: int = 0) -> Path:
    """The iris model as skops, with an array of zeros that deflates to almost nothing."""
    _, X, y = demo.dataset("iris")
    model = LogisticRegression(max_iter=1000).fit(X, y)
    if padding_megabytes:
        model.padding_ = np.zeros(padding_megabytes * 1024 * 1024 // 8)
    skops.io.dump(model, path, compression=zipfile.ZIP_DEFLATED, compresslevel=9)
    return path


def upload(client, path: Path):
    body = {
        "artifact": SimpleUploadedFile("model.skops", path.read_bytes()),
        "format": "skops",
        "input_schema": json.dumps(IRIS.input_schema),
        "input_example": json.dumps(IRIS.input_example),
        "labels": json.dumps(IRIS.labels),
    }
    return client.post("/api/v1/models/iris/versions/", body, format="multipart")


def assert_refused(response, status: int, code: str, media_root) -> str:
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert not ModelVersion.objects.exists() and stored_files(media_root) == []
    return response.json()["error"]["message"]


def test_a_small_file_that_inflates_past_the_limit_is_a_413_before_it_is_read(
    staff_client, iris_model, tmp_path, settings, media_root
):
    settings.MODEL_MAX_UNPACKED_BYTES = 10 * 1024 * 1024
    path = iris_skops(tmp_path / "bomb.skops", padding_megabytes=64)
    assert path.stat().st_size < 200 * 1024

    start = time.monotonic()
    message = assert_refused(upload(staff_client, path), 413, "too_large", media_root)

    assert time.monotonic() - start < 2
    assert message.startswith("the archive unpacks to 67,")
    assert message.endswith("over the limit of 10,485,760")


def test_the_same_model_without_the_padding_is_accepted(
    staff_client, iris_model, tmp_path, settings
):
    settings.MODEL_MAX_UNPACKED_BYTES = 10 * 1024 * 1024
    response = upload(staff_client, iris_skops(tmp_path / "plain.skops"))
    assert response.status_code == 201, response.content


def test_an_archive_with_more_files_than_the_limit_is_a_400(
    staff_client, iris_model, tmp_path, settings, media_root
):
    settings.MODEL_MAX_ARCHIVE_MEMBERS = 20
    path = iris_skops(tmp_path / "many.skops")
    with zipfile.ZipFile(path, "a") as archive:
        for index in range(30):
            archive.writestr(f"extra-{index}.npy", b"")

    message = assert_refused(upload(staff_client, path), 400, "too_many_files", media_root)

    assert message == "the archive has more than 20 files"


def test_an_archive_whose_end_record_understates_its_files_is_refused_too(
    staff_client, iris_model, tmp_path, settings, media_root
):
    settings.MODEL_MAX_ARCHIVE_MEMBERS = 20
    path = iris_skops(tmp_path / "liar.skops")
    with zipfile.ZipFile(path, "a") as archive:
        for index in range(30):
            archive.writestr(f"extra-{index}.npy", b"")
    data = bytearray(path.read_bytes())
    end = data.rindex(b"PK\x05\x06")
    struct.pack_into("<HH", data, end + 8, 3, 3)  # entries on this disk, entries in total
    path.write_bytes(bytes(data))

    assert_refused(upload(staff_client, path), 400, "too_many_files", media_root)
