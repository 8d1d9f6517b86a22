"""Serving as a newcomer does it: `make run` on this machine, the gunicorn config, the probes
behind a real host name, and `make check-deploy` with the .env that `make run` wrote."""

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.db import connection

from mlservice.gunicorn_conf import cpu_limit
from tests.support.faults import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/readyz", "/healthz"])
def test_probes_answer_whatever_the_host_header(client, settings, path):
    settings.ALLOWED_HOSTS = ["ml.example.com"]
    assert client.get(path, HTTP_HOST="127.0.0.1:8000").status_code == 200
    assert client.get(path, HTTP_HOST="10.1.2.3").status_code == 200


@pytest.mark.django_db
def test_other_pages_still_refuse_an_unknown_host(client, settings):
    settings.ALLOWED_HOSTS = ["ml.example.com"]
    assert client.get("/api/v1/users/me/", HTTP_HOST="127.0.0.1:8000").status_code == 400
    assert client.get("/api/v1/users/me/", HTTP_HOST="ml.example.com").status_code == 401


def cgroup(tmp_path: Path, **files: str) -> Path:
    for name, text in files.items():
        path = tmp_path / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_gunicorn_sizes_itself_to_the_cpu_quota_not_the_host(tmp_path):
    cores = len(os.sched_getaffinity(0))
    assert cpu_limit(cgroup(tmp_path / "a", **{"cpu.max": "50000 100000\n"})) == 1
    assert cpu_limit(cgroup(tmp_path / "b", **{"cpu.max": "max 100000\n"})) == cores
    assert cpu_limit(cgroup(tmp_path / "c", **{"cpu.max": "1000000 100000\n"})) == cores
    v1 = cgroup(tmp_path / "d", cpu__cpu__cfs_quota_us="150000\n", cpu__cpu__cfs_period_us="100000")
    assert cpu_limit(v1) == min(cores, 2)
    assert cpu_limit(tmp_path / "none") == cores


def gunicorn_settings(project: Path, **env) -> dict:
    code = (
        "import runpy; c = runpy.run_path('mlservice/gunicorn_conf.py'); "
        "print(c['bind'], c['workers'], c['accesslog'])"
    )
    clean = {k: v for k, v in os.environ.items() if k not in ("PORT", "HOST", "WEB_CONCURRENCY")}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=project, env={**clean, **env},
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    bind, workers, accesslog = result.stdout.split()
    return {"bind": bind, "workers": int(workers), "accesslog": accesslog}


def test_gunicorn_reads_port_host_and_web_concurrency_from_env_file(project_copy):
    (project_copy / ".env").write_text("PORT=8765\nWEB_CONCURRENCY=3\nHOST=\n")
    assert gunicorn_settings(project_copy) == {
        "bind": "127.0.0.1:8765", "workers": 3, "accesslog": "None",
    }  # fmt: skip
    # The environment wins over .env, as in the Django settings.
    assert gunicorn_settings(project_copy, PORT="9000", HOST="0.0.0.0")["bind"] == "0.0.0.0:9000"


def test_check_deploy_passes_after_make_run_wrote_its_env(project_copy):
    make = ["make", "-s", "-o", ".venv/.installed"]
    subprocess.run([*make, ".env"], cwd=project_copy, check=True, timeout=60)
    written = (project_copy / ".env").read_text()
    assert re.search(r"^DEBUG=true$", written, re.M)
    assert not re.search(r"^(SESSION|CSRF)_COOKIE_SECURE=", written, re.M)  # derived, not pinned
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SECRET", "JWT", "DJANGO"))}
    result = subprocess.run(
        [*make, "check-deploy"], cwd=project_copy, env=env,
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def banner_of(process: subprocess.Popen, log: Path, timeout: float) -> str:
    wait_until(
        lambda: "Running as" in log.read_text() or process.poll() is not None,
        timeout, "make run printed no banner",
    )  # fmt: skip
    time.sleep(0.5)
    return log.read_text()


@pytest.mark.django_db(transaction=True)
def test_make_run_listens_locally_and_prints_its_banner_once_everything_is_ready(
    project_copy,
    private_redis,  # noqa: F811
):
    port = free_port()
    subprocess.run(["bin/make-env", ".env", "--dev"], cwd=project_copy, check=True, timeout=60)
    with (project_copy / ".env").open("a") as env_file:
        env_file.write(f"PORT={port}\nSEED_DEMO_MODELS=false\nWEB_CONCURRENCY=1\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PORT", "HOST", "WEB_CONCURRENCY")}
    env.update(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}",
        REDIS_URL=private_redis.url,
        MEDIA_ROOT=str(project_copy / "media"),
    )
    env.pop("DJANGO_SETTINGS_MODULE", None)
    for run in ("first", "restart"):
        log = project_copy / f"run-{run}.log"
        started = time.monotonic()
        process = subprocess.Popen(
            ["bin/serve"], cwd=project_copy, env=env, stdout=log.open("w"),
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            output = banner_of(process, log, 120)
            print(f"FIGURE make run ({run}) to the banner: {time.monotonic() - started:.1f} s")
            assert "mlservice is up" in output, output[-3000:]
            banner = output[output.index("mlservice is up") :]
            links = re.findall(r"http://\S+", banner)
            assert links[0] == f"http://127.0.0.1:{port}/api/docs/"
            assert output.index("Listening on predictions") < output.index("mlservice is up")
            assert f"Listening at: http://127.0.0.1:{port}" in output
            assert '"level"' not in output  # readable lines, not JSON, with DEBUG=true
            with urllib.request.urlopen(links[0], timeout=5) as response:
                assert response.status == 200
        finally:
            os.killpg(process.pid, signal.SIGINT)  # Ctrl-C: the whole foreground group
            try:
                assert process.wait(60) == 0
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                raise AssertionError(log.read_text()[-3000:]) from None
