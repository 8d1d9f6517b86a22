"""Loaded models, kept per worker process so a model is loaded once, not once per job."""

import threading
from collections import OrderedDict

from django.conf import settings

from registry import runtimes
from registry.models import ModelVersion


class ArtifactTampered(Exception):
    pass


class PredictorCache:
    """A bounded LRU of predictors keyed by version id."""

    def __init__(self, capacity: int):
        self.capacity = max(1, capacity)
        self._items: OrderedDict[int, runtimes.Predictor] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, version: ModelVersion) -> runtimes.Predictor:
        with self._lock:
            predictor = self._items.get(version.pk)
            if predictor is not None:
                self._items.move_to_end(version.pk)
                return predictor
        predictor = self._load(version)
        with self._lock:
            self._items[version.pk] = predictor
            self._items.move_to_end(version.pk)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return predictor

    @staticmethod
    def _load(version: ModelVersion) -> runtimes.Predictor:
        """The version's ONNX twin when it has one (the fast path), else its own artifact."""
        if version.onnx_twin:
            path, fmt, sha256 = version.onnx_twin.path, "onnx", version.twin_sha256
        else:
            path, fmt, sha256 = version.artifact.path, version.format, version.sha256
        # The stored file must still be the one validated at upload: a pickle in particular
        # is only safe to load if nobody swapped it on disk since.
        if runtimes.sha256_file(path) != sha256:
            raise ArtifactTampered(f"{version}: stored artifact does not match its sha256")
        return runtimes.load_predictor(
            path,
            fmt,
            task=version.model.task,
            input_schema=version.input_schema,
            labels=version.labels,
            allow_pickle=True,
        )

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


predictors = PredictorCache(settings.PREDICTOR_CACHE_SIZE)
