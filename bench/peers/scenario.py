"""`make bench`'s peer scenario: every bench model on every peer, and the table ours / theirs.

Environment: BENCH_PEERS=0 skips it; BENCH_PEER_MODELS (comma-separated keys of
peers.models.MODELS) and BENCH_PEER_SECONDS (per run) narrow it.
"""

import os

from peers import models
from peers.run import measure
from peers.servers import PEERS

MODEL_KEYS = os.environ.get("BENCH_PEER_MODELS", ",".join(models.MODELS)).split(",")
SECONDS = int(os.environ.get("BENCH_PEER_SECONDS", "10"))
TITLES = {"mlserver": "Seldon MLServer", "mlflow": "MLflow `models serve`"}


def enabled() -> bool:
    return os.environ.get("BENCH_PEERS", "1") != "0"


def run(runs: int, log) -> dict:
    """{model key: {peer: figures}} (see peers.run.measure)."""
    results = {}
    for key in MODEL_KEYS:
        log(f"peers: {key}...")
        results[key] = measure(key, duration=SECONDS, runs=runs, log=log)
    return {"seconds": SECONDS, "runs": runs, "models": results}


def table(results: dict | None, ours: dict[str, tuple]) -> list[str]:
    """Markdown lines: each model's figure on each peer and the ratio ours / theirs.

    `ours` maps a model key to our end-to-end rate as (median, min, max); models without
    one show "-".
    """
    if not results:
        return []
    lines = [
        "## Peers: the same models and rows on Seldon MLServer and MLflow",
        "",
        f"Same run, same machine, after the project's stack was stopped. Each peer runs from its "
        f"own venv under `bench/.peers/` (`bench/peers/`), is checked against the model's own "
        f"labels, then loaded by wrk as above (16 connections, one real dataset row per "
        f"request, {results['runs']} x {results['seconds']} s after a 2 s warm-up). Each "
        "process gets one inference thread (`OMP_NUM_THREADS=1`, as the project's runtimes "
        "use), and each peer counts with its best setting: MLServer parallel_workers 0 or 2 "
        "(both measured, V2 inference, its sklearn / lightgbm / xgboost runtime), MLflow 2 "
        "uvicorn workers (pyfunc; a tensor body for scikit-learn, `dataframe_split` for the "
        "boosters). Ours is the end-to-end rate of scenario 1 for the same model.",
        "",
        "| Model | Ours, end to end | "
        + " | ".join(f"{TITLES[peer]} | Ours / it" for peer in PEERS)
        + " |",
        "| --- | --- | " + " | ".join("--- | ---" for _ in PEERS) + " |",
    ]
    for key, by_peer in results["models"].items():
        mine = ours.get(key)
        cells = [models.MODELS[key].description, f"{_triple(mine)}/s" if mine else "-"]
        for peer in PEERS:
            figures = by_peer.get(peer, {"status": "not measured"})
            cells.append(_peer_cell(figures))
            ok = figures.get("status") == "ok"
            cells.append(f"{mine[0] / figures['rps']:.2f}x" if mine and ok else "-")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", _installs(results), ""]
    return lines


def _triple(values: tuple) -> str:
    median, low, high = values
    return f"{median:,.0f} ({low:,.0f}-{high:,.0f})"


def _peer_cell(figures: dict) -> str:
    if figures.get("status") != "ok":
        return figures.get("status", "-")
    rate = _triple((figures["rps"], figures["rps_min"], figures["rps_max"]))
    others = [
        f"{name} {f['rps']:,.0f}" if f.get("status") == "ok" else f"{name}: {f['status']}"
        for name, f in figures["settings"].items()
        if name != figures["setting"]
    ]
    cell = (
        f"{rate} req/s; p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms "
        f"({figures['setting']}"
    )
    errors = figures["non2xx"] + figures["socket_errors"]
    return cell + "".join(f"; {o}" for o in others) + (f"; {errors} errors" if errors else "") + ")"


def _installs(results: dict) -> str:
    notes = []
    for peer in PEERS:
        done = [
            by_peer[peer]
            for by_peer in results["models"].values()
            if by_peer.get(peer, {}).get("status") == "ok"
        ]
        if done:
            versions = ", ".join(f"{k} {v}" for k, v in done[0]["versions"].items())
            seconds = done[0]["install_s"]
            notes.append(f"{TITLES[peer]}: {versions}; venv installed in {seconds:.0f} s")
    return "Peers' versions: " + ("; ".join(notes) if notes else "none installed") + "."
