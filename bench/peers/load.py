"""The load client of `make bench`: wrk (2 threads, 16 connections by default), bounded in time.

`wrk()` runs it with a Lua script and parses its report; `post_bodies()` sends the JSON bodies
of a list in turn (bodies.lua), one per request, so a run sends real rows, not one constant.
"""

import os
import re
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
BODIES_SCRIPT = HERE / "bodies.lua"
CLIENTS = 16


def wrk(
    url: str, script: Path, seconds: int, clients: int = CLIENTS, env: dict | None = None
) -> dict:
    """Requests/s, p50/p99 latency in ms and the count of non-2xx answers of one wrk run."""
    done = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{clients}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    )
    return parse(done.stdout)


def parse(text: str) -> dict:
    def ms(label):
        match = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", text)
        value, unit = float(match[1]), match[2]
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    return {
        "requests": int(re.search(r"(\d+) requests in", text)[1]),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text)[1]),
        "p50_ms": ms("50"),
        "p99_ms": ms("99"),
        "non2xx": int(non2xx[1]) if non2xx else 0,
        "socket_errors": sum(int(n) for n in errors.groups()) if errors else 0,
        "raw": text,
    }


def post_bodies(
    url: str, bodies: list[str], seconds: int, clients: int = CLIENTS, token: str = ""
) -> dict:
    """wrk POSTing `bodies` (JSON texts) in turn to `url`."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as handle:
        handle.write("\n".join(bodies) + "\n")
    try:
        return wrk(
            url, BODIES_SCRIPT, seconds, clients, env={"BODIES": handle.name, "TOKEN": token}
        )
    finally:
        os.unlink(handle.name)
