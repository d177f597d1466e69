"""URL path → file, contained in two roots: the only place that turns a request into a path.

Lightly's rule is kept (the percent-decoded path is tried under ``input_mount`` first, then under
``lightly_mount``), but unlike Lightly's ``translate_path`` nothing is normalised into place:
a path that is not a plain, relative, slash-separated name is refused outright, and a name that
resolves (through symlinks) outside its root is treated as absent. Refusals and absences look
the same to the client (404), so probing learns nothing about the rest of the disk.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

# Encoded separators and NUL are refused before decoding: after decoding they would be
# indistinguishable from real separators (``%2f``) or would truncate the name (``%00``).
_FORBIDDEN_ENCODED = ("%2f", "%5c", "%00")
_FORBIDDEN_SEGMENTS = frozenset({"", ".", ".."})


@dataclass(frozen=True)
class Roots:
    """The two served folders, resolved once at start-up (symlinked mounts become real paths).

    Attributes:
        input: The input mount; tried first.
        lightly: The Lightly mount; tried second.
    """

    input: Path
    lightly: Path

    @classmethod
    def resolve(cls, input_mount: str | Path, lightly_mount: str | Path) -> Roots:
        """Resolve both mounts to absolute real paths.

        Raises:
            OSError: a mount does not exist.
        """
        return cls(Path(input_mount).resolve(strict=True), Path(lightly_mount).resolve(strict=True))

    def in_order(self) -> tuple[Path, Path]:
        """The roots in lookup order: input first (Lightly's rule)."""
        return (self.input, self.lightly)


def request_path(target: str) -> str:
    """The path part of a request target, without query string or fragment.

    Args:
        target: The raw request target, origin-form (``/a/b?x#y``) or absolute-form
            (``http://host/a/b``).

    Returns:
        The still percent-encoded path, e.g. ``/a/b``.
    """
    if target.startswith(("http://", "https://")):
        return urlsplit(target).path or "/"
    return target.split("#", 1)[0].split("?", 1)[0]


def relative_parts(url_path: str) -> tuple[str, ...] | None:
    """Decode a URL path into its segments, or refuse it.

    Args:
        url_path: Percent-encoded path starting with ``/`` (query already removed).

    Returns:
        The decoded segments (``()`` for ``/``), or ``None`` when the path holds anything but
        plain names: ``.``/``..`` (also encoded), empty segments (``//``, which would make an
        absolute path), backslashes, encoded slashes or backslashes, or NUL bytes.
    """
    if not url_path.startswith("/") or "\\" in url_path:
        return None
    lowered = url_path.lower()
    if any(token in lowered for token in _FORBIDDEN_ENCODED):
        return None
    # surrogateescape: names that are not valid UTF-8 on disk stay reachable, byte for byte.
    decoded = unquote(url_path[1:], errors="surrogateescape")
    if decoded == "":
        return ()
    if "\x00" in decoded or "\\" in decoded:
        return None
    parts = tuple(decoded.split("/"))
    if any(part in _FORBIDDEN_SEGMENTS for part in parts):
        return None
    return parts


def _resolve_below(root: str, parts: tuple[str, ...]) -> str:
    """``realpath(root/parts)`` for a root that is already real: only ``parts`` are checked.

    Walks the components with ``lstat`` (two or three system calls for a typical key) and hands
    over to ``os.path.realpath`` only at the first symlink, where its target must be followed.

    Raises:
        OSError: a component does not exist (or cannot be read).
    """
    current = root
    for position, part in enumerate(parts):
        candidate = f"{current}/{part}" if current != "/" else f"/{part}"
        if stat.S_ISLNK(os.lstat(candidate).st_mode):
            return os.path.realpath(os.path.join(candidate, *parts[position + 1 :]), strict=True)
        current = candidate
    return current


def contained_file(root: Path, parts: tuple[str, ...]) -> Path | None:
    """The regular file ``root/parts`` resolves to, if it stays inside ``root``.

    Symlinks are followed; a symlink (at any level) whose target leaves ``root`` makes the
    name absent. Directories are absent too: there are no listings.

    Args:
        root: A resolved root folder.
        parts: Plain name segments from :func:`relative_parts`.

    Returns:
        The resolved path of a regular file inside ``root``, or ``None``.
    """
    if not parts:
        return None
    base = str(root)
    try:
        resolved = _resolve_below(base, parts)
        mode = os.stat(resolved).st_mode
    except (OSError, ValueError):  # missing, loop (ELOOP), name too long, embedded NUL
        return None
    inside = resolved.startswith(base.rstrip("/") + "/")
    return Path(resolved) if inside and stat.S_ISREG(mode) else None


def map_url_path(url_path: str, roots: Roots) -> Path | None:
    """Lightly's mapping, made safe: ``input_mount/<path>`` first, then ``lightly_mount/<path>``.

    Args:
        url_path: Percent-encoded path starting with ``/`` (see :func:`request_path`).
        roots: The served roots.

    Returns:
        The file to serve, or ``None`` (404).
    """
    parts = relative_parts(url_path)
    if parts is None:
        return None
    for root in roots.in_order():
        found = contained_file(root, parts)
        if found is not None:
            return found
    return None


def url_for(path: Path, roots: Roots) -> str | None:
    """The URL path under which ``path`` is served, if it lies in a root.

    The path is made relative to the first root that contains it; with Lightly's precedence a
    same-named file in the input mount would shadow one in the Lightly mount (documented).

    Args:
        path: An absolute path (not necessarily existing; symlinks in it are resolved).
        roots: The served roots.

    Returns:
        A percent-encoded URL path such as ``/cam1/a%20b.png`` (``""`` for a root itself, so
        that ``url_for(folder) + "/" + name`` works), or ``None``.
    """
    absolute = path.resolve()
    for root in roots.in_order():
        if absolute == root:
            return ""
        if absolute.is_relative_to(root):
            relative = absolute.relative_to(root).as_posix()
            return "/" + quote(relative, safe="/", errors="surrogateescape")
    return None
