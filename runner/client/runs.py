"""Runs as Lightly's client shows them (``DockerRunData``), read from ``.lightly/runs/``.

A finished run folder ``runs/<id>/`` is ``COMPLETED``, ``runs/<id>-failed/`` is ``FAILED``, a
``runs/.<id>.partial/`` folder is still running (or ``CRASHED`` when its owner process is gone).
Runs of this process carry their live state from the local worker instead. The scheduled run id
*is* the run id (see docs/decisions.md), so ``scheduled_id == id``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml

from runner import __version__
from runner.artifacts.files import FILES
from runner.artifacts.run_dir import PARTIAL_SUFFIX, RUN_ID, read_owner
from runner.client.states import DockerRunState
from runner.errors import ConfigError

FAILED_SUFFIX = "-failed"

# Lightly's ``DockerRunArtifactType`` of the files a run folder holds.
ARTIFACT_TYPES: dict[str, str] = {
    FILES["log"]: "LOG",
    FILES["report_pdf"]: "REPORT_PDF",
    FILES["report_json"]: "REPORT_JSON",
    FILES["corruptness_check_information"]: "CORRUPTNESS_CHECK_INFORMATION",
    "sequence_information.json": "SEQUENCE_INFORMATION",
    "relevant_filenames.txt": "RELEVANT_FILENAMES",
    "checkpoint.ckpt": "CHECKPOINT",
}


class RunNotFoundError(ConfigError):
    """No run with that id (Lightly's client raises ``ApiException``)."""


@dataclass(frozen=True)
class DockerRunArtifactData:
    """One file of a run (Lightly's ``DockerRunArtifactData``); ``type`` is None for files
    Lightly has no artifact type for (``embeddings.csv``, thumbnails, …)."""

    id: str
    type: str | None
    file_name: str
    storage_location: str = "LOCAL"


@dataclass(frozen=True)
class DockerRunData:
    """A run, with the attribute names of Lightly's ``DockerRunData``.

    ``run_dir`` (beyond Lightly) is the run's folder; ``created_at`` and ``last_modified_at``
    are Unix milliseconds as in Lightly.
    """

    id: str
    state: str
    dataset_id: str | None
    scheduled_id: str
    created_at: int
    last_modified_at: int
    message: str
    run_dir: Path
    artifacts: list[DockerRunArtifactData] = field(default_factory=list)
    user_id: str = "local"
    docker_version: str = f"lightly-runner {__version__}"
    config_id: str | None = None
    archived: bool = False


def created_at_ms(run_id: str) -> int:
    """The run id's UTC timestamp (``20261124-214501-…``) in Unix milliseconds."""
    stamp = datetime.strptime(run_id[:15], "%Y%m%d-%H%M%S").replace(tzinfo=UTC)
    return int(stamp.timestamp() * 1000)


def list_artifacts(run_dir: Path) -> list[DockerRunArtifactData]:
    """Every file of a run folder (sorted), typed where Lightly has a type for it."""
    if not run_dir.is_dir():
        return []
    files = sorted(
        p.relative_to(run_dir).as_posix()
        for p in run_dir.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    )
    return [DockerRunArtifactData(name, ARTIFACT_TYPES.get(name), name) for name in files]


def dataset_of(run_dir: Path) -> str | None:
    """``dataset.name`` from the run's ``config.yaml`` (None when it has none yet)."""
    try:
        config = yaml.safe_load((run_dir / FILES["config"]).read_text(encoding="utf-8"))
        return str(config["dataset"]["name"])
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return None


def runs_on_disk(runs_dir: Path) -> list[DockerRunData]:
    """The runs of one Lightly datasource, oldest first."""
    found: dict[str, DockerRunData] = {}
    if not runs_dir.is_dir():
        return []
    for entry in runs_dir.iterdir():
        if entry.is_symlink() or not entry.is_dir():
            continue
        run = _run_from_folder(entry)
        if run is not None:
            found[run.id] = run
    return [found[key] for key in sorted(found)]


def _run_from_folder(folder: Path) -> DockerRunData | None:
    name = folder.name
    if RUN_ID.match(name):
        run_id, state, message = name, DockerRunState.COMPLETED, "run completed"
    elif name.endswith(FAILED_SUFFIX) and RUN_ID.match(name[: -len(FAILED_SUFFIX)]):
        run_id, state = name[: -len(FAILED_SUFFIX)], DockerRunState.FAILED
        message = "run failed: see log.txt"
    elif name.startswith(".") and name.endswith(PARTIAL_SUFFIX):
        run_id = name[1 : -len(PARTIAL_SUFFIX)]
        if not RUN_ID.match(run_id):
            return None
        owner = read_owner(folder)
        gone = owner is not None and owner.is_gone()
        state = DockerRunState.CRASHED if gone else DockerRunState.STARTED
        message = "its process ended before the run did" if gone else "running"
    else:
        return None
    modified = int(folder.stat().st_mtime * 1000)
    return DockerRunData(
        id=run_id,
        state=state,
        dataset_id=dataset_of(folder),
        scheduled_id=run_id,
        created_at=created_at_ms(run_id),
        last_modified_at=modified,
        message=message,
        run_dir=folder,
        artifacts=list_artifacts(folder),
    )
