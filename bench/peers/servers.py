"""The two peers, each started from its own venv on loopback and stopped by its process group.

A peer knows how to export a bench model in its format (export.py in its venv), start its
server on free ports, tell when it is ready, and write and read one row's request and answer.
"""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from functools import cached_property
from pathlib import Path

from . import models, venvs

HERE = Path(__file__).resolve().parent
START_TIMEOUT = 180
# Each setting is measured and the peer's best counts. MLServer's parallel_workers 0 runs
# inference in its HTTP process (fastest for light models), 2 in two processes (heavy ones).
MLSERVER_WORKERS = [int(n) for n in os.environ.get("BENCH_MLSERVER_WORKERS", "0,2").split(",")]
MLFLOW_WORKERS = [int(n) for n in os.environ.get("BENCH_MLFLOW_WORKERS", "2").split(",")]
# One inference thread per process, as the project's own runtimes use: with the libraries'
# default (a thread per core) every single-row prediction waits on OpenMP threads that the
# other requests' processes keep busy.
INFERENCE_THREADS = os.environ.get("BENCH_PEER_THREADS", "1")


class PeerFailed(Exception):
    """The peer installed but could not export, start or answer; the message says why."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(method: str, url: str, body: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, data=body, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


class Peer:
    name = ""
    worker_counts: list[int] = []

    def __init__(self, key: str, workers: int):
        self.key = key
        self.workers = workers
        self.work = venvs.peer_dir(self.name) / "work" / key
        self.process: subprocess.Popen | None = None
        self.port = 0
        self.exported: dict = {}

    def export(self) -> None:
        """Train the model in the peer's venv and save it in the peer's format (a fresh copy)."""
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.parent.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [
                str(venvs.python(self.name)),
                str(HERE / "export.py"),
                self.name,
                self.key,
                str(self.work),
            ],
            capture_output=True,
            text=True,
            timeout=600,
            env=self.env(),
        )
        if done.returncode:
            raise PeerFailed(f"export failed: {_last_line(done.stderr)}")
        self.exported = json.loads((self.work / "export.json").read_text())

    def env(self) -> dict:
        env = {**os.environ, "PATH": f"{venvs.bin_dir(self.name)}:{os.environ['PATH']}"}
        if INFERENCE_THREADS:
            env["OMP_NUM_THREADS"] = INFERENCE_THREADS
        return env

    def start(self) -> float:
        """Start the server and wait until it answers as ready; the seconds that took."""
        self.port = free_port()
        self.log = open(self.work / "serve.log", "w")
        started = time.monotonic()
        self.process = subprocess.Popen(
            self.command(),
            cwd=self.work,
            env=self.env(),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = started + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PeerFailed(
                    f"server exited: {_last_line((self.work / 'serve.log').read_text())}"
                )
            try:
                if http("GET", self.base_url + self.ready_path)[0] == 200:
                    return time.monotonic() - started
            except OSError:
                pass
            time.sleep(0.2)
        raise PeerFailed(f"not ready after {START_TIMEOUT} s")

    def stop(self) -> None:
        if not self.process:
            return
        group = self.process.pid  # start_new_session: the group is ours and only ours
        if self.process.poll() is None:
            os.killpg(group, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(group, signal.SIGKILL)
                self.process.wait(timeout=30)
        # Inference workers left behind by the server still belong to the group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
        self.log.close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def check(self, sample: int = 20) -> None:
        """The served model's labels equal the model's own for a sample of the dataset's rows."""
        expected = self.exported["expected"]
        rows = models.rows(self.key)
        for index in range(0, len(expected), max(1, len(expected) // sample)):
            status, body = http("POST", self.url, self.body(rows[index]).encode())
            if status != 200:
                raise PeerFailed(f"answered {status}: {body[:200]!r}")
            label = self.label(json.loads(body))
            if label != expected[index]:
                raise PeerFailed(f"row {index}: answered {label}, the model says {expected[index]}")

    # Per peer:
    ready_path = ""
    url = ""

    def command(self) -> list[str]:
        raise NotImplementedError

    def body(self, row: list[float]) -> str:
        raise NotImplementedError

    def label(self, answer: dict) -> int:
        raise NotImplementedError

    def settings_text(self) -> str:
        raise NotImplementedError


class MLServer(Peer):
    """Seldon MLServer, V2 inference protocol, the runtime of the model's family."""

    name = "mlserver"
    worker_counts = MLSERVER_WORKERS

    def command(self) -> list[str]:
        ports = [self.port, free_port(), free_port()]
        settings = {
            "host": "127.0.0.1",
            "http_port": ports[0],
            "grpc_port": ports[1],
            "metrics_port": ports[2],
            "parallel_workers": self.workers,
            "debug": False,
            "metrics_endpoint": None,
        }
        (self.work / "settings.json").write_text(json.dumps(settings, indent=1))
        return [str(venvs.bin_dir(self.name) / "mlserver"), "start", str(self.work)]

    @property
    def ready_path(self) -> str:
        return f"/v2/models/{self.key}/ready"

    @property
    def url(self) -> str:
        return f"{self.base_url}/v2/models/{self.key}/infer"

    def body(self, row: list[float]) -> str:
        tensor = {"name": "input-0", "shape": [1, len(row)], "datatype": "FP64", "data": row}
        return json.dumps({"inputs": [tensor]})

    def settings_text(self) -> str:
        return f"parallel_workers {self.workers}"

    def label(self, answer: dict) -> int:
        value = answer["outputs"][0]["data"][0]
        # The LightGBM runtime answers the booster's probability of the positive class.
        return int(value > 0.5) if isinstance(value, float) else int(value)


class MLflowServer(Peer):
    """`mlflow models serve` (its uvicorn scoring server), the model's pyfunc flavour."""

    name = "mlflow"
    worker_counts = MLFLOW_WORKERS
    ready_path = "/ping"

    def command(self) -> list[str]:
        return [
            str(venvs.bin_dir(self.name) / "mlflow"),
            "models",
            "serve",
            "-m",
            self.exported["model_uri"],
            "--env-manager",
            "local",
            "-w",
            str(self.workers),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
        ]

    def env(self) -> dict:
        env = super().env()
        if self.exported:
            env["MLFLOW_TRACKING_URI"] = self.exported["tracking_uri"]
        return env

    @property
    def url(self) -> str:
        return f"{self.base_url}/invocations"

    def body(self, row: list[float]) -> str:
        if models.MODELS[self.key].family == "sklearn":  # a tensor signature (export.py)
            return json.dumps({"inputs": [row]})
        return json.dumps({"dataframe_split": {"columns": self.columns, "data": [row]}})

    @cached_property
    def columns(self) -> list[str]:
        return models.dataset(self.key)[2]

    def settings_text(self) -> str:
        return f"{self.workers} uvicorn workers"

    def label(self, answer: dict) -> int:
        return int(answer["predictions"][0])


PEERS = {peer.name: peer for peer in (MLServer, MLflowServer)}


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines or ["(no output)"])[-1][:300]
