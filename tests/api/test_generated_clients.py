"""Clients nobody here writes: generated from the served /api/schema/ and used as they are."""

import json
import re
import shutil
import subprocess
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest

from mlservice.redis import redis_connection
from predictions.cache import predictors
from registry import demo
from tests.support.commands import run
from tests.support.factories import MLModelFactory, ModelVersionFactory
from tests.support.workers import run_worker

HERE = Path(__file__).resolve().parent
PACKAGE = "mlservice_api_client"


@pytest.fixture
def served_schema(live_server, tmp_path) -> Path:
    request = urllib.request.Request(
        f"{live_server.url}/api/schema/", headers={"Accept": "application/vnd.oai.openapi+json"}
    )
    with urllib.request.urlopen(request) as response:
        schema = json.load(response)
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(schema))
    return path


@pytest.fixture
def catalogue(transactional_db, artifacts, settings, tmp_path):  # noqa: F811
    """iris (free), `pricey` (the same model at more than a new account's grant per row) and
    `demand` (a forecast model)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    redis_connection().flushdb()
    predictors.clear()
    for name, price in (
        ("iris", Decimal(0)),
        ("pricey", Decimal(settings.BILLING_STARTING_GRANT) + 1),
    ):
        model = MLModelFactory(name=name, title="")
        ModelVersionFactory(model=model, price_per_row=price, alias="production")
    _register_forecast(tmp_path / "demand.txt")
    yield
    predictors.clear()


def _register_forecast(path: Path) -> None:
    """`demand`: the demo's LightGBM lag forecaster."""
    spec = demo.DEMAND_LIGHTGBM
    demo.export_forecast(spec, demo.train_forecast(spec), path)
    ModelVersionFactory(
        model=MLModelFactory(name="demand", task="forecast", title=""),
        artifact=path,
        format=spec.format,
        spec=spec,
        labels=None,
        trusted_operator=False,
        alias="production",
    )


def run_with_worker(command: list, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the client in its own process while this one works the prediction queue."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        run_worker()
        time.sleep(0.2)
    if process.poll() is None:
        process.kill()
    output, _ = process.communicate()
    return subprocess.CompletedProcess(command, process.returncode, output)


def test_the_generated_python_client_runs_the_whole_user_flow(
    served_schema, catalogue, live_server, python_tools, tmp_path
):
    out = tmp_path / "client"
    out.mkdir()
    run(
        python_tools / "openapi-python-client",
        "generate",
        "--path",
        served_schema,
        "--output-path",
        out / PACKAGE,
        "--meta",
        "none",
    )
    done = run_with_worker([python_tools / "python", HERE / "client_flow.py", out, live_server.url])
    assert done.returncode == 0, done.stdout
    assert "flow ok" in done.stdout


def test_the_generated_typescript_types_check_the_same_flow(served_schema, node_tools, tmp_path):
    shutil.copy(HERE / "flow.ts", tmp_path / "flow.ts")
    # A default makes a field optional to send, not always present: the documented flag.
    run(
        node_tools / "openapi-typescript",
        served_schema,
        "--default-non-nullable=false",
        "--output",
        tmp_path / "schema.d.ts",
    )
    types = (tmp_path / "schema.d.ts").read_text()
    # Headers and free-form objects (an error's `fields`, a version's `metrics`) are maps of
    # anything by design; every payload itself has a type.
    untyped = [
        line.strip()
        for line in types.splitlines()
        if re.search(r":\s*unknown\b", line)
        and not re.search(r"\[(name|key): string\]: unknown", line)
    ]
    assert untyped == []
    done = subprocess.run(
        [
            node_tools / "tsc",
            "--noEmit",
            "--strict",
            "--target",
            "es2022",
            "--module",
            "es2022",
            "--moduleResolution",
            "bundler",
            "--lib",
            "es2022,dom",
            tmp_path / "flow.ts",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
