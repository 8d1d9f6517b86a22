#!/usr/bin/env python
"""What a skops "zip bomb" costs the process that validates it: a file of a few hundred
kilobytes whose one array inflates to MEGABYTES (default 400) of zeros.

    .venv/bin/python bench/probe_skops_bomb.py [MEGABYTES]

Prints the file's size, the seconds and peak memory (RSS) of `validate_artifact` with its
default limits, and its outcome. Figures are in docs/RELIABILITY.md.
"""

import os
import resource
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import skops.io  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from registry import demo  # noqa: E402
from registry.runtimes import ArtifactError, validate_artifact  # noqa: E402


def bomb(path: Path, megabytes: int) -> None:
    _, X, y = demo.dataset("iris")
    model = LogisticRegression(max_iter=1000).fit(X, y)
    model.padding_ = np.zeros(megabytes * 1024 * 1024 // 8)  # an attribute skops keeps
    skops.io.dump(model, path, compression=zipfile.ZIP_DEFLATED, compresslevel=9)


def main() -> None:
    megabytes = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    path = Path(tempfile.mkdtemp()) / "bomb.skops"
    bomb(path, megabytes)
    spec = demo.DEMO_MODELS["iris"]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    try:
        validate_artifact(
            path,
            "skops",
            task=spec.task,
            input_schema=spec.input_schema,
            labels=spec.labels,
            input_example=spec.input_example,
            max_bytes=200 * 1024 * 1024,
        )
        outcome = "accepted"
    except ArtifactError as exc:
        outcome = f"refused: {exc.code}: {exc.message}"
    seconds = time.perf_counter() - start
    grew = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    size = path.stat().st_size / 1024
    print(
        f"{size:.0f} KB file inflating to {megabytes} MB: {seconds:.2f} s, peak RSS +{grew:.0f} MB"
    )
    print(outcome)


if __name__ == "__main__":
    main()
