"""Loaded models, kept per worker process so a model is loaded once, not once per job."""

import os
import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from django.conf import settings

from predictions.models import ModelLoad
from registry import runtimes
from registry.models import ModelVersion


class ArtifactTampered(Exception):
    pass


@dataclass(frozen=True)
class Loaded:
    """A version's predictor fetched ahead of its run: how long this fetch spent loading it
    (None: it was in the cache), or the error loading it raised, which `predictor()` raises
    again when the run needs it, so the failure is recorded on the predictions."""

    _predictor: runtimes.Predictor | None
    seconds: float | None = None
    error: Exception | None = None

    def predictor(self) -> runtimes.Predictor:
        if self.error is not None:
            raise self.error
        return self._predictor


class PredictorCache:
    """A bounded LRU of predictors keyed by version id. Each load (a cold start) is recorded
    as a ModelLoad row, so operations can tell loading time from inference time."""

    def __init__(self, capacity: int):
        self.capacity = max(1, capacity)
        self._items: OrderedDict[int, runtimes.Predictor] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, version: ModelVersion) -> runtimes.Predictor:
        return self.fetch(version).predictor()

    def fetch(self, version: ModelVersion) -> Loaded:
        """The version's predictor from the cache, or loaded into it (a cold start, timed and
        recorded as a ModelLoad)."""
        with self._lock:
            predictor = self._items.get(version.pk)
            if predictor is not None:
                self._items.move_to_end(version.pk)
                return Loaded(predictor)
        started = time.perf_counter()
        try:
            predictor = self._load(version)
        except Exception as exc:
            return Loaded(None, error=exc)
        seconds = time.perf_counter() - started
        process = f"{socket.gethostname()}:{os.getpid()}"[:255]
        ModelLoad.objects.create(version=version, seconds=seconds, process=process)
        with self._lock:
            self._items[version.pk] = predictor
            self._items.move_to_end(version.pk)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return Loaded(predictor, seconds)

    @classmethod
    def _load(cls, version: ModelVersion) -> runtimes.Predictor:
        """The version's ONNX twin when it has one (the fast path), else its own artifact; both
        when its format runs large batches faster than the twin."""
        if not version.onnx_twin:
            return cls._load_file(version, version.artifact.path, version.format, version.sha256)
        twin = cls._load_file(version, version.onnx_twin.path, "onnx", version.twin_sha256)
        max_rows = runtimes.FORMATS[version.format].twin_max_rows
        if max_rows is None:
            return twin
        native = cls._load_file(version, version.artifact.path, version.format, version.sha256)
        return runtimes.TwinnedPredictor(twin, native, max_rows)

    @staticmethod
    def _load_file(version: ModelVersion, path: str, fmt: str, sha256: str) -> runtimes.Predictor:
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
