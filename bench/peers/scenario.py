"""`make bench`'s peer scenario: every bench model on every peer, and the table ours / theirs.

Environment: BENCH_PEERS=0 skips it; BENCH_PEER_MODELS (comma-separated keys of
peers.models.MODELS) and BENCH_PEER_SECONDS (per run) narrow it.
"""

import os

from peers import models
from peers.run import measure
from peers.servers import PEERS

MODEL_KEYS = os.environ.get("BENCH_PEER_MODELS", ",".join(models.MODELS)).split(",")
FAST = os.environ.get("BENCH_FAST", "") not in ("", "0")  # make bench-fast: shorter loads
SECONDS = int(os.environ.get("BENCH_PEER_SECONDS", "5" if FAST else "10"))
TITLES = {"mlserver": "Seldon MLServer", "mlflow": "MLflow `models serve`"}
SHORT = {"mlserver": "MLServer", "mlflow": "MLflow"}


def enabled() -> bool:
    return os.environ.get("BENCH_PEERS", "1") != "0"


def run(runs: int, log) -> dict:
    """{model key: {peer: figures}} (see peers.run.measure)."""
    results = {}
    for key in MODEL_KEYS:
        log(f"peers: {key}...")
        results[key] = measure(key, duration=SECONDS, runs=runs, log=log)
    return {"seconds": SECONDS, "runs": runs, "models": results}


# The serving goals, end to end: ours / the peer's req/s at least this, per model and peer.
GOALS = {
    "rf300": {"mlserver": 7, "mlflow": 20},
    "lgbm300": {"mlserver": 1},
    "xgb300": {"mlserver": 1},
}
CSV_GOAL = 150_000  # rows/s, the 100,000-row CSV on the boosted models


def table(
    results: dict | None,
    ours: dict[str, tuple],
    csv: dict[str, tuple] | None = None,
    served: dict[str, dict] | None = None,
) -> list[str]:
    """Markdown lines: each model's figure on each peer and the ratio ours / theirs, then our
    100,000-row CSV on the models that have one.

    `ours` maps a model key to our end-to-end rate as (median, min, max), `csv` to our CSV
    rows/s, `served` to what serves it here (`runtime`, `twin`); `results` is `run()`'s, or None
    when the peers were not run. Models without a figure show "-".
    """
    if not ours and not results:
        return []
    by_model = (results or {}).get("models", {})
    keys = [key for key in models.MODELS if key in ours or key in by_model]
    served = served or {}
    lines = [
        "## Peers: the same models and rows on Seldon MLServer and MLflow",
        "",
        _intro(results),
        "",
        "| Model; what serves it here | Ours, end to end, completed/s | "
        + " | ".join(f"{TITLES[peer]} | Ours / it" for peer in PEERS)
        + " | Goal |",
        "| --- | --- | " + " | ".join("--- | ---" for _ in PEERS) + " | --- |",
    ]
    for key in keys:
        lines.append(_model_row(key, ours.get(key), by_model.get(key), served.get(key)))
    lines += ["", _installs(results) if results else "Peers: not run (BENCH_PEERS=0).", ""]
    return lines + _csv_table(csv or {}, served)


def _intro(results: dict | None) -> str:
    timing = (
        f"{results['runs']} x {results['seconds']} s after a 2 s warm-up" if results else "not run"
    )
    return (
        "Same run, same machine; the peers after the project's stack was stopped. Each peer "
        "runs from its own venv under `bench/.peers/` (`bench/peers/`), is checked against the "
        "model's own labels, then loaded by wrk as above (16 connections, one real dataset row "
        f"per request, {timing}). Each process gets one inference thread "
        "(`OMP_NUM_THREADS=1`, as the project's runtimes use), and each peer counts with its "
        "best setting: MLServer parallel_workers 0 or 2 (both measured, V2 inference, its "
        "sklearn / lightgbm / xgboost runtime), MLflow 2 uvicorn workers (pyfunc; a tensor "
        "body for scikit-learn, `dataframe_split` for the boosters). Ours: the same model "
        "trained with the same seed, registered in our format (skops for scikit-learn, the "
        "boosters' own files) through `register_model`, the same rows posted one per request by "
        "the same wrk client to `POST /api/v1/predictions/` (async), counted when completed "
        "(first submit to last completion, from the database)."
    )


def _model_row(key: str, mine, by_peer: dict | None, served: dict | None) -> str:
    name = models.MODELS[key].description
    cells = [f"{name}; {served['runtime']}" if served else name]
    cells.append(f"{_triple(mine)}/s" if mine else "-")
    goals = []
    for peer in PEERS:
        figures = (by_peer or {}).get(peer, {"status": "not run"})
        ok = figures.get("status") == "ok"
        ratio = mine[0] / figures["rps"] if mine and ok else None
        cells += [_peer_cell(figures), f"{ratio:.2f}x" if ratio is not None else "-"]
        goal = GOALS.get(key, {}).get(peer)
        if goal is not None:
            verdict = "-" if ratio is None else ("met" if ratio >= goal else "missed")
            goals.append(f">= {goal}x {SHORT[peer]}: {verdict}")
    cells.append("; ".join(goals) or "-")
    return "| " + " | ".join(cells) + " |"


def _csv_table(csv: dict[str, tuple], served: dict[str, dict]) -> list[str]:
    if not csv:
        return []
    lines = [
        "Our 100,000-row CSV on the boosted models (upload -> run -> CSV download, as "
        f"scenario 4b; goal {CSV_GOAL:,} rows/s):",
        "",
        "| Model; what serves it here | Rows/s | Ratio to goal |",
        "| --- | --- | --- |",
    ]
    for key, figure in csv.items():
        name = models.MODELS[key].description
        label = f"{name}; {served[key]['runtime']}" if key in served else name
        lines.append(f"| {label} | {_triple(figure)} | {figure[0] / CSV_GOAL:.2f}x |")
    return lines + [""]


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
