#!/usr/bin/env python
"""`make bench`: start the project's own stack on a private port, database and Redis db, load
the demo models, run each scenario 3 times and write docs/BENCHMARKS.md.

Scenarios (see issue "Performance"): async end to end, submit only, ?wait latency, batches
(10k JSON rows, 100k-row CSV to CSV), drain (vs a bare RQ one-job-per-prediction worker),
in-process model rates, worker memory, live quality and drift over 1,000,000 predictions
with feedback (once: `bench/evidence_1m.py` times 5 runs itself); then the peers (Seldon
MLServer, MLflow) on the bench models, from their own venvs (bench/peers). Figures are medians
with min-max over 3 runs.
"""

import http.client
import json
import os
import platform
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import redis
from peers import load
from peers import scenario as peer_scenario

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")
PORT = int(os.environ.get("BENCH_PORT", "8400"))
DB = os.environ.get("BENCH_DB", "mlservice_bench")
REDIS_DB = int(os.environ.get("BENCH_REDIS_DB", "12"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
E2E_SECONDS = int(os.environ.get("BENCH_E2E_SECONDS", "30"))
WEB_PROCESSES = os.environ.get("BENCH_WEB_PROCESSES", "2")
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
CLIENTS = 16
PG = "postgres://postgres@127.0.0.1:5432"
DSN = f"{PG}/{DB}"
REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"
OUT = ROOT / "bench" / "out"
MINIMAL_TABLE = "bench_minimal_insert"
SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}

ENV = {
    **os.environ,
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "JWT_SIGNING_KEY": secrets.token_urlsafe(50),
    "DATABASE_URL": DSN,
    "REDIS_URL": REDIS_URL,
    "MEDIA_ROOT": str(OUT / "media"),
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "PORT": str(PORT),
    "HOST": "127.0.0.1",
    "WEB_CONCURRENCY": WEB_PROCESSES,
    "GUNICORN_ACCESS_LOG": "",
    "LOG_LEVEL": "WARNING",
    "ACCESS_LOG_LEVEL": "WARNING",
    "JWT_ACCESS_LIFETIME_SECONDS": "7200",
    "RQ_LOG_LEVEL": "ERROR",
    # The bench user submits far more than an ordinary user may.
    "PREDICTION_RATE_PER_MINUTE": "0",
    "PREDICTION_ROWS_PER_DAY": "0",
}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def manage(*args: str) -> str:
    done = subprocess.run(
        [PY, "manage.py", *args], cwd=ROOT, env=ENV, capture_output=True, text=True
    )
    if done.returncode:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def sql(query: str, params=None):
    with psycopg.connect(DSN, autocommit=True) as conn:
        cursor = conn.execute(query, params)
        return cursor.fetchall() if cursor.description else None


# --- The stack -----------------------------------------------------------------------------------


class Stack:
    def __init__(self):
        self.web = None
        self.workers: list[subprocess.Popen] = []

    def start_web(self):
        self.web = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/gunicorn"),
                "mlservice.wsgi",
                "-c",
                "python:mlservice.gunicorn_conf",
            ],
            cwd=ROOT,
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=open(OUT / "web.log", "w"),
        )
        wait_until(lambda: http_status("GET", "/readyz") == 200, 60, "the web server")

    def start_workers(self, count: int = WORKERS):
        for _ in range(count):
            self.workers.append(
                subprocess.Popen(
                    [PY, "manage.py", "rqworker", "predictions", "-v", "0"],
                    cwd=ROOT,
                    env=ENV,
                    stdout=subprocess.DEVNULL,
                    stderr=open(OUT / "worker.log", "a"),
                )
            )
        rq = redis.Redis.from_url(REDIS_URL)
        wait_until(
            lambda: len(rq.smembers("rq:workers:predictions")) >= len(self.workers),
            60,
            "the workers",
        )

    def stop_workers(self):
        for worker in self.workers:
            worker.send_signal(signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
        self.workers = []

    def stop(self):
        self.stop_workers()
        if self.web:
            self.web.send_signal(signal.SIGTERM)
            self.web.wait(timeout=30)


def wait_until(check, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.1)
    sys.exit(f"Timed out waiting for {what}.")


# --- HTTP helpers ---------------------------------------------------------------------------

TOKEN = ""


def call(method: str, path: str, body=None, headers=None, conn=None, port: int = PORT):
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    hdrs = {"Content-Type": "application/json"} if not isinstance(body, bytes) else {}
    if TOKEN:
        hdrs["Authorization"] = f"Bearer {TOKEN}"
    hdrs.update(headers or {})
    conn.request(method, path, body=data, headers=hdrs)
    response = conn.getresponse()
    payload = response.read()
    if own:
        conn.close()
    return response.status, payload


def http_status(method, path, port: int = PORT):
    return call(method, path, body={} if method == "POST" else None, port=port)[0]


def login() -> str:
    password = secrets.token_urlsafe(16)
    call(
        "POST",
        "/api/v1/users/",
        {"username": "bench", "email": "bench@example.com", "password": password},
    )
    status, body = call("POST", "/api/v1/auth/token/", {"username": "bench", "password": password})
    if status != 200:
        sys.exit(f"Could not log in the bench user: {status} {body[:200]}")
    return json.loads(body)["access"]


def reset_predictions():
    """An empty predictions table for the next scenario. VACUUM too: thousands of deleted
    pending rows leave dead entries in the index the workers' claim reads, which slowed the
    next scenario's `?wait` from 5.5 to 16 ms until autovacuum came by."""
    sql("DELETE FROM predictions_predictionchunk")
    sql("DELETE FROM predictions_prediction")
    sql("VACUUM ANALYZE predictions_prediction, predictions_predictionchunk")
    redis.Redis.from_url(REDIS_URL).delete("rq:queue:predictions")


def wait_drained(seconds: float = 300):
    wait_until(
        lambda: sql(
            "SELECT count(*) FROM predictions_prediction WHERE status IN ('pending', 'running')"
        )[0][0]
        == 0,
        seconds,
        "the queue to drain",
    )


def wrk(seconds: int, clients: int = CLIENTS, port: int = PORT) -> dict:
    return load.wrk(
        f"http://127.0.0.1:{port}/api/v1/predictions/",
        ROOT / "bench/post.lua",
        seconds,
        clients,
        env={"TOKEN": TOKEN},
    )


def submit_many(count: int, threads: int = 8) -> list[str]:
    def work(n):
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
        ids = []
        for _ in range(n):
            status, body = call(
                "POST", "/api/v1/predictions/", {"model": "iris", "input": SETOSA}, conn=conn
            )
            assert status == 202, body
            ids.append(json.loads(body)["id"])
        conn.close()
        return ids

    per = [count // threads + (1 if i < count % threads else 0) for i in range(threads)]
    with ThreadPoolExecutor(threads) as pool:
        return [i for ids in pool.map(work, per) for i in ids]


# --- Scenarios --------------------------------------------------------------------------------


def scenario_e2e(stack: Stack) -> dict:
    reset_predictions()
    started = time.time()
    result = wrk(E2E_SECONDS)
    wait_drained()
    rows = sql(
        "SELECT status, count(*), min(created_at), max(finished_at) FROM "
        "predictions_prediction GROUP BY status"
    )
    by_status = {r[0]: r[1] for r in rows}
    succeeded = by_status.get("succeeded", 0)
    first = min(r[2] for r in rows)
    last = max(r[3] for r in rows if r[3] is not None)
    elapsed = (last - first).total_seconds()
    return {
        "completed_per_s": succeeded / elapsed,
        "submitted_2xx": result["requests"] - result["non2xx"],
        "succeeded": succeeded,
        "failed": by_status.get("failed", 0),
        "lost": result["requests"] - result["non2xx"] - sum(by_status.values()),
        "seconds": elapsed,
        "wall": time.time() - started,
    }


def scenario_submit(stack: Stack) -> dict:
    """The API alone: no worker competes for the cores (end to end measures them together)."""
    stack.stop_workers()
    reset_predictions()
    result = wrk(10)
    reset_predictions()
    stack.start_workers()
    return {k: result[k] for k in ("rps", "p50_ms", "p99_ms", "non2xx")}


def start_minimal_app(port: int) -> subprocess.Popen:
    """bench/minimal_django.py on the project's gunicorn settings, with a fresh table."""
    sql(f"DROP TABLE IF EXISTS {MINIMAL_TABLE}")
    sql(f"CREATE TABLE {MINIMAL_TABLE} (id uuid PRIMARY KEY, body jsonb NOT NULL)")
    web = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "bench.minimal_django:application",
            "-c",
            "python:mlservice.gunicorn_conf",
        ],
        cwd=ROOT,
        env={**ENV, "PORT": str(port), "BENCH_MINIMAL_DB": DB},
        stdout=subprocess.DEVNULL,
        stderr=open(OUT / "minimal.log", "w"),
    )
    wait_until(
        lambda: http_status("POST", "/api/v1/predictions/", port=port) == 202,
        60,
        "the minimal Django app",
    )
    return web


def stop_minimal_app(web: subprocess.Popen) -> None:
    web.send_signal(signal.SIGTERM)
    web.wait(timeout=30)
    sql(f"DROP TABLE IF EXISTS {MINIMAL_TABLE}")


def scenario_submit_ceiling(stack: Stack) -> dict:
    """Django + DRF answering the same POST with one INSERT and nothing else (no auth, no
    validation, no queue), on the same gunicorn settings: what the framework itself allows."""
    stack.stop_workers()
    port = PORT + 1
    web = start_minimal_app(port)
    try:
        result = wrk(10, port=port)
        inserted = sql(f"SELECT count(*) FROM {MINIMAL_TABLE}")[0][0]
    finally:
        stop_minimal_app(web)
        stack.start_workers()
    assert inserted >= result["requests"] - result["non2xx"], inserted
    return {k: result[k] for k in ("rps", "p50_ms", "p99_ms", "non2xx")}


def scenario_wait(stack: Stack) -> dict:
    reset_predictions()
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
    rounds, waits = [], []
    for _ in range(200):
        t0 = time.perf_counter()
        status, body = call(
            "POST", "/api/v1/predictions/", {"model": "iris", "input": SETOSA}, conn=conn
        )
        t1 = time.perf_counter()
        status, body = call(
            "GET", f"/api/v1/predictions/{json.loads(body)['id']}/?wait=5", conn=conn
        )
        t2 = time.perf_counter()
        assert json.loads(body)["status"] == "succeeded", body
        rounds.append((t2 - t0) * 1000)
        waits.append((t2 - t1) * 1000)
    conn.close()
    return {
        "wait_p50_ms": pct(waits, 50),
        "wait_p99_ms": pct(waits, 99),
        "round_p50_ms": pct(rounds, 50),
        "round_p99_ms": pct(rounds, 99),
    }


def pct(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def iris_rows(count: int) -> list[dict]:
    from sklearn.datasets import load_iris

    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    data = load_iris().data.tolist()
    return [dict(zip(names, data[i % len(data)], strict=True)) for i in range(count)]


def wait_for(prediction_id: str, seconds: float = 300) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        status, body = call("GET", f"/api/v1/predictions/{prediction_id}/?wait=30")
        document = json.loads(body)
        if document["status"] in ("succeeded", "failed", "cancelled"):
            return document
        if time.monotonic() > deadline:
            sys.exit(f"Prediction {prediction_id} did not finish")


def scenario_batch_json(stack: Stack) -> dict:
    reset_predictions()
    body = {"model": "iris", "inputs": iris_rows(10_000)}
    t0 = time.perf_counter()
    status, payload = call("POST", "/api/v1/predictions/", body)
    assert status == 202, payload[:300]
    document = wait_for(json.loads(payload)["id"])
    seconds = time.perf_counter() - t0
    assert document["status"] == "succeeded" and len(document["output"]) == 10_000
    return {"rows_per_s": 10_000 / seconds, "seconds": seconds}


def scenario_batch_csv(stack: Stack) -> dict:
    reset_predictions()
    rows = iris_rows(100_000)
    csv_path = OUT / "batch.csv"
    with open(csv_path, "w") as handle:
        handle.write(",".join(rows[0]) + "\n")
        for row in rows:
            handle.write(",".join(str(v) for v in row.values()) + "\n")
    result_path = OUT / "result.csv"
    t0 = time.perf_counter()
    upload = subprocess.run(
        [
            "curl",
            "-sS",
            "-X",
            "POST",
            "-H",
            f"Authorization: Bearer {TOKEN}",
            "-F",
            "model=iris",
            "-F",
            f"file=@{csv_path};type=text/csv",
            f"http://127.0.0.1:{PORT}/api/v1/predictions/",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    t_uploaded = time.perf_counter()
    prediction_id = json.loads(upload.stdout)["id"]
    wait_for(prediction_id)
    t_done = time.perf_counter()
    subprocess.run(
        [
            "curl",
            "-sS",
            "-o",
            str(result_path),
            "-H",
            f"Authorization: Bearer {TOKEN}",
            f"http://127.0.0.1:{PORT}/api/v1/predictions/{prediction_id}/result/?format=csv",
        ],
        check=True,
    )
    t_end = time.perf_counter()
    lines = sum(1 for _ in open(result_path)) - 1
    assert lines == 100_000, lines
    return {
        "rows_per_s": 100_000 / (t_end - t0),
        "seconds": t_end - t0,
        "upload_s": t_uploaded - t0,
        "run_s": t_done - t_uploaded,
        "download_s": t_end - t_done,
    }


def scenario_drain(stack: Stack) -> dict:
    stack.stop_workers()
    reset_predictions()
    submit_many(5000)
    t0 = time.perf_counter()
    stack.start_workers()
    wait_drained()
    seconds = time.perf_counter() - t0
    ok = sql("SELECT count(*) FROM predictions_prediction WHERE status='succeeded'")[0][0]
    assert ok == 5000, ok
    return {"per_s": 5000 / seconds, "seconds": seconds}


def scenario_drain_reference(stack: Stack) -> dict:
    """Same 5,000 predictions, drained by a bare RQ SimpleWorker, one prediction per job."""
    from rq import Queue

    stack.stop_workers()
    reset_predictions()
    ids = submit_many(5000)
    redis.Redis.from_url(REDIS_URL).delete("rq:queue:predictions")
    [(path, fmt, schema, labels)] = sql(
        "SELECT v.artifact, v.format, v.input_schema, v.labels FROM registry_alias a "
        "JOIN registry_modelversion v ON v.id = a.version_id JOIN registry_mlmodel m ON "
        "m.id = a.model_id WHERE m.name='iris' AND a.name='production'"
    )
    artifact = {
        "path": str(OUT / "media" / path),
        "format": fmt,
        "task": "classification",
        "input_schema": schema,
        "labels": labels,
    }
    connection = redis.Redis.from_url(REDIS_URL)
    queue = Queue("bench-reference", connection=connection)
    queue.empty()
    with connection.pipeline() as pipe:
        for pid in ids:
            queue.enqueue_call(
                "bench.reference.predict_one",
                args=(pid, SETOSA, artifact),
                result_ttl=0,
                pipeline=pipe,
            )
        pipe.execute()
    t0 = time.perf_counter()
    env = {**ENV, "BENCH_DSN": DSN, "PYTHONPATH": str(ROOT)}
    workers = [
        subprocess.Popen(
            [
                str(ROOT / ".venv/bin/rq"),
                "worker",
                "-w",
                "rq.worker.SimpleWorker",
                "--burst",
                "-u",
                REDIS_URL,
                "-q",
                "bench-reference",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(WORKERS)
    ]
    for worker in workers:
        worker.wait(timeout=600)
    seconds = time.perf_counter() - t0
    ok = sql("SELECT count(*) FROM predictions_prediction WHERE status='succeeded'")[0][0]
    reset_predictions()
    stack.start_workers()
    assert ok == 5000, ok
    return {"per_s": 5000 / seconds, "seconds": seconds}


def scenario_in_process(stack: Stack) -> dict:
    code = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from registry import runtimes, demo
spec = demo.DEMO_MODELS["iris"]
out = {}
rows, _, _ = demo.dataset("iris")
batch = [rows[i % len(rows)] for i in range(10_000)]
for fmt, path in json.loads(sys.argv[2]).items():
    p = runtimes.load_predictor(path, fmt, task="classification", input_schema=spec.input_schema,
                                labels=spec.labels)
    n = 2000
    t = time.perf_counter()
    for _ in range(n):
        p.predict([rows[0]])
    single = n / (time.perf_counter() - t)
    t = time.perf_counter()
    for _ in range(3):
        p.predict(batch)
    out[fmt] = {"single_rows_per_s": single, "batch_rows_per_s": 30_000 / (time.perf_counter() - t)}
print(json.dumps(out))
"""
    paths = dict(
        sql(
            "SELECT v.format, v.artifact FROM registry_modelversion v JOIN "
            "registry_mlmodel m ON m.id = v.model_id WHERE m.name='iris'"
        )
    )
    paths = {fmt: str(OUT / "media" / p) for fmt, p in paths.items()}
    done = subprocess.run(
        [PY, "-c", code, str(ROOT), json.dumps(paths)],
        capture_output=True,
        text=True,
        check=True,
        env=ENV,
    )
    return json.loads(done.stdout)


def scenario_evidence() -> dict:
    """Live quality and drift over 1,000,000 predictions with feedback per version
    (bench/evidence_1m.py, in a database of its own, dropped after)."""
    done = subprocess.run(
        [PY, str(ROOT / "bench" / "evidence_1m.py")],
        capture_output=True,
        text=True,
        env={**os.environ, "BENCH_EVIDENCE_DB": f"{DB}_evidence"},
    )
    if done.returncode:
        sys.exit(f"bench/evidence_1m.py failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def scenario_memory(stack: Stack) -> dict:
    stack.stop_workers()
    reset_predictions()
    stack.start_workers(1)
    time.sleep(1)
    idle = rss_mb(stack.workers[0].pid)
    for model, version in (("iris", 1), ("iris", 2), ("diabetes", 1), ("diabetes", 2)):
        body = {
            "model": model,
            "version": version,
            "input": SETOSA
            if model == "iris"
            else json.loads(
                sql(
                    "SELECT input_example::text FROM registry_modelversion v JOIN "
                    "registry_mlmodel m ON m.id=v.model_id WHERE m.name='diabetes' LIMIT 1"
                )[0][0]
            ),
        }
        status, payload = call("POST", "/api/v1/predictions/", body)
        wait_for(json.loads(payload)["id"])
    loaded = rss_mb(stack.workers[0].pid)
    stack.stop_workers()
    stack.start_workers()
    return {"idle_mb": idle, "loaded_mb": loaded}


# --- Report -------------------------------------------------------------------------------------


def summarize(runs: list[dict]) -> dict:
    keys = [k for k, v in runs[0].items() if isinstance(v, (int, float))]
    return {
        k: (statistics.median(r[k] for r in runs), min(r[k] for r in runs), max(r[k] for r in runs))
        for k in keys
    }


def fmt(triple, digits=0):
    median, low, high = triple
    return f"{median:,.{digits}f} ({low:,.{digits}f}-{high:,.{digits}f})"


def versions() -> dict:
    import django
    import numpy
    import onnxruntime
    import rq
    import sklearn

    server = sql("SHOW server_version")[0][0]
    redis_version = redis.Redis.from_url(REDIS_URL).info()["redis_version"]
    return {
        "Python": platform.python_version(),
        "Django": django.get_version(),
        "RQ": rq.__version__,
        "scikit-learn": sklearn.__version__,
        "onnxruntime": onnxruntime.__version__,
        "numpy": numpy.__version__,
        "PostgreSQL": server,
        "Redis": redis_version,
        "wrk": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split()[1]
        if shutil.which("wrk")
        else "-",
    }


def machine() -> str:
    mem = next(
        int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal")
    )
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in open("/proc/cpuinfo")
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = f"{mem / 1024 / 1024:.1f} GiB memory"
    return f"{os.cpu_count()} cores ({model}), {memory}, {platform.platform()}"


def write_report(results: dict, started: str, seconds: float) -> None:
    e2e, sub, wait_ = results["e2e"], results["submit"], results["wait"]
    ceil = results["submit_ceiling"]
    bj, bc, dr, ref = (
        results["batch_json"],
        results["batch_csv"],
        results["drain"],
        results["drain_reference"],
    )
    mem, inproc = results["memory"], results["in_process"]
    lines = [
        "# Benchmarks",
        "",
        f"Produced by `make bench` (`.venv/bin/python bench/run.py`) on {started}, "
        f"{RUNS} runs per scenario, {seconds / 60:.1f} min in all. Each figure is the median "
        "with min-max in brackets. Load comes from `wrk` (C, 2 threads) or a Python client; "
        "the stack is the project's own: gunicorn (`mlservice/gunicorn_conf.py`, "
        f"{WEB_PROCESSES} processes x gthread) and {WORKERS} `manage.py rqworker predictions` "
        "(PredictionWorker), on a private port, database and Redis db.",
        "",
        f"Machine: {machine()}.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()) + ".",
        "",
        "| Scenario | Figure | Reference | Ratio |",
        "| --- | --- | --- | --- |",
        f"| 1. Async end to end, {CLIENTS} clients, {E2E_SECONDS} s, 1-row iris | "
        f"{fmt(e2e['completed_per_s'])} completed predictions/s; failed {int(e2e['failed'][1])}"
        f"-{int(e2e['failed'][2])}, lost {max(0, int(e2e['lost'][2]))} (rows minus 2xx answers: "
        f"{-int(e2e['lost'][2])}, requests in flight when wrk stopped) | target "
        f"900/s (MLServer here: 920 req/s) | {e2e['completed_per_s'][0] / 900:.2f}x target |",
        f"| 2. Submit only (`POST /api/v1/predictions/`, {CLIENTS} clients, 10 s, workers "
        f"stopped) | {fmt(sub['rps'])} req/s; p50 {fmt(sub['p50_ms'], 1)} ms, p99 "
        f"{fmt(sub['p99_ms'], 1)} ms | target 1,200 req/s | {sub['rps'][0] / 1200:.2f}x |",
        f"| 2b. Framework ceiling: Django + DRF, the same POST answered with one INSERT only "
        f"(`bench/minimal_django.py`, same gunicorn settings) | {fmt(ceil['rps'])} req/s; p50 "
        f"{fmt(ceil['p50_ms'], 1)} ms | submit (2) is "
        f"{sub['rps'][0] / ceil['rps'][0]:.2f}x of it | - |",
        f"| 3. `?wait` latency, 1 client (GET after POST) | p50 {fmt(wait_['wait_p50_ms'], 1)}"
        f" ms, p99 {fmt(wait_['wait_p99_ms'], 1)} ms; POST+GET p50 "
        f"{fmt(wait_['round_p50_ms'], 1)} ms | target p50 <= 15 ms | "
        f"{wait_['wait_p50_ms'][0] / 15:.2f}x of budget |",
        f"| 4a. Batch, 10,000 rows as JSON, submit to result | {fmt(bj['rows_per_s'])} rows/s "
        f"| - | - |",
        f"| 4b. 100,000-row CSV upload -> CSV download | {fmt(bc['rows_per_s'])} rows/s "
        f"(upload {fmt(bc['upload_s'], 2)} s, run {fmt(bc['run_s'], 2)} s, download "
        f"{fmt(bc['download_s'], 2)} s) | target 200,000 rows/s | "
        f"{bc['rows_per_s'][0] / 200_000:.2f}x |",
        f"| 5. Drain 5,000 pending, workers started after | {fmt(dr['per_s'])} predictions/s "
        f"| bare RQ SimpleWorker, 1 prediction per job, same run: {fmt(ref['per_s'])}/s | "
        f"{dr['per_s'][0] / ref['per_s'][0]:.1f}x (target 5x) |",
    ]
    for fmt_name, figures in inproc.items():
        lines.append(
            f"| 6. In process, iris {fmt_name} | single row {fmt(figures['single_rows_per_s'])}"
            f"/s; 10k batch {fmt(figures['batch_rows_per_s'])} rows/s | - | - |"
        )
    lines += [
        f"| 7. Worker RSS | idle {fmt(mem['idle_mb'])} MB; with the 4 demo versions loaded "
        f"{fmt(mem['loaded_mb'])} MB | target <= 200 MB idle | "
        f"{mem['idle_mb'][0] / 200:.2f}x of budget |",
    ]
    if "evidence" in results:
        lines.append(_evidence_row(results["evidence"]))
    lines += [""]
    lines += peer_scenario.table(results.get("peers"), {"iris_lr": e2e["completed_per_s"]})
    (ROOT / "docs").mkdir(exist_ok=True)
    notes = ROOT / "bench" / "NOTES.md"
    extra = notes.read_text() if notes.exists() else ""
    (ROOT / "docs" / "BENCHMARKS.md").write_text("\n".join(lines) + "\n" + extra)
    (OUT / "results.json").write_text(
        json.dumps(
            {"results": results, "started": started, "seconds": seconds}, indent=2, default=str
        )
    )


def _evidence_row(figures: dict) -> str:
    def ms(name: str) -> str:
        return f"{figures[name]['median_ms']:,.0f} ms (max {figures[name]['max_ms']:,.0f})"

    return (
        f"| 8. Live quality and drift, 30-day window over {figures['rows_per_version']:,} "
        "predictions with feedback per version (`bench/evidence_1m.py`) | quality: classifier "
        f"{ms('quality_classifier')}, regressor {ms('quality_regressor')}; drift "
        f"{ms('drift_classifier')}; /metrics evidence gauges uncached {ms('metrics_gauges')}; "
        f"dashboard quality per day {ms('dashboard_quality_per_day')} | target < 1 s | "
        f"{figures['quality_classifier']['median_ms'] / 1000:.2f}x of budget |"
    )


def main() -> None:
    if os.environ.get("BENCH_REPORT_ONLY"):  # re-render docs/BENCHMARKS.md (e.g. after editing
        saved = json.loads((OUT / "results.json").read_text())  # bench/NOTES.md), same figures
        write_report(saved["results"], saved["started"], saved["seconds"])
        return
    if not shutil.which("wrk"):
        if os.geteuid() == 0:
            log("Installing wrk (Debian package)...")
            subprocess.run(
                ["apt-get", "install", "-y", "-qq", "wrk"], check=False, stdout=subprocess.DEVNULL
            )
        if not shutil.which("wrk"):
            sys.exit("bench needs wrk: sudo apt-get install wrk")
    started_at = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    t_start = time.time()
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    log(f"Fresh database {DB} and Redis db {REDIS_DB}...")
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB}"')
    redis.Redis.from_url(REDIS_URL).flushdb()
    manage("migrate", "--no-input", "-v", "0")
    manage("seed_demo_models")
    stack = Stack()
    only = os.environ.get("BENCH_ONLY")
    global TOKEN
    try:
        log("Starting gunicorn and workers...")
        stack.start_web()
        stack.start_workers()
        TOKEN = login()
        scenarios = [
            ("e2e", scenario_e2e),
            ("submit", scenario_submit),
            ("submit_ceiling", scenario_submit_ceiling),
            ("wait", scenario_wait),
            ("batch_json", scenario_batch_json),
            ("batch_csv", scenario_batch_csv),
            ("drain", scenario_drain),
            ("drain_reference", scenario_drain_reference),
            ("memory", scenario_memory),
        ]
        results = {}
        for name, scenario in scenarios:
            if only and name not in only.split(","):
                continue
            runs = []
            for i in range(RUNS):
                log(f"{name}: run {i + 1}/{RUNS}...")
                runs.append(scenario(stack))
                figures = {
                    k: round(v, 2) for k, v in runs[-1].items() if isinstance(v, (int, float))
                }
                log(f"{name}: {json.dumps(figures)}")
            results[name] = summarize(runs)
        if not only or "evidence" in only.split(","):
            log("evidence (1,000,000 predictions with feedback)...")
            results["evidence"] = scenario_evidence()
        log("in_process...")
        inproc = [scenario_in_process(stack) for _ in range(RUNS)]
        results["in_process"] = {f: summarize([r[f] for r in inproc]) for f in inproc[0]}
    finally:
        stack.stop()
    if peer_scenario.enabled() and (not only or "peers" in only.split(",")):
        results["peers"] = peer_scenario.run(RUNS, log)
    if not os.environ.get("BENCH_ONLY"):
        write_report(results, started_at, time.time() - t_start)
        log("Wrote docs/BENCHMARKS.md")
    else:
        print(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
