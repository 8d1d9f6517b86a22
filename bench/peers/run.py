#!/usr/bin/env python
"""Measure the peers (Seldon MLServer, MLflow's scoring server) on one bench model.

    .venv/bin/python bench/peers/run.py --model rf300 --duration 10 [--peer mlserver] [--runs 3]

prints one JSON line per peer. Each peer is installed into its own venv on first use, gets the
model trained and saved in its own format, is started on loopback, checked against the model's
own labels, warmed up, then loaded by wrk with 16 connections, one real row per request, and
stopped. A peer that cannot be installed or started is reported with the reason, never raised,
so `make bench` goes on without it.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the `peers` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from peers import load, models, venvs  # noqa: E402
from peers.servers import PEERS, PeerFailed  # noqa: E402

WARMUP_SECONDS = 2


def measure(
    key: str,
    rows: list[list[float]] | None = None,
    duration: int = 10,
    runs: int = 1,
    peers: tuple[str, ...] = tuple(PEERS),
    log=print,
) -> dict:
    """{peer: figures} for `key`: req/s, p50 and p99 in ms (medians over `runs`), or a status
    that says why there is no figure ("not installed: ...", "failed: ...")."""
    rows = rows or models.rows(key)
    return {peer: _measure_one(peer, key, rows, duration, runs, log) for peer in peers}


def _measure_one(peer: str, key: str, rows, duration: int, runs: int, log) -> dict:
    try:
        install = venvs.ensure(peer, log=log)
    except venvs.NotInstalled as error:
        log(f"{peer}: not installed: {error}")
        return {"status": f"not installed: {error}"}
    server = PEERS[peer](key)
    try:
        server.export()
        startup = server.start()
        server.check(rows)
        bodies = [server.body(row) for row in rows]
        load.post_bodies(server.url, bodies, WARMUP_SECONDS)
        results = []
        for i in range(runs):
            result = load.post_bodies(server.url, bodies, duration)
            figures = {k: v for k, v in result.items() if k != "raw"}
            log(f"{peer} {key} run {i + 1}/{runs}: {json.dumps(figures)}")
            results.append(figures)
    except (PeerFailed, OSError, ValueError, KeyError) as error:
        log(f"{peer} {key}: failed: {error}")
        return {"status": f"failed: {error}"}
    finally:
        server.stop()
    return {
        "status": "ok",
        **{k: statistics.median(r[k] for r in results) for k in ("rps", "p50_ms", "p99_ms")},
        "min_rps": min(r["rps"] for r in results),
        "max_rps": max(r["rps"] for r in results),
        "non2xx": sum(r["non2xx"] for r in results),
        "socket_errors": sum(r["socket_errors"] for r in results),
        "startup_s": round(startup, 1),
        "install_s": install["seconds"],
        "versions": install["versions"],
        "settings": server.settings_text(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=list(models.MODELS), required=True)
    parser.add_argument("--duration", type=int, default=10, help="seconds per run")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--peer", choices=list(PEERS), action="append")
    args = parser.parse_args()

    def log(message):
        print(f"[peers {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    peers = tuple(args.peer or PEERS)
    for peer, figures in measure(args.model, None, args.duration, args.runs, peers, log).items():
        print(json.dumps({"peer": peer, "model": args.model, **figures}), flush=True)


if __name__ == "__main__":
    main()
