"""The compose file stays valid (checked with docker-compose when it is installed)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker" / "compose.yml"


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed")
def test_docker_compose_accepts_the_compose_file():
    result = subprocess.run(
        ["docker-compose", "-f", str(COMPOSE), "config"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SECRET_KEY": "x" * 50, "JWT_SIGNING_KEY": "y" * 50},
    )
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    assert set(services) == {"postgres", "redis", "migrate", "web", "worker"}
    assert services["worker"]["command"][:4] == ["python", "manage.py", "rqworker", "predictions"]
    assert "container_name" not in services["worker"]  # --scale worker=N needs unnamed ones
    assert services["web"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )
    assert all("healthcheck" in services[name] for name in ("postgres", "redis", "web", "worker"))


def test_the_image_runs_as_a_non_root_user_with_a_healthcheck():
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert dockerfile.count("FROM ") >= 2  # build and runtime stages
    assert "\nUSER app\n" in dockerfile and "HEALTHCHECK" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".venv", ".git"} <= set(ignored)
