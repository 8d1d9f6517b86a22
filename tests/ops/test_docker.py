"""What a newcomer deploying with the docker files gets: an image without secrets or local
data, a compose file that passes every setting of docker/.env, restarts and stops services
gracefully, and seeds demo models only when asked."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker" / "compose.yml"


def docker_ignores(patterns: list[str], path: str) -> bool:
    """Docker's .dockerignore rule: the last pattern matching the path or a parent wins."""

    def regex(pattern: str) -> re.Pattern:
        parts = re.split(r"(\*\*/|\*\*|\*|\?)", pattern.strip("/"))
        table = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
        return re.compile("".join(table.get(p, re.escape(p)) for p in parts) + r"\Z")

    prefixes = ["/".join(path.split("/")[: i + 1]) for i in range(path.count("/") + 1)]
    ignored = False
    for line in patterns:
        negate = line.startswith("!")
        pattern = regex(line.removeprefix("!"))
        if any(pattern.match(prefix) for prefix in prefixes):
            ignored = not negate
    return ignored


def dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize(
    "path",
    [".env", "docker/.env", "docker/.env.production", "deploy/prod/.env", ".env.local",
     ".venv/bin/python", "venv/lib/x.py", "media/models/iris.onnx", "staticfiles/admin/x.css",
     ".state/seed", "test-artifacts/x.png", "registry/__pycache__/x.pyc", "db.sqlite3"],
)  # fmt: skip
def test_the_image_leaves_out_secrets_and_local_data(path):
    assert docker_ignores(dockerignore(), path)


@pytest.mark.parametrize(
    "path", ["manage.py", ".env.example", "docker/Dockerfile", "bin/serve", "accounts/models.py"]
)
def test_the_image_keeps_the_source(path):
    assert not docker_ignores(dockerignore(), path)


def compose_config(project: Path, env: dict | None = None) -> dict:
    result = subprocess.run(
        ["docker-compose", "-f", str(project / "docker" / "compose.yml"), "config"],
        capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


needs_compose = pytest.mark.skipif(
    shutil.which("docker-compose") is None, reason="docker-compose not installed"
)


@needs_compose
def test_docker_compose_accepts_the_compose_file(project_copy):
    subprocess.run(["make", "-s", "docker/.env"], cwd=project_copy, check=True, timeout=60)
    services = compose_config(project_copy)["services"]
    assert set(services) == {"postgres", "redis", "migrate", "web", "worker"}
    assert services["worker"]["command"][:4] == ["python", "manage.py", "rqworker", "predictions"]
    assert "container_name" not in services["worker"]  # --scale worker=N needs unnamed ones
    assert services["web"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )
    assert all("healthcheck" in services[name] for name in ("postgres", "redis", "web", "worker"))


@needs_compose
def test_every_setting_of_docker_env_reaches_the_app(project_copy):
    subprocess.run(["make", "-s", "docker/.env"], cwd=project_copy, check=True, timeout=60)
    env_file = project_copy / "docker" / ".env"
    env_file.write_text(
        env_file.read_text()
        + "CSRF_TRUSTED_ORIGINS=https://ml.example.com\nBEHIND_TLS_PROXY=true\nNUM_PROXIES=1\n"
        + "SECURE_SSL_REDIRECT=true\nWEB_CONCURRENCY=3\nALLOWED_HOSTS=ml.example.com\n"
    )
    services = compose_config(project_copy)["services"]
    for name in ("migrate", "web", "worker"):
        environment = services[name]["environment"]
        assert environment["CSRF_TRUSTED_ORIGINS"] == "https://ml.example.com"
        assert environment["BEHIND_TLS_PROXY"] == "true" and environment["NUM_PROXIES"] == "1"
        assert environment["SECURE_SSL_REDIRECT"] == "true"
        assert environment["WEB_CONCURRENCY"] == "3"
        assert len(environment["SECRET_KEY"]) > 40 and environment["DEBUG"] == "false"
        # Only where the compose services are is fixed by the compose file.
        assert environment["REDIS_URL"] == "redis://redis:6379/0"
        assert environment["HOST"] == "0.0.0.0"


@needs_compose
def test_services_restart_and_stop_gracefully_and_demo_seeding_is_off(project_copy):
    subprocess.run(["make", "-s", "docker/.env"], cwd=project_copy, check=True, timeout=60)
    services = compose_config(project_copy)["services"]
    for name in ("postgres", "redis", "web", "worker"):
        assert services[name]["restart"] == "unless-stopped"
    assert services["migrate"]["restart"] == "no"
    # Longer than gunicorn's graceful_timeout and the worker's hand-back grace.
    assert services["web"]["stop_grace_period"] == "25s"
    assert services["worker"]["stop_grace_period"] == "15s"
    assert services["migrate"]["command"] == ["python", "bin/prepare", "--only", "database"]
    assert services["migrate"]["environment"]["SEED_DEMO_MODELS"] == "false"


@needs_compose
def test_without_docker_env_compose_names_the_missing_file(project_copy):
    result = subprocess.run(
        ["docker-compose", "-f", str(project_copy / "docker" / "compose.yml"), "config"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0 and "docker/.env" in result.stderr


def test_the_image_runs_as_a_non_root_user_with_a_healthcheck():
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert dockerfile.count("FROM ") >= 2  # build and runtime stages
    assert "\nUSER app\n" in dockerfile and "HEALTHCHECK" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {"**/.env", "**/.venv", ".git"} <= set(ignored)
