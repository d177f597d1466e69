"""The one import site of the ``lightly`` package (SimCLR's loss, head and views; Lightly's
ResNets), shared by the embedding and training stages."""

from __future__ import annotations

import os
from typing import Any

from runner.errors import MissingDependencyError


def lightly_module(name: str) -> Any:
    """Import a submodule of ``lightly``, the one import site of that package.

    ``import lightly`` starts a background version check against api.lightly.ai unless
    ``LIGHTLY_DID_VERSION_CHECK`` is set; we set it, so nothing leaves the machine.

    Raises:
        MissingDependencyError: ``lightly`` is not installed.
    """
    os.environ.setdefault("LIGHTLY_DID_VERSION_CHECK", "True")
    import importlib

    try:
        return importlib.import_module(f"lightly.{name}")
    except ImportError as exc:
        raise MissingDependencyError(
            "training and Lightly's ResNets (lightly.model.num_ftrs / width) need the lightly "
            f"package: pip install lightly ({exc})"
        ) from exc
