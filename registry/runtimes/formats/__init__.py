"""The artifact formats the registry accepts, one module each, listed once here (as Django lists
its database backends). Adding a format: a module in this package with `MAGIC` (how its files
start, `()` for any), `sniff` (whether a file really is one), `load` (the file -> a `Predictor`)
and, if it converts to ONNX, `to_onnx`; then its row below, with its name, label, stored-file
suffix and flags (a pickle, a forecaster itself), and a migration for the new choice."""

from types import ModuleType

from registry.runtimes.base import Format
from registry.runtimes.formats import joblib, lightgbm, onnx, prophet, skops, xgboost


def _format(module: ModuleType, name: str, label: str, suffix: str, **flags) -> Format:
    return Format(
        name=name,
        label=label,
        suffix=suffix,
        magic=module.MAGIC,
        sniff=module.sniff,
        load=module.load,
        to_onnx=getattr(module, "to_onnx", None),
        **flags,
    )


# In the order the API documents them.
FORMATS: dict[str, Format] = {
    entry.name: entry
    for entry in (
        _format(skops, "skops", "skops (scikit-learn)", ".skops"),
        _format(onnx, "onnx", "ONNX", ".onnx"),
        _format(lightgbm, "lightgbm", "LightGBM text model", ".lightgbm.txt"),
        _format(xgboost, "xgboost", "XGBoost JSON or UBJSON model", ".xgboost"),
        _format(prophet, "prophet", "Prophet JSON model", ".prophet.json", forecaster=True),
        _format(
            joblib,
            "joblib",
            "joblib / pickle (staff only, sha256 required)",
            ".joblib",
            pickle=True,
        ),
    )
}
