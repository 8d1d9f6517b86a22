"""Zip archives (skops files are one) are checked from their directory before anything reads a
member: a small upload can name millions of members or inflate to gigabytes.

Python's zipfile never inflates a member past the size its directory entry declares (it stops
there, and the CRC check fails), so the declared sizes bound what reading the archive costs.
"""

import zipfile

from registry.runtimes.base import ArtifactError, PathLike

# A directory entry is 46 bytes plus its name and extras: a directory larger than this per
# member claims fewer members than it holds.
_DIRECTORY_BYTES_PER_MEMBER = 1024


def check_archive(path: PathLike, *, max_members: int, max_unpacked_bytes: int) -> None:
    """Refuse a zip archive with more than `max_members` members (400) or whose members
    unpack to more than `max_unpacked_bytes` (413); other files pass untouched."""
    with open(path, "rb") as file:
        if file.read(2) != b"PK":
            return
        end = zipfile._EndRecData(file)  # the end record only: the directory is not read yet
    if end is None:
        return  # not a zip after all; the format check says what it is
    members, directory = end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE]
    if members > max_members or directory > max_members * _DIRECTORY_BYTES_PER_MEMBER:
        raise _too_many(max_members)
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return
    if len(entries) > max_members:
        raise _too_many(max_members)
    unpacked = sum(entry.file_size for entry in entries)
    if unpacked > max_unpacked_bytes:
        raise ArtifactError(
            f"the archive unpacks to {unpacked:,} bytes, over the limit of {max_unpacked_bytes:,}",
            code="too_large",
        )


def _too_many(max_members: int) -> ArtifactError:
    return ArtifactError(f"the archive has more than {max_members:,} files", code="too_many_files")
