"""Per-sample JSON files under ``.lightly/``: where they are and how they are read.

Lightly mirrors the input tree: the file of sample ``sub/img_1.png`` is ``sub/img_1.json``
below the task (or metadata) folder, and the file of video frame ``sub/clip-024-mp4.png`` is
``sub/clip-024-mp4.json``: the key with its extension replaced by ``.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from runner.decode.errors import describe_exception


def sample_file(key: str) -> PurePosixPath:
    """The per-sample file of a key, relative to its task or metadata folder.

    Args:
        key: Input-relative POSIX path of an image or video frame (``sub/img_1.png``).

    Returns:
        The key with its extension replaced by ``.json`` (``sub/img_1.json``); a key without
        an extension gets ``.json`` appended.
    """
    path = PurePosixPath(key)
    return path.with_suffix(".json") if path.suffix else path.with_name(path.name + ".json")


@dataclass(frozen=True)
class Skip:
    """A file (or one value in it) that was not used, and why.

    Attributes:
        file: Path relative to the Lightly datasource (``.lightly/predictions/det/a.json``).
        reason: What is wrong with it.
    """

    file: str
    reason: str


@dataclass(frozen=True)
class JsonRead:
    """The outcome of reading one JSON file.

    Attributes:
        value: The decoded document, or None when the file is missing or unreadable.
        missing: The file does not exist.
        error: Why the file could not be read or decoded, else None.
    """

    value: Any
    missing: bool = False
    error: str | None = None


def read_json(path: Path) -> JsonRead:
    """Read and decode one JSON file without raising.

    Args:
        path: The file.

    Returns:
        The document, or ``missing`` for an absent file, or an ``error`` for an unreadable
        one (permissions, a directory, bad UTF-8, malformed JSON).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return JsonRead(value=None, missing=True)
    except (OSError, UnicodeDecodeError) as exc:
        return JsonRead(value=None, error=f"unreadable: {describe_exception(exc)}")
    try:
        return JsonRead(value=json.loads(text))
    except ValueError as exc:
        return JsonRead(value=None, error=f"malformed JSON: {exc}")


def file_name_matches(file_name: object, key: str) -> bool:
    """Whether a file's optional ``file_name`` names the sample it was read for.

    Lightly writes the input-relative path (``sub/img_1.png``); a bare or shorter path suffix
    (``img_1.png``) is accepted too. A mismatch means the file belongs to another sample, e.g.
    ``img.json`` read for ``img.jpg`` but written for ``img.png``.

    Args:
        file_name: The value of ``file_name`` (None when absent).
        key: The sample key.

    Returns:
        True when absent or matching.
    """
    if file_name is None:
        return True
    if not isinstance(file_name, str):
        return False
    name = file_name.replace("\\", "/").removeprefix("./")
    return key == name or key.endswith("/" + name)
