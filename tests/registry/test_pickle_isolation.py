"""Pickle (joblib) uploads are off unless ALLOW_PICKLE_UPLOADS turns them on; when on, the web
process never unpickles one: validation runs in a separate, short-lived process with no secrets
in its environment, as `nobody` when the server runs as root, within a time and memory limit."""

import json
import os
import pickle
import resource
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from registry.models import ModelVersion
from tests.support.models import IRIS, Artifacts, malicious_pickle, stored_files

pytestmark = pytest.mark.django_db

NOBODY = 65534
AS_ROOT = os.geteuid() == 0


class Runs:
    """Unpickling this runs `source` (Python statements): what an attacker's file would do."""

    def __init__(self, source: str):
        self.source = source

    def __reduce__(self):
        return (exec, (self.source,))


def pickled(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "model.joblib"
    path.write_bytes(pickle.dumps(Runs(source), protocol=4))
    return path


def upload(client, path: Path):
    body = {
        "artifact": SimpleUploadedFile("model.joblib", path.read_bytes()),
        "format": "joblib",
        "sha256": Artifacts.sha256(path),
        "input_schema": json.dumps(IRIS.input_schema),
        "input_example": json.dumps(IRIS.input_example),
        "labels": json.dumps(IRIS.labels),
    }
    return client.post("/api/v1/models/iris/versions/", body, format="multipart")


def refused(response, code: str, media_root) -> str:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == code, error
    assert not ModelVersion.objects.exists() and stored_files(media_root) == []
    return error["message"]


def test_pickle_uploads_are_off_by_default(staff_client, iris_model, artifacts, media_root):
    message = refused(upload(staff_client, artifacts.iris_joblib), "pickle_not_allowed", media_root)
    assert "ALLOW_PICKLE_UPLOADS" in message


def test_a_pickle_is_checked_and_kept_with_its_onnx_twin(
    staff_client, iris_model, artifacts, allow_pickles
):
    response = upload(staff_client, artifacts.iris_joblib)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["format"] == "joblib" and body["runtime"] == "sklearn"
    assert body["serving_runtime"] == "onnxruntime (twin)"
    assert body["twin_report"]["kept"] is True


def test_a_pickle_runs_in_another_process_as_nobody(
    staff_client, iris_model, tmp_path, media_root, allow_pickles
):
    path = pickled(
        tmp_path, "import os\nraise RuntimeError(f'uid {os.getuid()} pid {os.getpid()}')"
    )

    message = refused(upload(staff_client, path), "load_failed", media_root)

    uid, pid = (int(word) for word in message.split("RuntimeError: uid ")[1].split(" pid "))
    assert pid != os.getpid()
    assert uid == (NOBODY if AS_ROOT else os.getuid())


@pytest.mark.skipif(not AS_ROOT, reason="the server runs as root only here")
def test_a_malicious_pickle_acts_as_nobody_and_never_as_the_server(
    staff_client, iris_model, tmp_path, media_root, allow_pickles
):
    shared = Path(tempfile.mkdtemp(dir="/tmp"))  # a place nobody can write to
    shared.chmod(0o777)
    proof = shared / "pwned"
    path = tmp_path / "evil.joblib"
    path.write_bytes(malicious_pickle(proof))
    try:
        upload(staff_client, path)
        assert proof.stat().st_uid == NOBODY  # it ran, in the child, as nobody
    finally:
        shutil.rmtree(shared)


def test_the_isolated_process_sees_no_secret(
    staff_client, iris_model, tmp_path, media_root, allow_pickles, monkeypatch
):
    monkeypatch.setenv("SECRET_KEY", "do-not-leak")
    path = pickled(tmp_path, "import os\nraise RuntimeError(' '.join(sorted(os.environ)))")

    message = refused(upload(staff_client, path), "load_failed", media_root)

    names = set(message.split("RuntimeError: ")[1].split())
    assert not names & {"SECRET_KEY", "JWT_SIGNING_KEY", "DATABASE_URL", "REDIS_URL"}
    assert "PYTHONPATH" in names


def test_a_pickle_that_runs_past_the_time_limit_is_refused(
    staff_client, iris_model, tmp_path, media_root, allow_pickles, settings
):
    settings.PICKLE_VALIDATION_TIMEOUT_SECONDS = 6
    path = pickled(tmp_path, "import time\ntime.sleep(120)")

    start = time.monotonic()
    message = refused(upload(staff_client, path), "timeout", media_root)

    assert time.monotonic() - start < 20
    assert "more than 6 s" in message


def test_a_pickle_that_allocates_past_the_memory_limit_is_refused(
    staff_client, iris_model, tmp_path, media_root, allow_pickles, settings
):
    settings.PICKLE_VALIDATION_MEMORY_BYTES = 1536 * 1024 * 1024
    path = pickled(tmp_path, "hoard = bytearray(8 * 1024**3)")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    message = refused(upload(staff_client, path), "load_failed", media_root)

    assert "MemoryError" in message
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024  # KB


def test_a_pickle_that_ends_its_process_is_refused(
    staff_client, iris_model, tmp_path, media_root, allow_pickles
):
    path = pickled(tmp_path, "import os\nos._exit(3)")

    message = refused(upload(staff_client, path), "load_failed", media_root)

    assert "ended without an answer (exit status 3)" in message


def test_what_a_pickle_starts_is_ended_with_its_process(
    staff_client, iris_model, tmp_path, media_root, allow_pickles
):
    path = pickled(
        tmp_path,
        "import os, time\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    time.sleep(600)\n"
        "    os._exit(0)\n"
        "raise RuntimeError(f'started {pid}')",
    )

    message = refused(upload(staff_client, path), "load_failed", media_root)

    started = int(message.split("RuntimeError: started ")[1])
    assert not _alive(started)


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting for its new parent to reap it does not)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return False
        if state == "Z":
            return False
        time.sleep(0.1)
    return True
