"""Drift of a version's inputs, written once: the reference histograms of each feature, and how
recent inputs are compared with them. No Django here beyond settings.

- A numeric feature (number or integer without an enum) keeps the cut points of its reference
  quantiles (DRIFT_BINS bins, the outer two open-ended), the share of reference values in each
  bin and a sample of the values; recent inputs are compared by the population stability index
  over those bins and by the two-sample Kolmogorov-Smirnov test against the sample.
- An enum or boolean feature keeps the share of each value; recent inputs are compared by the
  PSI over the values (those the reference never had counted together) and by the share of
  values the reference never had.
"""

import numpy as np
from django.conf import settings
from scipy import stats

from registry import features

NUMERIC, ENUM = "numeric", "enum"
# Shares are floored here in the PSI, so that a bin empty on one side gives a large but
# finite index.
MIN_SHARE = 1e-4


def kind(feature: dict) -> str:
    return ENUM if "enum" in feature or features.kind_of(feature) == features.BOOLEAN else NUMERIC


def profile(matrix: np.ndarray, schema: list[dict], seed: int = 0) -> list[dict]:
    """Per feature (schema order), the reference histogram of the matrix's column."""
    rng = np.random.default_rng(seed)
    return [
        _numeric_profile(matrix[:, i], feature["name"], rng)
        if kind(feature) == NUMERIC
        else _enum_profile(matrix[:, i], feature["name"])
        for i, feature in enumerate(schema)
    ]


def _numeric_profile(column: np.ndarray, name: str, rng) -> dict:
    bins = settings.DRIFT_BINS
    edges = np.unique(np.quantile(column, np.linspace(0, 1, bins + 1)[1:-1]))
    size = min(len(column), settings.DRIFT_REFERENCE_SAMPLE)
    sample = np.sort(rng.choice(column, size=size, replace=False))
    return {
        "name": name,
        "kind": NUMERIC,
        "edges": edges.tolist(),
        "shares": _bin_shares(column, edges).tolist(),
        "mean": float(column.mean()),
        "sample": sample.tolist(),
    }


def _enum_profile(column: np.ndarray, name: str) -> dict:
    values, counts = np.unique(column, return_counts=True)
    return {
        "name": name,
        "kind": ENUM,
        "values": values.tolist(),
        "shares": (counts / len(column)).tolist(),
    }


def _bin_shares(column: np.ndarray, edges: np.ndarray) -> np.ndarray:
    # Bin i holds edges[i-1] <= x < edges[i]; the first and last are open-ended.
    counts = np.bincount(np.searchsorted(edges, column, side="right"), minlength=len(edges) + 1)
    return counts / max(len(column), 1)


def psi(expected, actual) -> float:
    """The population stability index of `actual` shares against `expected` shares."""
    e = np.maximum(np.asarray(expected, dtype=np.float64), MIN_SHARE)
    a = np.maximum(np.asarray(actual, dtype=np.float64), MIN_SHARE)
    return float(np.sum((a - e) * np.log(a / e)))


def compare(reference: list[dict], matrix: np.ndarray) -> list[dict]:
    """Per feature of the reference, how the matrix's column (recent inputs, schema order)
    compares with it, and whether it is over its threshold (`flagged`)."""
    enough = len(matrix) >= settings.DRIFT_MIN_ROWS
    results = []
    for i, entry in enumerate(reference):
        column = matrix[:, i]
        if not enough:
            results.append({"feature": entry["name"], "kind": entry["kind"], "flagged": False})
            continue
        compared = _numeric(entry, column) if entry["kind"] == NUMERIC else _enum(entry, column)
        results.append({"feature": entry["name"], "kind": entry["kind"], **compared})
    return results


def _numeric(entry: dict, column: np.ndarray) -> dict:
    index = psi(entry["shares"], _bin_shares(column, np.asarray(entry["edges"])))
    # The asymptotic p-value: the exact one costs far more at these sample sizes.
    test = stats.ks_2samp(np.asarray(entry["sample"]), column, method="asymp")
    return {
        "psi": index,
        "ks_statistic": float(test.statistic),
        "ks_pvalue": float(test.pvalue),
        "reference_mean": entry["mean"],
        "current_mean": float(column.mean()),
        "flagged": index > settings.DRIFT_PSI_THRESHOLD
        or float(test.statistic) > settings.DRIFT_KS_THRESHOLD,
    }


def _enum(entry: dict, column: np.ndarray) -> dict:
    known = np.asarray(entry["values"], dtype=np.float64)
    seen = np.isin(column, known)
    unseen = 1.0 - float(seen.mean())
    counts = np.array([np.count_nonzero(column == value) for value in known]) / len(column)
    index = psi([*entry["shares"], 0.0], [*counts.tolist(), unseen])
    return {
        "psi": index,
        "unseen_share": unseen,
        "flagged": index > settings.DRIFT_PSI_THRESHOLD or unseen > settings.DRIFT_UNSEEN_THRESHOLD,
    }
