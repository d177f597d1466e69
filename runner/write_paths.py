"""The one door to the disk: every path the tool writes is derived by :func:`contained`.

A run writes only below the Lightly datasource. :func:`contained` joins a folder with the
components of a name that may come from config values or from the data (``thumbnail_suffix``,
sample keys, frame names, run ids), refuses absolute components and ``.``/``..``, resolves the
result with symlinks followed, and proves that it is still inside that folder. The folders
themselves come from :class:`runner.datasource.lightly_dir.Datasources`, which derives them
from the Lightly datasource with this same function, so containment in a folder means
containment in the Lightly datasource.

The check is made when the path is derived, just before the write; a symlink swapped in
between (by another process) is not guarded against.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from runner.errors import DataError


class OutsideLightlyDatasourceError(DataError):
    """A path the tool was about to write is not inside the Lightly datasource."""


def contained(base: Path, *parts: str) -> Path:
    """``base`` joined with ``parts``, proven to stay inside ``base`` after resolving symlinks.

    Args:
        base: A folder inside the Lightly datasource (or the datasource itself); it need not
            exist yet.
        parts: Relative POSIX names; each may hold several components (``"a/b.png"``).

    Returns:
        The path to write: its existing folders resolved, the last component kept as named
        (so an atomic rename replaces a symlink there instead of writing through it).

    Raises:
        OutsideLightlyDatasourceError: An absolute or empty part, a ``.`` or ``..`` component,
            a NUL byte, or a symlink (a loop included) that leads out of ``base``.
    """
    names = [name for part in parts for name in _components(part, base)]
    if not names:
        raise OutsideLightlyDatasourceError(f"refusing to write {base} itself: no file name")
    try:
        root = base.resolve()
        path = root.joinpath(*names)
        parent = path.parent.resolve()
        target = path.resolve()  # follows a final symlink too: where a plain write would go
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise OutsideLightlyDatasourceError(
            f"refusing to write {base.joinpath(*names)}: cannot resolve it ({exc})"
        ) from exc
    for resolved in (parent, target):
        if not resolved.is_relative_to(root):
            raise OutsideLightlyDatasourceError(
                f"refusing to write {base.joinpath(*names)}: a symlink leads to {resolved}, "
                f"outside {root}"
            )
    return parent / path.name


def _components(part: str, base: Path) -> list[str]:
    """The components of one relative name, refusing anything that could leave ``base``."""
    text = part
    if not text or "\0" in text or text.startswith("/") or PurePosixPath(text).is_absolute():
        raise OutsideLightlyDatasourceError(
            f"refusing to write {part!r} under {base}: not a relative file name"
        )
    components = [c for c in text.split("/") if c]
    if any(c in (".", "..") for c in components):
        raise OutsideLightlyDatasourceError(
            f"refusing to write {part!r} under {base}: '.' and '..' components are not allowed"
        )
    return components
