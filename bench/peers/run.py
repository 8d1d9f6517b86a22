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
import subprocess
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
    """{peer: figures} for the bench model `key` on `rows` (default: its whole dataset).

    Figures: req/s (median, min, max over `runs`), p50 and p99 in ms (medians), the setting
    that gave them (the best of the peer's settings) and every setting's own figures; or only
    a status saying why there are none ("not installed: ...", "failed: ...").
    """
    rows = rows or models.rows(key)
    return {peer: _measure_peer(peer, key, rows, duration, runs, log) for peer in peers}


def _measure_peer(peer: str, key: str, rows, duration: int, runs: int, log) -> dict:
    try:
        install = venvs.ensure(peer, log=log)
    except venvs.NotInstalled as error:
        log(f"{peer}: not installed: {error}")
        return {"status": f"not installed: {error}"}
    exported, settings = {}, {}
    for workers in PEERS[peer].worker_counts:
        server = PEERS[peer](key, workers)
        try:
            if exported:
                server.exported = exported
            else:
                server.export()
                exported = server.exported
            settings[server.settings_text()] = _measure_server(server, rows, duration, runs, log)
        except (PeerFailed, OSError, ValueError, KeyError, subprocess.SubprocessError) as error:
            log(f"{peer} {key} {server.settings_text()}: failed: {error}")
            settings[server.settings_text()] = {"status": f"failed: {error}"}
        finally:
            server.stop()
    measured = {name: f for name, f in settings.items() if f.get("status") == "ok"}
    if not measured:
        return {"status": next(iter(settings.values()))["status"], "settings": settings}
    best = max(measured, key=lambda name: measured[name]["rps"])
    return {
        **measured[best],
        "setting": best,
        "settings": settings,
        "install_s": install["seconds"],
        "versions": install["versions"],
    }


def _measure_server(server, rows, duration: int, runs: int, log) -> dict:
    startup = server.start()
    server.check()
    bodies = [server.body(row) for row in rows]
    load.post_bodies(server.url, bodies, WARMUP_SECONDS)
    results = []
    for i in range(runs):
        figures = load.post_bodies(server.url, bodies, duration)
        del figures["raw"]
        log(f"{server.name} {server.key} {server.settings_text()} run {i + 1}/{runs}: {figures}")
        results.append(figures)
    return {
        "status": "ok",
        "rps": statistics.median(r["rps"] for r in results),
        "rps_min": min(r["rps"] for r in results),
        "rps_max": max(r["rps"] for r in results),
        "p50_ms": statistics.median(r["p50_ms"] for r in results),
        "p99_ms": statistics.median(r["p99_ms"] for r in results),
        "non2xx": sum(r["non2xx"] for r in results),
        "socket_errors": sum(r["socket_errors"] for r in results),
        "startup_s": round(startup, 1),
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
