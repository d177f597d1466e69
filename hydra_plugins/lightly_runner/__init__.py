"""Hydra search-path plugin: the user's own config dir comes *before* the packaged ``conf/``.

Hydra's ``hydra.searchpath`` and ``--config-dir`` both come after the primary config dir, so a
user's ``dataset/cam1.yaml`` would be silently shadowed by the packaged one. This plugin puts
``$LIGHTLY_RUNNER_CONFIG_DIR`` (default ``./lightly_conf`` when it exists) first.
"""

from __future__ import annotations

import os
from pathlib import Path

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin

ENV_VAR = "LIGHTLY_RUNNER_CONFIG_DIR"
DEFAULT_DIR = "lightly_conf"


def user_config_dir() -> Path | None:
    """The user's config dir, or None: ``$LIGHTLY_RUNNER_CONFIG_DIR``, else ``./lightly_conf``."""
    configured = os.environ.get(ENV_VAR)
    candidate = Path(configured) if configured else Path(DEFAULT_DIR)
    return candidate.resolve() if candidate.is_dir() else None


class LightlyRunnerSearchPathPlugin(SearchPathPlugin):
    """Prepends the user's config dir for the ``lightly-run`` app only."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        user_dir = user_config_dir()
        if user_dir is None:
            return
        from runner.resources import config_dir

        ours = str(config_dir())
        is_lightly_runner = any(
            entry.path is not None and entry.path.removeprefix("file://") == ours
            for entry in search_path.get_path()
        )
        if is_lightly_runner:
            search_path.prepend(provider="lightly-runner-user", path=f"file://{user_dir}")
