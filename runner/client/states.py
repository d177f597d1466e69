"""Lightly's run states and the run info its scripts poll, with the same names and meaning.

A scheduled run is ``OPEN`` until the local worker picks it up; then it goes through Lightly's
``DockerRunState`` values as the pipeline's stages start, and ends ``COMPLETED`` (the run
directory is published), ``FAILED`` (a user mistake or bad data: the one-line error is the
message), ``CRASHED`` (an unexpected exception) or ``ABORTED``. An id that was never scheduled
reads ``CANCELED_OR_NOT_EXISTING``, as in Lightly's client.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class DockerRunState(StrEnum):
    """Lightly's ``DockerRunState`` (the states this runner passes through are marked)."""

    STARTED = "STARTED"  # picked up by the local worker
    INITIALIZING = "INITIALIZING"  # checking the config and the datasources
    LOADING_DATASET = "LOADING_DATASET"  # stage discover
    LOADING_METADATA = "LOADING_METADATA"
    LOADING_PREDICTION = "LOADING_PREDICTION"
    CHECKING_CORRUPTNESS = "CHECKING_CORRUPTNESS"  # stage inspect
    INITIALIZING_OBJECT_CROPS = "INITIALIZING_OBJECT_CROPS"
    COMPUTING_METADATA = "COMPUTING_METADATA"
    TRAINING = "TRAINING"
    EMBEDDING = "EMBEDDING"  # stage embed
    EMBEDDING_OBJECT_CROPS = "EMBEDDING_OBJECT_CROPS"
    PRETAGGING = "PRETAGGING"
    COMPUTING_ACTIVE_LEARNING_SCORES = "COMPUTING_ACTIVE_LEARNING_SCORES"
    SAMPLING = "SAMPLING"  # stage select
    EMBEDDING_FULL_IMAGES = "EMBEDDING_FULL_IMAGES"
    SAVING_RESULTS = "SAVING_RESULTS"  # stages thumbnails, artifacts
    UPLOADING_DATASET = "UPLOADING_DATASET"
    GENERATING_REPORT = "GENERATING_REPORT"  # stage report
    UPLOADING_REPORT = "UPLOADING_REPORT"
    UPLOADED_REPORT = "UPLOADED_REPORT"
    UPLOADING_ARTIFACTS = "UPLOADING_ARTIFACTS"
    UPLOADED_ARTIFACTS = "UPLOADED_ARTIFACTS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CRASHED = "CRASHED"
    ABORTED = "ABORTED"


class DockerRunScheduledState(StrEnum):
    """Lightly's ``DockerRunScheduledState``."""

    OPEN = "OPEN"  # waiting in the local worker's queue
    LOCKED = "LOCKED"  # being run
    DONE = "DONE"  # the run ended (whatever its state)
    CANCELED = "CANCELED"


class DockerRunScheduledPriority(StrEnum):
    """Lightly's ``DockerRunScheduledPriority``: the local worker takes higher ones first."""

    LOW = "LOW"
    MID = "MID"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


STATE_SCHEDULED_ID_NOT_FOUND = "CANCELED_OR_NOT_EXISTING"
END_STATES = frozenset(
    {
        DockerRunState.COMPLETED,
        DockerRunState.ABORTED,
        DockerRunState.FAILED,
        DockerRunState.CRASHED,
        STATE_SCHEDULED_ID_NOT_FOUND,
    }
)

# The pipeline's stages (``StageClock.stage`` names) as Lightly's states.
STAGE_STATES: dict[str, DockerRunState] = {
    "discover": DockerRunState.LOADING_DATASET,
    "inspect": DockerRunState.CHECKING_CORRUPTNESS,
    "embed": DockerRunState.EMBEDDING,
    "select": DockerRunState.SAMPLING,
    "thumbnails": DockerRunState.SAVING_RESULTS,
    "artifacts": DockerRunState.SAVING_RESULTS,
    "report": DockerRunState.GENERATING_REPORT,
}


@dataclass(frozen=True)
class ComputeWorkerRunInfo:
    """Lightly's ``ComputeWorkerRunInfo``: the state of a scheduled run and its last message."""

    state: str
    message: str

    def in_end_state(self) -> bool:
        """Whether the run has ended (completed, failed, crashed, aborted, or unknown id)."""
        return self.state in END_STATES

    def ended_successfully(self) -> bool:
        """Whether the run completed.

        Raises:
            ValueError: The run is still in progress (as Lightly's).
        """
        if not self.in_end_state():
            raise ValueError("Lightly Worker run is still in progress.")
        return self.state == DockerRunState.COMPLETED
