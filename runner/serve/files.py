"""How one file is answered: status, headers and the byte range to send, decided from its stat.

Kept free of sockets so the HTTP rules (conditional requests, ranges, types) are plain
functions. Caching policy is Lightly's (``no-store``, ``Expires: 0`` on every response); the
strong validators are still answered (``304``) for clients that send them.
"""

from __future__ import annotations

import mimetypes
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime

# Lightly's lightly-serve headers, on every file and error (PR #1507 there): nothing is cached,
# so a regenerated thumbnail or a 404 fixed by the user is seen on the next load. ``max-age=-1``
# is not valid HTTP; caches treat it as stale, which ``no-store`` already says.
LIGHTLY_CACHE_HEADERS: tuple[tuple[str, str], ...] = (
    ("Cache-Control", "no-store, must-revalidate, no-cache, max-age=-1"),
    ("Expires", "0"),
)
ERROR_CACHE_HEADERS = LIGHTLY_CACHE_HEADERS
# Types a browser would execute when opened directly: served sandboxed (no scripts, no origin).
_ACTIVE_TYPES = frozenset(
    {"text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml"}
)
_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)

# A fixed table (the built-in one, not /etc/mime.types) so every machine answers the same.
_TYPES = mimetypes.MimeTypes(filenames=())
for _ext, _type in {
    ".webp": "image/webp",
    ".hevc": "video/hevc",
    ".m4v": "video/x-m4v",
    ".mkv": "video/x-matroska",
    ".webm": "video/webm",
    ".mov": "video/quicktime",
    ".pgm": "image/x-portable-graymap",
    ".ppm": "image/x-portable-pixmap",
    ".csv": "text/csv",
    ".json": "application/json",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".txt": "text/plain",
    ".js": "text/javascript",
    ".css": "text/css",
}.items():
    _TYPES.add_type(_type, _ext)


class Unsatisfiable:
    """Marker: the ``Range`` header asks for bytes the file does not have (416)."""


UNSATISFIABLE = Unsatisfiable()


@dataclass(frozen=True)
class FilePlan:
    """What to send for one file request.

    Attributes:
        status: 200, 206, 304 or 416.
        headers: Response headers, in order.
        offset: First byte of the body in the file.
        length: Number of body bytes (0 when there is no body).
    """

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    offset: int = 0
    length: int = 0


def content_type(name: str) -> str:
    """The ``Content-Type`` for a file name; text types say UTF-8."""
    guessed, encoding = _TYPES.guess_type(name, strict=False)
    if guessed is None or encoding is not None:  # .gz etc.: opaque bytes, never re-encoded
        return "application/octet-stream"
    if guessed.startswith("text/") or guessed in ("application/json", "application/yaml"):
        return f"{guessed}; charset=utf-8"
    return guessed


def etag(st: os.stat_result) -> str:
    """A strong validator from inode, size and modification time (changes on any rewrite)."""
    return f'"{st.st_ino:x}-{st.st_size:x}-{st.st_mtime_ns:x}"'


def parse_range(value: str, size: int) -> tuple[int, int] | Unsatisfiable | None:
    """Interpret a ``Range`` header for a file of ``size`` bytes.

    Args:
        value: The header value, e.g. ``bytes=0-99``, ``bytes=100-`` or ``bytes=-500``.
        size: File size in bytes.

    Returns:
        ``(first, last)`` inclusive byte positions; :data:`UNSATISFIABLE` for a valid range
        beyond the end; ``None`` for a header to ignore (malformed, other unit, or several
        ranges, which RFC 9110 lets a server answer with the whole file).
    """
    match = _RANGE.match(value)
    if match is None:
        return None
    first_text, last_text = match.groups()
    if first_text == "":
        if last_text == "":
            return None
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            return UNSATISFIABLE
        return (max(0, size - suffix), size - 1)
    first = int(first_text)
    if last_text and int(last_text) < first:
        return None
    if first >= size:
        return UNSATISFIABLE
    last = min(int(last_text), size - 1) if last_text else size - 1
    return (first, last)


def _not_modified(headers: Mapping[str, str], tag: str, mtime: float) -> bool:
    """RFC 9110 §13.2.2: ``If-None-Match`` decides when present, else ``If-Modified-Since``."""
    if_none_match = headers.get("If-None-Match")
    if if_none_match is not None:
        candidates = [c.strip().removeprefix("W/") for c in if_none_match.split(",")]
        return "*" in candidates or tag in candidates
    since = headers.get("If-Modified-Since")
    if since is None:
        return False
    try:
        return int(mtime) <= int(parsedate_to_datetime(since).timestamp())
    except (TypeError, ValueError, IndexError, OverflowError):
        return False


def _range_applies(headers: Mapping[str, str], tag: str, modified: str) -> bool:
    """``If-Range``: honour ``Range`` only if the client's copy is still the current one."""
    if_range = headers.get("If-Range")
    return if_range is None or if_range.strip() in (tag, modified)


def plan_file(name: str, st: os.stat_result, headers: Mapping[str, str]) -> FilePlan:
    """Decide the answer to a GET or HEAD for one regular file.

    Args:
        name: The file name (for the content type).
        st: The file's stat, taken from the open descriptor.
        headers: The request headers (case-insensitive mapping).

    Returns:
        The plan; the caller adds CORS headers and sends ``length`` bytes from ``offset``.
    """
    tag, modified = etag(st), formatdate(st.st_mtime, usegmt=True)
    validators = [("ETag", tag), ("Last-Modified", modified), *LIGHTLY_CACHE_HEADERS]
    if _not_modified(headers, tag, st.st_mtime):
        return FilePlan(status=304, headers=validators)
    kind = content_type(name)
    common = [("Content-Type", kind), ("Accept-Ranges", "bytes"), *validators]
    common.append(("X-Content-Type-Options", "nosniff"))
    if kind.split(";", 1)[0] in _ACTIVE_TYPES:
        common.append(("Content-Security-Policy", "sandbox"))
    size = st.st_size
    wanted = headers.get("Range")
    span = parse_range(wanted, size) if wanted and _range_applies(headers, tag, modified) else None
    if isinstance(span, Unsatisfiable):
        return FilePlan(
            status=416, headers=[("Content-Range", f"bytes */{size}"), *ERROR_CACHE_HEADERS]
        )
    if span is None:
        return FilePlan(status=200, headers=[*common, ("Content-Length", str(size))], length=size)
    first, last = span
    length = last - first + 1
    ranged = [("Content-Range", f"bytes {first}-{last}/{size}"), ("Content-Length", str(length))]
    return FilePlan(status=206, headers=[*common, *ranged], offset=first, length=length)
