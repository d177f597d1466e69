"""Exact duplicates: files with identical bytes, found by content hash."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol


class HashedFile(Protocol):
    """What duplicate detection needs of a file (``runner.decode.inspect.FileInfo`` fits)."""

    @property
    def sha256(self) -> str:
        """Hex content hash; empty when the file could not be read."""
        ...

    @property
    def error(self) -> str | None:
        """Why the file is corrupt or unreadable, else None."""
        ...


def find_exact_duplicates(keys: Sequence[str], infos: Mapping[str, HashedFile]) -> dict[str, str]:
    """Map every exact duplicate to the sample it duplicates.

    Of each group of keys with the same SHA-256, the first key in sorted order is kept and the
    others are duplicates of it. Corrupt or unreadable files never count as duplicates, and
    keys without information are ignored.

    Args:
        keys: Sample keys to compare (any order).
        infos: Key -> file information from ``inspect_files``.

    Returns:
        Duplicate key -> kept key, with the duplicate keys in sorted order.
    """
    kept_by_hash: dict[str, str] = {}
    duplicates: dict[str, str] = {}
    for key in sorted(keys):
        info = infos.get(key)
        if info is None or info.error is not None or not info.sha256:
            continue
        kept = kept_by_hash.setdefault(info.sha256, key)
        if kept != key:
            duplicates[key] = kept
    return duplicates
