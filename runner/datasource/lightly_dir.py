"""The two datasources on disk and the paths under ``<lightly datasource>/.lightly/``.

Validation follows the seed and Lightly's ``set_local_config`` rules: mounts are absolute,
existing folders; relative paths must not be absolute, contain ``://`` or ``.``/``..``
components; the input datasource is only read; the Lightly datasource exists, is writable, and
is never inside the input mount (that would write into the input).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from runner.config import DatasourceConfig, MountsConfig
from runner.errors import ConfigError
from runner.write_paths import contained

DOT_LIGHTLY = ".lightly"
# Folders under ``.lightly/`` that runs write (checked before any work).
WRITTEN_FOLDERS = ("runs", "cache", "cache/embeddings", "frames", "datapool", "sweeps")


@dataclass(frozen=True)
class Datasources:
    """Resolved, validated folders of a run."""

    input_mount: Path
    lightly_mount: Path
    input_dir: Path
    lightly_dir: Path

    @property
    def dot_lightly(self) -> Path:
        """``.lightly/``, proven inside the Lightly datasource (it may be a symlink there)."""
        return contained(self.lightly_dir, DOT_LIGHTLY)

    @property
    def runs_dir(self) -> Path:
        return contained(self.dot_lightly, "runs")

    @property
    def cache_dir(self) -> Path:
        return contained(self.dot_lightly, "cache")

    def check_writable_folders(self, thumbnail_suffix: str) -> None:
        """Prove before any work that the folders a run writes stay in the Lightly datasource.

        Raises:
            OutsideLightlyDatasourceError: A symlinked folder (``.lightly/runs`` …) leads out.
        """
        for name in WRITTEN_FOLDERS:
            contained(self.dot_lightly, name, "x")
        if thumbnail_suffix:
            contained(self.lightly_dir, thumbnail_suffix.replace("[filename]", "x"))


def check_mount(name: str, value: str) -> Path:
    """The resolved mount folder.

    Args:
        name: How the user gave the value, for the message (``mounts.input_mount``).
        value: The path.

    Raises:
        ConfigError: empty, relative, missing or not a folder.
    """
    if not value:
        raise ConfigError(f"{name} is empty; give the absolute path of the folder")
    path = Path(value)
    if not path.is_absolute():
        raise ConfigError(f"{name} must be an absolute path, got '{value}'")
    if not path.exists():
        raise ConfigError(f"{name} does not exist: {value}")
    if not path.is_dir():
        raise ConfigError(f"{name} is not a directory: {value}")
    return path.resolve()


def _check_relative(name: str, value: str) -> PurePosixPath:
    if value.startswith("/") or PurePosixPath(value).is_absolute():
        raise ConfigError(f"{name} must be relative to its mount, got absolute path '{value}'")
    if "://" in value:
        raise ConfigError(f"{name} must be a local relative path, got '{value}'")
    parts = PurePosixPath(value.replace("\\", "/")).parts
    if any(part in (".", "..") for part in value.replace("\\", "/").split("/")):
        raise ConfigError(f"{name} must not contain '.' or '..' components, got '{value}'")
    return PurePosixPath(*parts) if parts else PurePosixPath()


# Folders of ``.lightly/`` that hold the user's inputs or the tool's own state: no thumbnails.
_RESERVED = frozenset(
    {"runs", "cache", "datapool", "frames", "sweeps", "tags", "predictions", "metadata"}
    | {"embeddings", "crops"}
)


def check_thumbnail_suffix(value: str) -> None:
    """Validate Lightly's ``thumbSuffix`` template (``""`` disables thumbnails).

    Raises:
        ConfigError: Absolute, ``://``, ``.``/``..`` components, no ``[filename]``, or a
            reserved ``.lightly/`` folder; one line naming the rule.
    """
    if not value:
        return
    name = "datasource.thumbnail_suffix"
    rule = (
        f"{name} must be a path relative to the Lightly datasource that contains [filename], "
        "without a leading '/', '://' or '.'/'..' components "
        "(default .lightly/thumbnails/[filename]_thumb.[extension])"
    )
    parts = value.split("/")
    if (
        value.startswith("/")
        or "://" in value
        or "\0" in value
        or "[filename]" not in value
        or any(part in (".", "..", "") for part in parts)
    ):
        raise ConfigError(f"{rule}, got '{value}'")
    # Under .lightly/ the next folder must be fixed: [filename] may begin with 'metadata/'.
    if parts[0] == DOT_LIGHTLY and (len(parts) < 3 or "[" in parts[1] or parts[1] in _RESERVED):
        raise ConfigError(
            f"{name} must name its own folder under .lightly/ (not runs, cache, datapool, "
            f"frames, sweeps, tags, predictions, metadata, embeddings or crops, where inputs "
            f"and run state live), got '{value}'"
        )


def resolve_datasources(mounts: MountsConfig, datasource: DatasourceConfig) -> Datasources:
    """Validate mounts and relative paths and return the resolved folders.

    Raises:
        ConfigError: one line per violation, the first one found.
    """
    input_mount = check_mount("mounts.input_mount", mounts.input_mount)
    lightly_mount = check_mount("mounts.lightly_mount", mounts.lightly_mount)
    input_rel = _check_relative("datasource.input.relative_path", datasource.input.relative_path)
    lightly_rel = _check_relative(
        "datasource.lightly.relative_path", datasource.lightly.relative_path
    )
    if not datasource.web_server_location.startswith(("http://", "https://")):
        raise ConfigError(
            "datasource.web_server_location must start with http:// or https://, "
            f"got '{datasource.web_server_location}'"
        )
    check_thumbnail_suffix(datasource.thumbnail_suffix)
    input_dir = (input_mount / input_rel).resolve()
    lightly_dir = (lightly_mount / lightly_rel).resolve()
    if not input_dir.is_relative_to(input_mount) or not lightly_dir.is_relative_to(lightly_mount):
        raise ConfigError("a datasource relative path leaves its mount through a symlink")
    if not input_dir.is_dir():
        raise ConfigError(f"input datasource does not exist: {input_dir}")
    if not lightly_dir.is_dir():
        raise ConfigError(
            f"Lightly datasource does not exist: {lightly_dir} (create it: mkdir -p {lightly_dir})"
        )
    if lightly_dir.is_relative_to(input_mount):
        raise ConfigError(
            f"the Lightly datasource {lightly_dir} is inside the input mount {input_mount}; "
            "the input is read-only, give a Lightly datasource outside it"
        )
    if not os.access(lightly_dir, os.W_OK | os.X_OK) or (
        (lightly_dir / DOT_LIGHTLY).exists() and not os.access(lightly_dir / DOT_LIGHTLY, os.W_OK)
    ):
        raise ConfigError(f"the Lightly datasource is not writable: {lightly_dir}")
    return Datasources(input_mount, lightly_mount, input_dir, lightly_dir)


def resolve_relevant_filenames(value: str, lightly_dir: Path) -> Path | None:
    """Where ``worker.relevant_filenames_file`` lives; it must be under ``.lightly/``.

    Raises:
        ConfigError: absolute path, ``./`` or ``../``, outside ``.lightly/``, or missing file.
    """
    if not value:
        return None
    name = "worker.relevant_filenames_file"
    rel = _check_relative(name, value)
    if not rel.parts or rel.parts[0] != DOT_LIGHTLY:
        raise ConfigError(
            f"{name} must be inside the Lightly datasource's .lightly/ folder "
            f"(e.g. .lightly/relevant_filenames.txt), got '{value}'"
        )
    path = lightly_dir / rel
    if not path.is_file():
        raise ConfigError(f"{name} not found: {path}")
    return path
