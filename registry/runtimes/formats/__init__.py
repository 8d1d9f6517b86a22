"""The artifact formats the registry accepts, one module each, listed once here (as Django lists
its database backends). Adding a format: a module in this package whose `FORMAT` says how its
files start and are recognised, how one loads into a `Predictor`, whether it is a pickle, and
how it converts to ONNX if it can, whether it is a forecaster itself; then its entry below (and a
migration for the new choice)."""

from registry.runtimes.base import Format
from registry.runtimes.formats import joblib, lightgbm, onnx, prophet, skops, xgboost

# In the order the API documents them.
FORMATS: dict[str, Format] = {
    entry.name: entry
    for entry in (
        skops.FORMAT,
        onnx.FORMAT,
        lightgbm.FORMAT,
        xgboost.FORMAT,
        prophet.FORMAT,
        joblib.FORMAT,
    )
}
