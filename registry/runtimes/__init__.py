"""One predictor interface over the artifact formats the registry accepts.

`base` holds the Predictor interface and the outputs' shape; `formats` the table of formats, one
module each (skops and joblib hold scikit-learn estimators, run by `sklearn`; onnx runs in
onnxruntime; lightgbm and xgboost run in their own libraries after `trees` checked their
structure, and a skops model's trees are checked by `sklearn_trees`; prophet is a forecaster,
checked before Prophet reads it); `forecasters` answers the forecast task (Prophet, or any
regressor run step by step on lags of the series); `sniffing` tells a file's real format from
its content; `loading` loads a stored artifact (`load_predictor`) and is the gate for uploads
(`validate_artifact`: size, archive limits, pickle policy, sha256, real format, safe load, then
one run of the input example and the ONNX twin; a pickle's in another process, `isolation`).
Everything here is plain Python (no Django) so that RQ workers and tests can use it without
settings.
"""

from registry.runtimes.base import (
    CLASSIFICATION,
    FORECAST,
    REGRESSION,
    TASKS,
    ArtifactError,
    Format,
    Predictor,
    TwinnedPredictor,
    output_rows,
)
from registry.runtimes.formats import FORMATS
from registry.runtimes.isolation import IsolationLimits
from registry.runtimes.loading import (
    import_runtimes,
    load_predictor,
    sha256_file,
    validate_artifact,
)
from registry.runtimes.sniffing import sniff_format

__all__ = [
    "CLASSIFICATION",
    "FORECAST",
    "FORMATS",
    "REGRESSION",
    "TASKS",
    "ArtifactError",
    "Format",
    "IsolationLimits",
    "import_runtimes",
    "Predictor",
    "TwinnedPredictor",
    "load_predictor",
    "output_rows",
    "sha256_file",
    "sniff_format",
    "validate_artifact",
]
