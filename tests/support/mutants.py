"""Load many randomly damaged copies of a booster file the way a worker does, in one process.

Run as `python -m tests.support.mutants PATH FORMAT N_FEATURES COUNT SEED`: each mutant is
loaded with `load_predictor` and, if accepted, predicts random rows. A mutant that crashes or
hangs the process (a segfault, an abort, an endless loop) shows as this process's exit status
or timeout; a refusal is the expected outcome. Prints one line per mutant.
"""

import json
import random
import sys
import tempfile
from pathlib import Path

import numpy as np

from registry.runtimes import ArtifactError, load_predictor

_TOKENS = ("-1", "0", "1", "2", "-2", "1000000000", "-1000000000", "nan", "inf", "", "x", "1e308")


def _mutate_text(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    index = rng.randrange(len(lines))
    action = rng.randrange(4)
    if action == 0:  # truncate
        return text[: rng.randrange(len(text))]
    if action == 1:  # drop or repeat a line
        del lines[index]
        if rng.random() < 0.5:
            lines.insert(rng.randrange(len(lines)), lines[rng.randrange(len(lines))])
        return "\n".join(lines)
    key, sep, value = lines[index].partition("=")
    tokens = value.split(" ")
    spot = rng.randrange(len(tokens))
    tokens[spot] = rng.choice(_TOKENS) if action == 2 else str(rng.randint(-40, 40))
    lines[index] = key + sep + " ".join(tokens)
    return "\n".join(lines)


def _mutate_json(document: dict, rng: random.Random) -> dict:
    trees = document["learner"]["gradient_booster"]["model"]["trees"]
    tree = rng.choice(trees)
    key = rng.choice([k for k, v in tree.items() if isinstance(v, list) and v])
    values = tree[key]
    spot = rng.randrange(len(values))
    action = rng.randrange(3)
    if action == 0:
        values[spot] = rng.randint(-40, 40)
    elif action == 1:
        values[spot] = rng.choice([2**31 - 1, -(2**31), 10**9, 1.5, float("nan")])
    else:
        del values[spot]
    return document


def main(path: str, fmt: str, n_features: int, count: int, seed: int) -> None:
    rng = random.Random(seed)
    schema = [{"name": f"f{i}", "type": "number"} for i in range(n_features)]
    rows = np.random.default_rng(seed).normal(scale=1000, size=(64, n_features))
    data = Path(path).read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "mutant"
        for number in range(count):
            if fmt == "lightgbm":
                target.write_text(_mutate_text(data.decode(), rng))
            else:
                mutant = _mutate_json(json.loads(data), rng)
                target.write_text(json.dumps(mutant))
            print(number, end=" ", flush=True)
            try:
                predictor = load_predictor(
                    target, fmt, task="regression", input_schema=schema, labels=None
                )
            except ArtifactError:
                print("refused", flush=True)
                continue
            try:
                predictor.predict_matrix(rows)
            except Exception as exc:  # a clean error is fine; only a crash or a hang is not
                print(f"loaded, predict raised {type(exc).__name__}", flush=True)
                continue
            print("loaded and predicted", flush=True)


if __name__ == "__main__":
    path, fmt, n_features, count, seed = sys.argv[1:]
    main(path, fmt, int(n_features), int(count), int(seed))
