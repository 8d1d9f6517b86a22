"""Which format a file really is, decided from its content, never trusted from its name."""

from registry.runtimes.base import PathLike
from registry.runtimes.formats import FORMATS

_HEAD = 8  # bytes read to match the formats' magic


def sniff_format(path: PathLike) -> str | None:
    """The artifact format the content really has; None if it is none of them.

    Formats whose magic the file starts with are asked first, then those without magic. Never
    loads or unpickles the file.
    """
    with open(path, "rb") as file:
        head = file.read(_HEAD)
    candidates = [f for f in FORMATS.values() if any(head.startswith(m) for m in f.magic)]
    candidates += [f for f in FORMATS.values() if not f.magic]
    for candidate in candidates:
        if candidate.sniff(path):
            return candidate.name
    return None
