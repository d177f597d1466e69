"""Where the packaged ``conf/`` and ``templates/`` folders live.

In a wheel, hatchling force-includes them as ``runner/conf`` and ``runner/templates`` (next to
this file). In a checkout or an editable install they stay at the repository root,
``<repo>/conf`` and ``<repo>/templates``. Nothing else in the code base does path arithmetic
for these two folders.
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
_REPO_DIR = _PACKAGE_DIR.parent


def _resource_dir(name: str) -> Path:
    """Return the packaged folder ``name`` if the wheel ships it, else the checkout's.

    Args:
        name: ``"conf"`` or ``"templates"``.

    Returns:
        The absolute path of the folder (it may not exist in a broken install).
    """
    packaged = _PACKAGE_DIR / name
    return packaged if packaged.is_dir() else _REPO_DIR / name


def config_dir() -> Path:
    """Return the absolute path of the packaged Hydra config folder (``conf/``)."""
    return _resource_dir("conf")


def templates_dir() -> Path:
    """Return the absolute path of the packaged report templates (``templates/``)."""
    return _resource_dir("templates")


DEMO_ENV = "LIGHTLY_RUNNER_DEMO"


def demo_root() -> Path:
    """Where the demo dataset lives: ``$LIGHTLY_RUNNER_DEMO``, else ``<checkout>/demo`` (what
    ``make demo`` builds), else ``/tmp/lightly-runner-demo`` for an installed wheel."""
    configured = os.environ.get(DEMO_ENV)
    if configured:
        return Path(configured).resolve()
    if (_REPO_DIR / "pyproject.toml").is_file() and (_REPO_DIR / "conf").is_dir():
        return _REPO_DIR / "demo"
    return Path("/tmp/lightly-runner-demo")


def docs_dir() -> Path | None:
    """Return the checkout's ``docs/`` folder, or None (a wheel ships no docs)."""
    docs = _REPO_DIR / "docs"
    return docs if (docs / "config.md").is_file() else None
