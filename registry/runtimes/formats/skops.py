"""skops: a zip of a scikit-learn estimator's state, loaded without unpickling, only with the
types on the allowlist (`registry/skops_allowlist.py`); the trees of a loaded model are checked
before it runs (`registry/runtimes/sklearn_trees.py`)."""

import zipfile
from pathlib import Path

from registry.runtimes import sklearn
from registry.runtimes.base import ArtifactError, Predictor
from registry.skops_allowlist import ALLOWED_TYPES

MAGIC = (b"PK\x03\x04",)


def sniff(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return "schema.json" in archive.namelist()
    except zipfile.BadZipFile:
        return False


def load(path: Path, **kwargs) -> Predictor:
    # Imported here: skops.io imports every scikit-learn estimator, which takes seconds.
    import skops.io

    from registry.runtimes import sklearn_trees

    untrusted = skops.io.get_untrusted_types(file=path)
    refused = sorted(set(untrusted) - set(ALLOWED_TYPES))
    if refused:
        raise ArtifactError(
            f"the skops file contains types that are not on the allowlist: {', '.join(refused)}",
            code="untrusted_type",
        )
    model = skops.io.load(path, trusted=untrusted)
    sklearn_trees.check_trees(model)
    return sklearn.SklearnPredictor(model, **kwargs)


to_onnx = sklearn.to_onnx
