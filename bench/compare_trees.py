#!/usr/bin/env python
"""Measure two trees of the project with the same client, interleaved, in one run.

    .venv/bin/python bench/compare_trees.py /work/wt-before [AFTER_TREE] [--rounds 2]

Each round runs bench/run.py (this tree's client and scenarios) once against BEFORE's stack
and once against AFTER's (default: this tree), so before, after, before, after: the machine's
drift over the run falls on both alike. Each tree is served from its own directory with the
same venv (BENCH_TREE), on a fresh database. The scenarios are those of issue 13's
before/after check (BENCH_COMPARE_ONLY, default submit, end to end, `?wait`, the 10k-row JSON
batch, the 100k-row CSV and drain); other BENCH_* variables pass through (BENCH_E2E_SECONDS).
Prints a table of both and writes it to bench/COMPARE.md and into docs/BENCHMARKS.md.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
SECTION = ROOT / "bench" / "COMPARE.md"
BEGIN, END = "<!-- compare_trees -->", "<!-- /compare_trees -->"
ONLY = os.environ.get("BENCH_COMPARE_ONLY", "e2e,submit,wait,batch_json,batch_csv,drain")

# (scenario, figure, what it is, unit, higher is better)
FIGURES = [
    ("e2e", "completed_per_s", "End to end, 16 clients, 1-row iris", "completed/s", True),
    ("submit", "rps", "Submit only, 16 clients, workers stopped", "req/s", True),
    ("wait", "wait_p50_ms", "`?wait` p50, 1 client (GET after POST)", "ms", False),
    ("wait", "round_p50_ms", "POST + `?wait` GET p50, 1 client", "ms", False),
    ("batch_json", "rows_per_s", "Batch, 10,000 rows as JSON", "rows/s", True),
    ("batch_csv", "rows_per_s", "100,000-row CSV upload -> CSV download", "rows/s", True),
    ("drain", "per_s", "Drain 5,000 pending", "predictions/s", True),
]


def log(message: str) -> None:
    print(f"[compare {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run_once(tree: Path) -> dict:
    """bench/run.py's selected scenarios, one run each, against `tree`'s stack."""
    env = {**os.environ, "BENCH_TREE": str(tree), "BENCH_ONLY": ONLY, "BENCH_RUNS": "1"}
    env["BENCH_PEERS"] = "0"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py")], env=env, capture_output=True, text=True
    )
    if done.returncode:
        sys.exit(
            f"bench/run.py against {tree} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    results = json.loads((OUT / "results-only.json").read_text())
    # One run each: the median of a single run is the run's figure.
    return {name: {k: v[0] for k, v in figures.items()} for name, figures in results.items()
            if isinstance(figures, dict) and name in ONLY.split(",")}  # fmt: skip


def revision(tree: Path) -> str:
    done = subprocess.run(
        ["git", "-C", str(tree), "log", "-1", "--format=%h %s"], capture_output=True, text=True
    )
    return done.stdout.strip()[:90]


def report(trees: dict[str, Path], runs: dict[str, list[dict]], command: str, loads) -> str:
    lines = [
        "## Before and after one change, measured in one run (`bench/compare_trees.py`)",
        "",
        f"`{command}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
        f"{len(runs['before'])} rounds, each running bench/run.py's scenarios once against "
        "each tree, before then after, with the same client, venv and machine. Load average "
        f"(1 min) before each run: {', '.join(f'{x:.1f}' for x in loads)}.",
        "",
        *(f"- {label}: `{trees[label]}` ({revision(trees[label])})" for label in trees),
        "",
        "| Scenario | Before (each run) | After (each run) | After / before (medians) "
        "| Within 10% |",
        "| --- | --- | --- | --- | --- |",
    ]
    for scenario, key, title, unit, higher in FIGURES:
        values = {label: [r[scenario][key] for r in runs[label] if scenario in r] for label in runs}
        if not all(values.values()):
            continue
        before, after = (statistics.median(values[label]) for label in ("before", "after"))
        ratio = after / before
        change = ratio - 1 if higher else 1 / ratio - 1  # positive: after is better
        cells = [
            f"{title} ({unit})",
            *(" / ".join(_number(v) for v in values[label]) for label in ("before", "after")),
            f"{ratio:.2f}x",
            "yes" if change >= -0.10 else f"no ({change:+.0%})",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _number(value: float) -> str:
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def write(section: str) -> None:
    SECTION.write_text(section)
    path = ROOT / "docs" / "BENCHMARKS.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{BEGIN}\n{section}{END}\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path, nargs="?", default=ROOT)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    runs: dict[str, list[dict]] = {"before": [], "after": []}
    loads = []
    for round_ in range(args.rounds):
        for label, tree in trees.items():
            loads.append(os.getloadavg()[0])
            log(f"round {round_ + 1}/{args.rounds}: {label} ({tree}), load {loads[-1]:.1f}...")
            runs[label].append(run_once(tree))
            log(f"{label}: {json.dumps(runs[label][-1])}")
    command = " ".join(["bench/compare_trees.py", *sys.argv[1:]])
    section = report(trees, runs, command, loads)
    print(section)
    write(section)
    (OUT / "compare.json").write_text(json.dumps({"trees": str(trees), "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
