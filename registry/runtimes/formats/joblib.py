"""joblib: a pickled scikit-learn estimator, maybe compressed. Unpickling runs whatever code the
file names, hence `pickle=True`: staff only, with the sha256 they state, checked first."""

import bz2
import lzma
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from registry.runtimes import sklearn
from registry.runtimes.base import Predictor

_PICKLE_PROTO = 0x80  # every pickle of protocol >= 2 starts with the PROTO opcode

# joblib's compressed files (joblib/compressor.py) wrap a pickle stream; lz4 is left out because
# the lz4 package is not installed, so joblib could not load such a file anyway.
_COMPRESSED: tuple[tuple[bytes, Callable[[], Any]], ...] = (
    (b"\x1f\x8b", lambda: zlib.decompressobj(wbits=31)),  # gzip
    (b"BZ", bz2.BZ2Decompressor),
    (b"\xfd7zXZ", lzma.LZMADecompressor),  # xz
    (b"\x5d\x00", lambda: lzma.LZMADecompressor(format=lzma.FORMAT_ALONE)),  # lzma
    (b"\x78", zlib.decompressobj),  # zlib
)
MAGIC = (bytes([_PICKLE_PROTO]), *(prefix for prefix, _ in _COMPRESSED))
_PEEK_CHUNK = 64 * 1024
_PEEK_LIMIT = 4 * 1024 * 1024  # a bz2 block can be ~900 kB before it yields its first byte


def sniff(path: Path) -> bool:
    """A pickle, recognised by its PROTO opcode (in the decompressed head of the file when
    joblib compressed it); never unpickled."""
    with open(path, "rb") as file:
        head = file.read(8)
    if head[:1] == bytes([_PICKLE_PROTO]):
        return True
    return any(
        head.startswith(prefix) and _decompressed_head(path, decompressor()) == _PICKLE_PROTO
        for prefix, decompressor in _COMPRESSED
    )


def _decompressed_head(path: Path, decompressor: Any) -> int | None:
    """The first decompressed byte; bounded, since the file may be a decompression bomb."""
    with open(path, "rb") as file:
        for _ in range(_PEEK_LIMIT // _PEEK_CHUNK):
            chunk = file.read(_PEEK_CHUNK)
            if not chunk:
                return None
            try:
                out = decompressor.decompress(chunk, 1)
            except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError):
                return None
            if out:
                return out[0]
    return None


def load(path: Path, **kwargs) -> Predictor:
    import joblib

    return sklearn.SklearnPredictor(joblib.load(path), **kwargs)


to_onnx = sklearn.to_onnx
